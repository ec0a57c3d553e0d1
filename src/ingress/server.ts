/**
 * The HTTP API (paths and status codes are a contract: see the README).
 * Built on Fastify; tests drive it in-process with `app.inject()` and end to
 * end over a real socket.
 */
import { isUtf8 } from "node:buffer";
import { createHash, timingSafeEqual } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { Webhook } from "standardwebhooks";
import { z } from "zod";
import type { SignalReply } from "../../governors/decide.ts";
import { bearerDigest, scopeOfDigest, type Scope } from "../credentials.ts";
import { bytesToHex, hexToBytes } from "../ledger/hash.ts";
import { JSON_LIMITS, JsonViolationKind, scanJson } from "../ledger/json-limits.ts";
import { inclusionProof, merkleRoot } from "../ledger/merkle.ts";
import { accountIdPattern, PLATFORM_LEDGER, type LedgerId } from "../ledger/receipt.ts";
import { MAX_POLICY_BYTES } from "../policy/schema.ts";
import { Marketplace, MarketplaceEvent, ref } from "../runtime/marketplace.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { ApiError, ApiErrorCode } from "./api-error.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { SignalBody } from "./signal-body.ts";
import { authTenantToken, registerTenantTokenRoutes } from "./tenant-tokens.ts";

declare module "fastify" {
  interface FastifyRequest {
    rawBody?: string;
    scope?: Scope;
  }
}

/** Health facts for /readyz and /v1/status. */
export interface HealthView {
  readonly degraded: boolean;
  readonly store: string;
  readonly details?: Record<string, unknown>;
}

export interface ServerOptions {
  readonly health?: () => HealthView;
  /** The marketplace workflows, shared with other ingresses (a Pub/Sub procurement subscription). */
  readonly marketplace?: Marketplace;
}


/** The answer to each JSON bound a body breaks: 400 and its own code. */
const bodyLimitCode: Record<JsonViolationKind, string> = {
  [JsonViolationKind.tooDeep]: ApiErrorCode.bodyTooDeep,
  [JsonViolationKind.tooManyMembers]: ApiErrorCode.bodyTooManyMembers,
  [JsonViolationKind.stringTooLong]: ApiErrorCode.bodyStringTooLong,
  [JsonViolationKind.numberOutOfRange]: ApiErrorCode.bodyNumberOutOfRange,
  [JsonViolationKind.duplicateMember]: ApiErrorCode.bodyDuplicateMember,
  [JsonViolationKind.numberNotCanonical]: ApiErrorCode.bodyJson,
};

