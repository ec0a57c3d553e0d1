/** `POST /v1/tenants/{account}/signals`: a tenant's signal, answered once its receipt is durable. */
import type { FastifyInstance, FastifyReply } from "fastify";
import type { SignalReply } from "../../app/governor-service.ts";
import { parseSignalBody } from "../signal-body.ts";
import type { RouteContext } from "./context.ts";
import { ApiError, ApiErrorCode, zodMessage } from "./errors.ts";
import { accountParam, unknownTenant } from "./params.ts";

export function registerSignalRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { service, metrics, auth } = ctx;
  const retryAfter = String(ctx.settings.retryAfterS);
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

  // Checked on request, before the body is read: another tenant's token is refused before anything about this tenant is looked at.
  // A service that is not accepting, and a tenant not here, are answered before the body's schema is
  // judged, as intake would answer them (it judges them again: either may change while the body is read).
  app.post("/v1/tenants/:account/signals", { onRequest: auth("tenant") }, async (req, reply) => {
    const started = performance.now();
    const account = accountParam(req);
    if (!service.accepting) throw shuttingDown();
    const parsed = parseSignalBody(req.body);
    if (!parsed.success) throw new ApiError(400, ApiErrorCode.bodyInvalid, zodMessage(parsed.error));
    if (!service.hasTenant(account)) throw unknownTenant(account);
    const body = parsed.data;
    const answer = await service.signal(account, body);
    const m = outcomeMetrics(outcomeOf(answer));
    m.count.inc();
    m.latency.observe((performance.now() - started) / 1000);
    return sendSignalReply(reply, account, body.signal_id, answer, retryAfter);
  });
}

const shuttingDown = () => new ApiError(503, ApiErrorCode.shuttingDown, "Governor is not taking signals right now; retry shortly", { "retry-after": "5" });

/** The outcome label of a reply, for metrics. */
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
    case "not_accepting":
      return "unavailable_shutting_down";
    case "unknown_tenant":
      return "unavailable_unknown_tenant";
  }
}

const refusalStatus: Record<string, number> = {
  unknown_action: 400,
  invalid_params: 400,
  params_too_large: 400,
  not_permitted: 403,
  quota_exhausted: 429,
};

function sendSignalReply(reply: FastifyReply, account: string, signalId: string, r: SignalReply, retryAfter: string) {
  switch (r.kind) {
    case "accepted":
      return reply.status(202).send({ signal_id: signalId, action_id: r.actionId, state: r.state });
    case "duplicate":
      return reply.status(200).send({ signal_id: signalId, duplicate: true, action_id: r.outcome.actionId, state: r.outcome.state, ...(r.outcome.code ? { code: r.outcome.code } : {}) });
    case "refused":
      throw new ApiError(refusalStatus[r.code] ?? 400, `SIGNAL_${r.code.toUpperCase()}`, r.reason);
    case "unavailable":
      throw unavailable(r.reason, retryAfter);
    case "not_accepting":
      throw shuttingDown();
    case "unknown_tenant":
      throw unknownTenant(account);
  }
}

/** The answer to a signal the tenant cannot take now. */
function unavailable(reason: Extract<SignalReply, { kind: "unavailable" }>["reason"], retryAfter: string): ApiError {
  switch (reason) {
    case "degraded":
      return new ApiError(503, ApiErrorCode.safeMode, "Governor is in safe mode (its ledger store is failing): no action is taken; retry later", { "retry-after": retryAfter });
    case "not_provisioned":
      return new ApiError(404, ApiErrorCode.tenantUnknown, "the tenant is not provisioned");
    case "quarantined":
      return new ApiError(503, ApiErrorCode.tenantQuarantined, "the tenant is out of service: its governor failed and is being rebuilt from its ledger, or waits for an operator; retry later", {
        "retry-after": retryAfter,
      });
    case "not_durable":
      return new ApiError(503, ApiErrorCode.signalNotDurable, "the signal's receipt could not be made durable in time (the ledger store is slow or failing); retry with the same signal_id: a repeat returns this signal's outcome", {
        "retry-after": retryAfter,
      });
    case "suspended":
      return new ApiError(409, ApiErrorCode.tenantSuspended, "the tenant's entitlement is suspended by the marketplace: it takes no signals until it is reinstated");
    case "decommissioning":
      return new ApiError(503, ApiErrorCode.tenantUnavailable, "the tenant is being cancelled: it takes no new signals", { "retry-after": retryAfter });
    default:
      return new ApiError(409, ApiErrorCode.tenantUnavailable, `the tenant is ${reason}; it takes no signals`);
  }
}
