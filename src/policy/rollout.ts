/**
 * Workflow 2, policy upgrade: validate → compatibility check → store the
 * immutable version → broadcast to every running governor of the SKU →
 * each governor decides against its own state (`policy_upgraded` or
 * `policy_rollback`). An incompatible version is not applied
 * (`policy_upgrade_skipped` and an alert) unless forced, and a forced push
 * leaves an escalation receipt naming who forced it.
 *
 * Pushes come from `POST /v1/policies` (GitOps) and, on the embedded
 * default, from edits to the policies directory, which is watched.
 */
import { basename } from "node:path";
import type { Logger } from "pino";
import type { PolicyView } from "../../governors/policy-view.ts";
import { canonicalJson } from "../ledger/canonical.ts";
import { JsonLimitError, parseBoundedJson } from "../ledger/json-limits.ts";
import type { Receipt, ReceiptDraft } from "../ledger/receipt.ts";
import type { AlertSink, PolicyFileRead, PolicyRegistry } from "../ports/index.ts";
import { checkCompatibility, diffPolicies, type PolicyDiff, type TenantPolicyFacts } from "./compat.ts";
import type { PolicyCatalog } from "./registry.ts";
import { MAX_POLICY_BYTES, parsePolicy, PolicyDocument, type PolicyIssue } from "./schema.ts";
import { policyWarnings } from "./warnings.ts";

export interface PolicyRolloutDeps {
  readonly catalog: PolicyCatalog;
  readonly registry: PolicyRegistry;
  /** Names of the action handlers this runtime has. */
  readonly handlerNames: () => Iterable<string>;
  /** The running tenants of a SKU. */
  readonly tenants: (skuId: string) => Iterable<TenantPolicyFacts>;
  /** Offers a version to every governor of its SKU; resolves once their receipts are durable. */
  readonly offer: (policy: PolicyView, forced: boolean) => Promise<{ upgraded: number; rolledBack: number }>;
  /** Records a receipt on the platform ledger; resolves once it is durable. */
  readonly recordPlatform: (draft: ReceiptDraft) => Promise<Receipt>;
  readonly alerts: AlertSink;
  readonly logger: Logger;
}

export interface PushOptions {
  /** Apply even if incompatible (an escalation receipt records it). */
  readonly force?: boolean;
  /** Check and diff only: nothing is stored, applied or recorded. */
  readonly dryRun?: boolean;
  /** Accept a SKU that has no policy yet (otherwise a typo would create a SKU nobody sells). */
  readonly allowNewSku?: boolean;
  /** Who pushed, for receipts and logs (never a secret): e.g. "gitops token (ci-pipeline)". */
  readonly by: string;
}

export type PushResult =
  | { readonly kind: "invalid"; readonly code: "POLICY_INVALID" | "POLICY_UNKNOWN_SKU"; readonly issues: readonly PolicyIssue[]; readonly receipt: Receipt | null }
  | { readonly kind: "unchanged"; readonly sku_id: string; readonly policy_version: string; readonly warnings: readonly PolicyIssue[] }
  | {
      readonly kind: "dry_run";
      readonly diff: PolicyDiff;
      readonly compatible: boolean;
      readonly reasons: readonly string[];
      readonly compat_check_ms: number;
      /** What the policy does that its author probably did not mean (see `policyWarnings`); never a refusal. */
      readonly warnings: readonly PolicyIssue[];
    }
  | {
      readonly kind: "incompatible";
      readonly sku_id: string;
      readonly current_version: string | null;
      readonly attempted_version: string;
      readonly reasons: readonly string[];
      /** True when even --force cannot apply it (a reused version number: versions are immutable). */
      readonly immutable: boolean;
      readonly receipt: Receipt;
      readonly compat_check_ms: number;
    }
  | {
      readonly kind: "applied";
      readonly sku_id: string;
      readonly previous_version: string | null;
      readonly policy_version: string;
      readonly forced: boolean;
      readonly reasons_overridden: readonly string[];
      readonly governors: { readonly upgraded: number; readonly rolled_back: number };
      readonly compat_check_ms: number;
      readonly broadcast_ms: number;
      readonly warnings: readonly PolicyIssue[];
    };

const MAX_ERRORS = 100;