function zodMessage(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join(".") : "body"}: ${i.message}`)
    .join("; ");
}

/** Builds the Fastify app around a started runtime. */
export function buildServer(rt: Runtime, logger: Logger, options: ServerOptions = {}): { app: FastifyInstance; metrics: Metrics } {
  const health: () => HealthView =
    options.health ??
    (() => {
      const h = rt.health.state();
      return {
        degraded: h.degraded,
        store: h.store,
        details: {
          health: {
            consecutive_failures: h.consecutiveFailures,
            last_probe_at: h.lastProbeAt,
            last_probe_ms: h.lastProbeMs,
            last_error: h.lastError,
            safe_mode_since: h.degradedSince,
            actions_refused: h.actionsRefused,
          },
        },
      };
    });
  const metrics = createMetrics({
    governorsByState: () => {
      const counts: Record<string, number> = {};
      for (const a of rt.host.accounts()) {
        const s = rt.host.status(a)?.state ?? "unknown";
        counts[s] = (counts[s] ?? 0) + 1;
      }
      return counts;
    },
    safeMode: () => health().degraded,
  });
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: rt.config.bodyLimitBytes,
    return503OnClosing: true,
    // Above the longest account id (128), so that one is addressable and a longer one gets our 400, not the router's 414.
    maxParamLength: 512,
    // Errors the router raises before a route runs (a malformed or over-long URL) answer in the API's own format.
    frameworkErrors: (err, _req, reply) => {
      const tooLong = err.code === "FST_ERR_MAX_PARAM_LENGTH";
      metrics.httpErrors.inc({ code: ApiErrorCode.queryInvalid });
      void (reply as FastifyReply)
        .status(tooLong ? 414 : 400)
        .send({ error: { code: ApiErrorCode.queryInvalid, message: tooLong ? "a path segment is longer than 512 characters" : "the URL cannot be decoded; percent-encode it properly" } });
    },
  });
  const marketplace = options.marketplace ?? new Marketplace(rt);
  // Labelled children, looked up once per outcome rather than on every signal.
  const byOutcome = new Map<string, { count: { inc(): void }; latency: { observe(v: number): void } }>();
  const outcomeMetrics = (outcome: string) => {
    let m = byOutcome.get(outcome);
    if (m === undefined) {
      m = { count: metrics.signals.labels({ outcome }), latency: metrics.signalLatency.labels({ outcome }) };
      byOutcome.set(outcome, m);
    }
    return m;
  };

  app.removeAllContentTypeParsers();
  // Every body on every route is bounded here, before anything hashes, canonicalizes or decides
  // on it: UTF-8 (RFC 8259 §8.1), then the JSON limits (src/ledger/json-limits.ts), then parsed.
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (req, body, done) => {
    const bytes = body as Buffer;
    if (bytes.length === 0) {
      done(new ApiError(400, ApiErrorCode.bodyJson, "the body is empty; send a JSON object"), undefined);
      return;
    }
    if (!isUtf8(bytes)) {
      done(new ApiError(400, ApiErrorCode.bodyJson, "the body is not valid UTF-8; JSON text must be UTF-8"), undefined);
      return;
    }
    const text = bytes.toString("utf8");
    req.rawBody = text;
    const violation = scanJson(text, JSON_LIMITS);
    if (violation !== null) {
      done(new ApiError(400, bodyLimitCode[violation.kind], `the body is refused: ${violation.message}`), undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new ApiError(400, ApiErrorCode.bodyJson, `the body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    let apiError: ApiError;
    if (err instanceof ApiError) apiError = err;
    else if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      const limit = req.routeOptions.bodyLimit ?? rt.config.bodyLimitBytes;
      const which = req.routeOptions.url === "/v1/policies" ? "the policy document limit" : "GOVERNOR_BODY_LIMIT_BYTES";
      apiError = new ApiError(413, ApiErrorCode.bodyTooLarge, `the body is larger than ${limit} bytes (${which})`);
    } else if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      apiError = new ApiError(415, ApiErrorCode.bodyMediaType, "send the body as application/json");
    } else if (err.code === "FST_ERR_CTP_EMPTY_JSON_BODY") {
      apiError = new ApiError(400, ApiErrorCode.bodyJson, "the body is empty; send a JSON object");
    } else if (err.code === "LEDGER_CHAIN_BROKEN") {
      // The stored chain does not link: nothing is signed over it (the log and the tenant's quarantine have the details).
      req.log.error({ err }, "a ledger read for this request does not link");
      apiError = new ApiError(409, "LEDGER_CHAIN_BROKEN", `${err.message.slice(0, 300)}; nothing is signed or exported over a chain that does not link`);
    } else if (typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500) {
      apiError = new ApiError(err.statusCode, ApiErrorCode.bodyInvalid, err.message);
    } else {
      req.log.error({ err }, "request failed");
      apiError = new ApiError(500, ApiErrorCode.internal, "the request failed inside Governor; the log has the details");
    }
    metrics.httpErrors.inc({ code: apiError.code });
    if (apiError.status < 500) req.log.info({ code: apiError.code, status: apiError.status }, apiError.message);
    void reply.status(apiError.status).headers(apiError.headers).send({ error: { code: apiError.code, message: apiError.message } });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: ApiErrorCode.notFound, message: `no route ${req.method} ${req.url.split("?")[0]}` } });
  });

  /**
   * Requires a bearer token of one of the scopes (admin always passes). A
   * tenant token passes a `tenant` route of its own tenant only (`tenant-tokens.ts`).
   */
  const auth =
    (...allowed: Scope[]) =>
    async (req: FastifyRequest): Promise<void> => {
      const header = req.headers.authorization;
      if (header === undefined) throw new ApiError(401, ApiErrorCode.authMissing, "send Authorization: Bearer <token>", { "www-authenticate": "Bearer" });
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (match === null) throw new ApiError(401, ApiErrorCode.authMissing, "the Authorization header must be 'Bearer <token>'", { "www-authenticate": "Bearer" });
      // One digest of the presented token serves both lookups: platform scopes, then tenant tokens.
      const digest = bearerDigest(match[1]!);
      const scope = scopeOfDigest(rt.credentials, digest);
      if (scope === null) return authTenantToken(rt, req, digest, allowed);
      if (scope !== "admin" && !allowed.includes(scope)) {
        throw new ApiError(403, ApiErrorCode.authScope, `this needs a token with scope ${["admin", ...allowed].join(" or ")}; yours has ${scope}`);
      }
      req.scope = scope;
    };

  const accountParam = (req: FastifyRequest, allowPlatform: boolean): LedgerId => {
    const account = (req.params as { account: string }).account;
    if (allowPlatform && account === PLATFORM_LEDGER) return account as LedgerId;
    if (!accountIdPattern.test(account)) {
      throw new ApiError(400, ApiErrorCode.queryInvalid, `"${account.slice(0, 64)}" is not an account id (letters, digits, '.', '_', '-'; max 128)`);
    }
    return account as LedgerId;
  };

  const knownLedger = (ledger: LedgerId): void => {
    if (ledger === PLATFORM_LEDGER) return;
    if (!rt.host.has(ledger)) throw new ApiError(404, ApiErrorCode.tenantUnknown, `no tenant "${ledger}" is provisioned here`);
  };

  // ---- marketplace --------------------------------------------------------

  const webhooks = rt.credentials.webhookSecrets.map((s) => new Webhook(s));
  app.post("/v1/marketplace/events", async (req, reply) => {
    const id = header(req, "webhook-id");
    const ts = header(req, "webhook-timestamp");
    const sig = header(req, "webhook-signature");
    if (id === undefined || ts === undefined || sig === undefined) {
      throw new ApiError(401, ApiErrorCode.webhookHeaders, "send the Standard Webhooks headers webhook-id, webhook-timestamp and webhook-signature");
    }
    if (id.length > 256) throw new ApiError(400, "WEBHOOK_ID_INVALID", `webhook-id has ${id.length} characters; at most 256 are accepted`);
    const seconds = /^\d{1,12}$/.test(ts) ? Number(ts) : Number.NaN;
    if (!Number.isFinite(seconds)) throw new ApiError(401, ApiErrorCode.webhookSignature, "webhook-timestamp must be integer seconds since the epoch");
    const skew = Math.floor(rt.clock.now() / 1000) - seconds;
    const tolerance = rt.config.webhookToleranceS;
    if (skew > tolerance) throw new ApiError(401, ApiErrorCode.webhookExpired, `webhook-timestamp is ${skew} s old; the limit is ${tolerance} s`);
    if (-skew > tolerance) throw new ApiError(401, ApiErrorCode.webhookFuture, `webhook-timestamp is ${-skew} s in the future; the limit is ${tolerance} s`);
    const raw = req.rawBody ?? "";
    // Signed with the library's own scheme, compared in constant time against every active secret (rotation).
    const presented = sig.split(" ").flatMap((p) => (p.startsWith("v1,") ? [p.slice(3)] : []));
    const valid = webhooks.some((w) => {
      const expected = w.sign(id, new Date(seconds * 1000), raw).split(",")[1] ?? "";
      return presented.some((p) => constantTimeEqual(p, expected));
    });
    if (!valid) throw new ApiError(401, ApiErrorCode.webhookSignature, "no webhook-signature matches an active webhook secret");
    const parsed = MarketplaceEvent.safeParse(req.body);
    if (!parsed.success) throw new ApiError(400, ApiErrorCode.bodyInvalid, zodMessage(parsed.error));
    const outcome = await marketplace.handle({ source: "webhook", id, sentAt: seconds * 1000 }, parsed.data);
    metrics.marketplaceEvents.inc({ type: parsed.data.eventType, status: String(outcome.status) });
    if ("code" in outcome) {
      throw new ApiError(outcome.status, outcome.code, outcome.message, outcome.retryAfterS === undefined ? {} : { "retry-after": String(outcome.retryAfterS) });
    }
    return reply.status(outcome.status).send(outcome.body);
  });

  // ---- tenants: signals ---------------------------------------------------

  // Checked on request, before the body is read: another tenant's token is refused before anything about this tenant is looked at.
  app.post("/v1/tenants/:account/signals", { onRequest: auth("tenant") }, async (req, reply) => {
    const started = performance.now();
    const account = accountParam(req, false);
    if (!rt.accepting) throw new ApiError(503, ApiErrorCode.shuttingDown, "Governor is not taking signals right now; retry shortly", { "retry-after": "5" });
    const parsed = SignalBody.safeParse(req.body);
    if (!parsed.success) throw new ApiError(400, ApiErrorCode.bodyInvalid, zodMessage(parsed.error));
    knownLedger(account);
    const body = parsed.data;
    const paramsBytes = Buffer.byteLength(JSON.stringify(body.params));
    const answer = await rt.signal(account, body, paramsBytes);
    const outcome = outcomeOf(answer);
    const m = outcomeMetrics(outcome);
    m.count.inc();
    m.latency.observe((performance.now() - started) / 1000);
    return sendSignalReply(reply, body.signal_id, answer, rt.config.retryAfterS);
  });

  // ---- tenants: tokens (operator) -----------------------------------------

  registerTenantTokenRoutes(app, rt, { auth, accountParam: (req) => accountParam(req, false) });

  // ---- tenants: operator --------------------------------------------------

  app.get("/v1/tenants/:account", { preHandler: auth("operator") }, async (req) => {
    const account = accountParam(req, false);
    const s = rt.host.status(account);
    if (s === undefined) throw new ApiError(404, ApiErrorCode.tenantUnknown, `no tenant "${account}" is provisioned here`);
    const h = health();
    const available = s.state === "active" && !h.degraded && rt.accepting;
    const quarantine = s.quarantine === undefined ? {} : { quarantine: s.quarantine };
    return {
      account_id: s.account,
      availability: available ? "available" : "unavailable",
      ...(available ? {} : { unavailable_reason: h.degraded ? "safe_mode" : !rt.accepting ? "shutting_down" : s.state }),
      state: s.state,
      mode: h.degraded || s.state === "degraded" ? "safe_mode" : "normal",
      sku_id: s.sku_id,
      plan: s.plan,
      policy_version: s.policy_version,
      concurrency: s.concurrency,
      in_flight: s.in_flight,
      queue_depth: s.queue_depth,
      oldest_wait_ms: s.oldest_wait_ms,
      last_success_at: s.last_success_at,
      ledger_size: s.ledger_size,
      ...quarantine,
    };
  });

  app.post("/v1/tenants/:account/rebuild", { preHandler: auth("operator") }, async (req) => {
    const account = accountParam(req, false);
    if (!rt.host.isQuarantined(account)) {
      knownLedger(account);
      throw new ApiError(409, ApiErrorCode.tenantNotQuarantined, `tenant "${account}" is in service; only a quarantined tenant is rebuilt`);
    }
    try {
      await rt.host.restore(account, "operator");
    } catch (err) {
      throw new ApiError(409, ApiErrorCode.tenantRebuildFailed, `tenant "${account}" could not be rebuilt from its ledger and stays out of service: ${(err as Error).message.slice(0, 300)}`);
    }
    return { account_id: account, restored: true, state: rt.host.status(account)?.state ?? null };
  });

  const ScaleBody = z.strictObject({ concurrency: z.number().int().min(1).max(10_000) });
  app.post("/v1/tenants/:account/scale", { preHandler: auth("operator") }, async (req, reply) => {
    const account = accountParam(req, false);
    const parsed = ScaleBody.safeParse(req.body);
    if (!parsed.success) throw new ApiError(400, ApiErrorCode.bodyInvalid, `${zodMessage(parsed.error)} (send {"concurrency": N}, N from 1 to 10000)`);
    knownLedger(account);
    if (rt.health.degraded) {
      throw new ApiError(503, ApiErrorCode.safeMode, "Governor is in safe mode (its ledger store is failing): nothing was scaled; retry later", { "retry-after": String(rt.config.retryAfterS) });
    }
    const before = rt.host.status(account);
    const { state, receipt } = await rt.host.scale(account, parsed.data.concurrency, "operator");
    if (state !== "active") throw new ApiError(409, ApiErrorCode.tenantUnavailable, `the tenant is ${state}; only an active tenant can be scaled`);
    if (receipt === null) return reply.status(200).send({ account_id: account, concurrency: before?.concurrency ?? parsed.data.concurrency, unchanged: true });
    if (receipt.operation === "quota_exceeded") {
      return reply.status(422).send({
        error: {
          code: "QUOTA_EXCEEDED",
          message: `concurrency ${receipt.requested} is over the plan's maximum of ${receipt.limit}; nothing changed (a plan change raises the maximum)`,
        },
        receipt: ref(receipt),
      });
    }
    if (receipt.operation !== "governor_scaled") throw new ApiError(500, ApiErrorCode.internal, "unexpected scale outcome");
    return reply.status(200).send({
      account_id: account,
      previous_concurrency: receipt.previous_concurrency,
      concurrency: receipt.concurrency,
      cost_delta_usd: receipt.cost_delta_usd,
      receipt: ref(receipt),
    });
  });

  // ---- tenants: auditor ---------------------------------------------------

  const ReceiptsQuery = z.object({
    from: z.coerce.number().int().min(0).default(0),
    limit: z.coerce.number().int().min(1).max(10_000).default(1000),
  });
  app.get("/v1/tenants/:account/receipts", { preHandler: auth("auditor") }, async (req, reply) => {
    const ledger = accountParam(req, true);
    const q = ReceiptsQuery.safeParse(req.query);
    if (!q.success) throw new ApiError(400, ApiErrorCode.queryInvalid, zodMessage(q.error));
    await ensureLedger(ledger);
    const receipts = await rt.store.read(ledger, q.data.from, q.data.limit);
    const size = rt.writer.isOpen(ledger) ? rt.writer.durableSize(ledger) : (await rt.store.head(ledger)).size;
    return reply
      .header("content-type", "application/x-ndjson; charset=utf-8")
      .header("x-ledger-size", String(size))
      .send(receipts.map((r) => `${JSON.stringify(r)}\n`).join(""));
  });

  app.get("/v1/tenants/:account/checkpoint", { preHandler: auth("auditor") }, async (req, reply) => {
    const ledger = accountParam(req, true);
    await ensureLedger(ledger);
    const cp = await rt.store.latestCheckpoint(ledger);
    if (cp === null) throw new ApiError(404, ApiErrorCode.notFound, `ledger ${ledger} has no checkpoint yet`);
    return reply.header("content-type", "text/plain; charset=utf-8").header("x-tree-size", String(cp.size)).send(cp.note);
  });

  const ProofQuery = z.object({ seq: z.coerce.number().int().min(0), size: z.coerce.number().int().min(1).optional() });
  app.get("/v1/tenants/:account/proof", { preHandler: auth("auditor") }, async (req) => {
    const ledger = accountParam(req, true);
    const q = ProofQuery.safeParse(req.query);
    if (!q.success) throw new ApiError(400, ApiErrorCode.queryInvalid, `${zodMessage(q.error)} (use ?seq=N[&size=M])`);
    await ensureLedger(ledger);
    const cp = await rt.store.latestCheckpoint(ledger);
    const durable = rt.writer.isOpen(ledger) ? rt.writer.durableSize(ledger) : (await rt.store.head(ledger)).size;
    const size = q.data.size ?? cp?.size ?? durable;
    if (size > durable) throw new ApiError(400, ApiErrorCode.queryInvalid, `size ${size} is beyond the ledger (${durable} receipts)`);
    if (q.data.seq >= size) throw new ApiError(400, ApiErrorCode.queryInvalid, `seq ${q.data.seq} is not in a tree of size ${size}`);
    const hashes = (await rt.store.readHashes(ledger, 0, size)).map(hexToBytes);
    const proof = inclusionProof(hashes, q.data.seq, size);
    const root = merkleRoot(hashes);
    return {
      leaf_index: q.data.seq,
      tree_size: size,
      leaf_hash: bytesToHex(hashes[q.data.seq]!),
      root: Buffer.from(root).toString("base64"),
      hashes: proof.map((h) => Buffer.from(h).toString("base64")),
      checkpoint: cp !== null && cp.size === size ? cp.note : null,
    };
  });

  app.get("/v1/tenants/:account/export", { preHandler: auth("auditor") }, async (req, reply) => {
    const ledger = accountParam(req, true);
    await ensureLedger(ledger);
    const dir = await mkdtemp(join(tmpdir(), "governor-export-"));
    const file = join(dir, `${ledger}.tar.gz`);
    try {
      const result = await rt.exportTo(ledger, file);
      const stream = createReadStream(file);
      stream.on("close", () => void rm(dir, { recursive: true, force: true }));
      return reply
        .header("content-type", "application/gzip")
        .header("content-disposition", `attachment; filename="${ledger}-${result.size}.tar.gz"`)
        .header("x-archive-sha256", result.sha256)
        .send(stream);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  });

  async function ensureLedger(ledger: LedgerId): Promise<void> {
    if (ledger === PLATFORM_LEDGER || rt.host.has(ledger)) return;
    const head = await rt.store.head(ledger);
    if (head.size === 0) throw new ApiError(404, ApiErrorCode.tenantUnknown, `no ledger "${ledger}" exists here`);
  }

  // ---- policies (GitOps) --------------------------------------------------

  const flag = z.enum(["true", "false", "1", "0", ""]).optional().transform((v) => v === "true" || v === "1" || v === "");
  const PushQuery = z.strictObject({ force: flag, dry_run: flag, new_sku: flag });
  const actorPattern = /^[A-Za-z0-9][A-Za-z0-9 ._@:/+-]{0,127}$/;
  app.post("/v1/policies", { preHandler: auth("gitops"), bodyLimit: MAX_POLICY_BYTES }, async (req, reply) => {
    const q = PushQuery.safeParse(req.query);
    if (!q.success) throw new ApiError(400, ApiErrorCode.queryInvalid, `${zodMessage(q.error)} (use ?force=true, ?dry_run=true, ?new_sku=true)`);
    const actor = header(req, "x-governor-actor");
    if (actor !== undefined && !actorPattern.test(actor)) {
      throw new ApiError(400, ApiErrorCode.queryInvalid, "x-governor-actor must be 1-128 printable characters naming who pushes (e.g. a pipeline or a user)");
    }
    const by = `${req.scope ?? "gitops"} token${actor === undefined ? "" : ` (${actor})`}`;
    const result = await rt.policies.push(req.body, { force: q.data.force, dryRun: q.data.dry_run, allowNewSku: q.data.new_sku, by });
    switch (result.kind) {
      case "invalid":
        return reply.status(result.code === "POLICY_UNKNOWN_SKU" ? 404 : 400).send({
          error: {
            code: result.code,
            message: result.issues.map((i) => `${i.path}: ${i.message}`).slice(0, 10).join("; "),
            issues: result.issues,
          },
          ...(result.receipt === null ? {} : { receipt: ref(result.receipt) }),
        });
      case "incompatible":
        return reply.status(409).send({
          error: {
            code: result.immutable ? "POLICY_VERSION_CONFLICT" : "POLICY_INCOMPATIBLE",
            message: result.immutable
              ? `${result.reasons.join("; ")}`
              : `not applied, nothing changed: ${result.reasons.join("; ")}; fix the policy, or push with --force (?force=true) to apply it anyway`,
            reasons: result.reasons,
          },
          receipt: ref(result.receipt),
        });
      case "unchanged":
        return reply.status(200).send({ status: "unchanged", sku_id: result.sku_id, policy_version: result.policy_version });
      case "dry_run":
        return reply.status(200).send({ status: "dry_run", compatible: result.compatible, reasons: result.reasons, diff: result.diff, compat_check_ms: result.compat_check_ms });
      case "applied":
        return reply.status(200).send({
          status: "applied",
          sku_id: result.sku_id,
          previous_version: result.previous_version,
          policy_version: result.policy_version,
          forced: result.forced,
          reasons_overridden: result.reasons_overridden,
          governors: result.governors,
          compat_check_ms: result.compat_check_ms,
          broadcast_ms: result.broadcast_ms,
        });
    }
  });

  app.get("/v1/policies", { preHandler: auth("gitops", "operator") }, async () => ({
    policies: rt.catalog.skus().map((sku) => ({ sku_id: sku, policy_version: rt.catalog.current(sku)?.version ?? null, versions: rt.catalog.versions(sku).sort() })),
  }));

  app.get("/v1/policies/:sku", { preHandler: auth("gitops", "operator") }, async (req) => {
    const sku = (req.params as { sku: string }).sku;
    const doc = rt.catalog.currentDocument(sku);
    if (doc === undefined) throw new ApiError(404, "POLICY_UNKNOWN_SKU", `no policy exists for SKU "${sku.slice(0, 64)}" here`);
    return doc;
  });

  // ---- platform -----------------------------------------------------------

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    const h = health();
    const ready = rt.accepting && !h.degraded;
    return reply.status(ready ? 200 : 503).send({ ready, safe_mode: h.degraded, accepting: rt.accepting, store: h.store });
  });
  app.get("/v1/status", { preHandler: auth("operator") }, async () => {
    const h = health();
    const states: Record<string, number> = {};
    for (const a of rt.host.accounts()) {
      const s = rt.host.status(a)?.state ?? "unknown";
      states[s] = (states[s] ?? 0) + 1;
    }
    return {
      status: h.degraded ? "degraded" : "ok",
      safe_mode: h.degraded,
      accepting: rt.accepting,
      store: h.store,
      backend: rt.config.backend,
      governors: states,
      policies: rt.catalog.skus().map((sku) => ({ sku_id: sku, policy_version: rt.catalog.current(sku)?.version ?? null })),
      ...h.details,
    };
  });
  app.get("/metrics", async (_req, reply) => reply.header("content-type", metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get("/.well-known/governor/keys", async (_req, reply) =>
    reply.header("content-type", "text/plain; charset=utf-8").send(rt.credentials.signers.map((s) => `${s.verifierKey}\n`).join("")),
  );

  return { app, metrics };
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

function outcomeOf(r: SignalReply): string {
  switch (r.kind) {
    case "accepted":
      return r.state === "running" ? "started" : "queued";
    case "duplicate":
      return "duplicate";
    case "refused":
      return `refused_${r.code}`;
    case "unavailable":
      return `unavailable_${r.reason}`;
  }
}

const refusalStatus: Record<string, number> = {
  unknown_action: 400,
  invalid_params: 400,
  params_too_large: 400,
  not_permitted: 403,
  quota_exhausted: 429,
};

function sendSignalReply(reply: FastifyReply, signalId: string, r: SignalReply, retryAfterS: number) {
  switch (r.kind) {
    case "accepted":
      return reply.status(202).send({ signal_id: signalId, action_id: r.actionId, state: r.state });
    case "duplicate":
      return reply.status(200).send({ signal_id: signalId, duplicate: true, action_id: r.outcome.actionId, state: r.outcome.state, ...(r.outcome.code ? { code: r.outcome.code } : {}) });
    case "refused":
      throw new ApiError(refusalStatus[r.code] ?? 400, `SIGNAL_${r.code.toUpperCase()}`, r.reason);
    case "unavailable":
      if (r.reason === "degraded") {
        throw new ApiError(503, ApiErrorCode.safeMode, "Governor is in safe mode (its ledger store is failing): no action is taken; retry later", { "retry-after": String(retryAfterS) });
      }
      if (r.reason === "not_provisioned") throw new ApiError(404, ApiErrorCode.tenantUnknown, "the tenant is not provisioned");
      if (r.reason === "quarantined") {
        throw new ApiError(503, ApiErrorCode.tenantQuarantined, "the tenant is out of service: its governor failed and is being rebuilt from its ledger, or waits for an operator; retry later", {
          "retry-after": String(retryAfterS),
        });
      }
      if (r.reason === "not_durable") {
        throw new ApiError(503, ApiErrorCode.signalNotDurable, "the signal's receipt could not be made durable in time (the ledger store is slow or failing); retry with the same signal_id: a repeat returns this signal's outcome", {
          "retry-after": String(retryAfterS),
        });
      }
      if (r.reason === "decommissioning") {
        throw new ApiError(503, ApiErrorCode.tenantUnavailable, "the tenant is being cancelled: it takes no new signals", { "retry-after": String(retryAfterS) });
      }
      throw new ApiError(409, ApiErrorCode.tenantUnavailable, `the tenant is ${r.reason}; it takes no signals`);
  }
}