export class PolicyRollout {
  readonly #d: PolicyRolloutDeps;
  /** Pushes run one at a time: each is checked against the outcome of the one before. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(deps: PolicyRolloutDeps) {
    this.#d = deps;
  }

  /** Schema, semantic and runtime checks (a handler this runtime does not have); issues with paths. */
  validate(input: unknown): PolicyValidation {
    return validatePolicy(input, this.#d.handlerNames());
  }

  /** Pushes one policy document (already parsed JSON). */
  push(input: unknown, options: PushOptions): Promise<PushResult> {
    const run = this.#queue.then(() => this.#push(input, options));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #push(input: unknown, options: PushOptions): Promise<PushResult> {
    const d = this.#d;
    const valid = this.validate(input);
    if (!valid.ok) return this.#refuse("POLICY_INVALID", input, valid.issues, options);
    const next = valid.policy;
    const warnings = valid.warnings;
    const current = d.catalog.currentDocument(next.sku_id);
    if (current === undefined && !options.allowNewSku) {
      const issue = {
        path: "sku_id",
        message: `unknown SKU "${next.sku_id}": no policy exists for it here (known: ${d.catalog.skus().join(", ") || "none"}); to add a SKU, push with --new-sku (POST /v1/policies?new_sku=true)`,
      };
      return this.#refuse("POLICY_UNKNOWN_SKU", input, [issue], options);
    }
    const canonical = canonicalJson(next);
    if (current !== undefined && current.policy_version === next.policy_version && d.catalog.canonicalOf(next.sku_id, next.policy_version) === canonical) {
      return { kind: "unchanged", sku_id: next.sku_id, policy_version: next.policy_version, warnings };
    }
    const existing = d.catalog.canonicalOf(next.sku_id, next.policy_version) ?? (await d.registry.get(next.sku_id, next.policy_version)) ?? undefined;

    const t0 = performance.now();
    const tenants = [...d.tenants(next.sku_id)];
    const reasons = checkCompatibility({ current, next, nextCanonical: canonical, existingCanonical: existing, tenants });
    const compatMs = performance.now() - t0;
    const immutable = existing !== undefined && existing !== canonical;

    if (options.dryRun) {
      return { kind: "dry_run", diff: diffPolicies(current, next, tenants), compatible: reasons.length === 0, reasons, compat_check_ms: compatMs, warnings };
    }
    if (reasons.length > 0 && (!options.force || immutable)) {
      const receipt = await d.recordPlatform({
        operation: "policy_upgrade_skipped",
        status: "refused",
        duration_ms: 0,
        sku_id: next.sku_id,
        policy_version: current?.policy_version ?? next.policy_version,
        attempted_version: next.policy_version,
        reasons: reasons.slice(0, MAX_ERRORS).map((r) => r.slice(0, 1024)),
      });
      d.alerts.alert({
        code: "policy_upgrade_skipped",
        message: `policy ${next.sku_id}@${next.policy_version} was not applied: ${reasons.join("; ")}`,
        details: { sku_id: next.sku_id, attempted_version: next.policy_version, by: options.by },
      });
      return {
        kind: "incompatible",
        sku_id: next.sku_id,
        current_version: current?.policy_version ?? null,
        attempted_version: next.policy_version,
        reasons,
        immutable,
        receipt,
        compat_check_ms: compatMs,
      };
    }
    const forced = reasons.length > 0;
    if (forced) {
      await d.recordPlatform({
        operation: "escalation",
        status: "success",
        duration_ms: 0,
        code: "policy_forced",
        reason: `policy ${next.sku_id}@${next.policy_version} applied over: ${reasons.join("; ")}`.slice(0, 1024),
        forced_by: options.by.slice(0, 256),
        policy_version: next.policy_version,
      });
      d.alerts.alert({
        code: "policy_forced",
        message: `policy ${next.sku_id}@${next.policy_version} was forced by ${options.by} over: ${reasons.join("; ")}`,
        details: { sku_id: next.sku_id, policy_version: next.policy_version },
      });
    }
    const stored = await d.registry.put(next.sku_id, next.policy_version, canonical);
    if (stored === "conflict") {
      // Another writer stored this version in the meantime: never overwrite an immutable version.
      return this.#push(input, options);
    }
    await d.registry.setCurrent(next.sku_id, next.policy_version);
    const view = d.catalog.add(next);
    const t1 = performance.now();
    const result = await d.offer(view, forced);
    const broadcastMs = performance.now() - t1;
    d.logger.info(
      { sku_id: next.sku_id, previous_version: current?.policy_version ?? null, policy_version: next.policy_version, forced, by: options.by, ...result, broadcast_ms: Math.round(broadcastMs) },
      "policy applied",
    );
    if (warnings.length > 0) {
      d.logger.warn({ sku_id: next.sku_id, policy_version: next.policy_version, warnings: warnings.map((w) => w.message) }, "policy applied with warnings");
    }
    return {
      kind: "applied",
      sku_id: next.sku_id,
      previous_version: current?.policy_version ?? null,
      policy_version: next.policy_version,
      forced,
      reasons_overridden: forced ? reasons : [],
      governors: { upgraded: result.upgraded, rolled_back: result.rolledBack },
      compat_check_ms: compatMs,
      broadcast_ms: broadcastMs,
      warnings,
    };
  }

  async #refuse(code: "POLICY_INVALID" | "POLICY_UNKNOWN_SKU", input: unknown, issues: readonly PolicyIssue[], options: PushOptions): Promise<PushResult> {
    if (options.dryRun) return { kind: "invalid", code, issues, receipt: null };
    const doc = typeof input === "object" && input !== null ? (input as Record<string, unknown>) : {};
    const sku = typeof doc["sku_id"] === "string" ? doc["sku_id"].slice(0, 256) : undefined;
    const version = typeof doc["policy_version"] === "string" ? doc["policy_version"].slice(0, 256) : undefined;
    const receipt = await this.#d.recordPlatform({
      operation: "policy_validation_failed",
      status: "refused",
      duration_ms: 0,
      ...(sku === undefined ? {} : { sku_id: sku }),
      ...(version === undefined ? {} : { policy_version: version }),
      errors: issues.slice(0, MAX_ERRORS).map((i) => ({ path: i.path.slice(0, 1024), message: i.message.slice(0, 1024) })),
    });
    return { kind: "invalid", code, issues, receipt };
  }

  // ---- the registry and the policies directory ------------------------------

  /** Loads every stored version into the catalog and makes each SKU's recorded current version current. */
  async loadRegistry(): Promise<number> {
    const d = this.#d;
    const listed = await d.registry.list();
    for (const { skuId, version } of listed) {
      const text = await d.registry.get(skuId, version);
      if (text === null) continue;
      const read = parsePolicyText(text);
      const parsed = "issues" in read ? null : PolicyDocument.safeParse(read.json);
      if (parsed === null) {
        d.logger.error({ sku_id: skuId, policy_version: version }, "stored policy version is not a bounded JSON document; tenants on it cannot take signals");
        continue;
      }
      if (!parsed.success) {
        d.logger.error({ sku_id: skuId, policy_version: version }, "stored policy version no longer parses; tenants on it cannot take signals");
        continue;
      }
      d.catalog.add(parsed.data, { makeCurrent: false });
    }
    for (const [sku, version] of await d.registry.currentVersions()) d.catalog.setCurrent(sku, version);
    return listed.length;
  }

  /**
   * Reads the policy files a policy source gave at start. A SKU the registry
   * does not have yet is adopted as it is (nothing runs on it); a file that
   * differs from its SKU's current version is returned to be pushed once the
   * governors run.
   */
  async readFiles(reads: readonly PolicyFileRead[]): Promise<{ adopted: number; toPush: { file: string; json: unknown }[] }> {
    const d = this.#d;
    const toPush: { file: string; json: unknown }[] = [];
    let adopted = 0;
    for (const r of reads) {
      const file = r.file;
      const read = "problem" in r ? { issues: [{ path: "(file)", message: r.problem }] } : parsePolicyText(r.text);
      if ("issues" in read) {
        d.logger.error({ file, issues: read.issues }, "policy file refused: not valid JSON");
        continue;
      }
      const valid = this.validate(read.json);
      if (!valid.ok) {
        d.logger.error({ file, issues: valid.issues }, "policy file refused: it does not validate");
        continue;
      }
      const doc = valid.policy;
      if (d.catalog.currentDocument(doc.sku_id) !== undefined) {
        if (d.catalog.canonicalOf(doc.sku_id, doc.policy_version) !== canonicalJson(doc) || d.catalog.current(doc.sku_id)?.version !== doc.policy_version) {
          toPush.push({ file, json: read.json });
        }
        continue;
      }
      const outcome = await d.registry.put(doc.sku_id, doc.policy_version, canonicalJson(doc));
      if (outcome === "conflict") {
        d.logger.error({ file, sku_id: doc.sku_id, policy_version: doc.policy_version }, "policy file refused: this version is stored with different content; bump policy_version");
        continue;
      }
      await d.registry.setCurrent(doc.sku_id, doc.policy_version);
      d.catalog.add(doc);
      adopted++;
    }
    return { adopted, toPush };
  }

  /** Pushes one policy file, logging the outcome in one clear line. */
  async pushFile(file: string, json: unknown): Promise<PushResult> {
    const result = await this.push(json, { allowNewSku: true, by: `policies directory (${basename(file)})` });
    logPushResult(this.#d.logger, file, result);
    return result;
  }

  /** A policy file changed (the policy source watches and settles it): pushed, or refused with its issues. */
  async fileChanged(changed: PolicyFileRead): Promise<void> {
    const d = this.#d;
    const file = changed.file;
    try {
      const read = "problem" in changed ? { issues: [{ path: "(file)", message: changed.problem }] } : parsePolicyText(changed.text);
      if ("issues" in read) {
        logPushResult(d.logger, file, await this.#refuse("POLICY_INVALID", undefined, read.issues, { by: `policies directory (${basename(file)})` }));
        return;
      }
      await this.pushFile(file, read.json);
    } catch (err) {
      d.logger.error({ file, err }, "policy file could not be pushed");
    }
  }
}

/** A policy that validates, with its warnings (which never refuse it), or what is wrong with it. */
export type PolicyValidation = { ok: true; policy: PolicyDocument; warnings: PolicyIssue[] } | { ok: false; issues: PolicyIssue[] };

/** Validates a policy document and that every handler it names exists. */
export function validatePolicy(input: unknown, handlers: Iterable<string>): PolicyValidation {
  const parsed = parsePolicy(input);
  if (!parsed.ok) return parsed;
  const known = new Set(handlers);
  const issues: PolicyIssue[] = [];
  for (const [name, action] of Object.entries(parsed.policy.actions)) {
    if (!known.has(action.handler)) {
      issues.push({ path: `actions.${name}.handler`, message: `handler "${action.handler}" does not exist here (known: ${[...known].sort().join(", ")})` });
    }
  }
  return issues.length > 0 ? { ok: false, issues } : { ...parsed, warnings: policyWarnings(parsed.policy) };
}

/**
 * Parses a policy document's text within the policy size limit and the JSON
 * limits every edge applies (src/ledger/json-limits.ts); problems come back as issues.
 */
export function parsePolicyText(text: string): { json: unknown } | { issues: PolicyIssue[] } {
  if (Buffer.byteLength(text) > MAX_POLICY_BYTES) return { issues: [{ path: "(document)", message: `a policy document is at most ${MAX_POLICY_BYTES} bytes` }] };
  try {
    return { json: parseBoundedJson(text) };
  } catch (err) {
    return { issues: [{ path: "(document)", message: err instanceof JsonLimitError && err.kind !== "INVALID_JSON" ? `refused: ${err.message}` : (err as Error).message }] };
  }
}

function logPushResult(logger: Logger, file: string, r: PushResult): void {
  const name = basename(file);
  switch (r.kind) {
    case "applied":
      logger.info({ file, sku_id: r.sku_id, policy_version: r.policy_version, governors: r.governors }, `policy file ${name} applied: ${r.sku_id} ${r.previous_version ?? "(new)"} -> ${r.policy_version}`);
      return;
    case "unchanged":
      logger.debug({ file }, `policy file ${name} unchanged`);
      return;
    case "invalid":
      logger.error({ file, code: r.code, issues: r.issues }, `policy file ${name} refused: ${r.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}; nothing changed`);
      return;
    case "incompatible":
      logger.error({ file, reasons: r.reasons }, `policy file ${name} not applied (incompatible): ${r.reasons.join("; ")}; nothing changed`);
      return;
    case "dry_run":
      return;
  }
}
