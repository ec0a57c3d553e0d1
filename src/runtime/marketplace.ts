/**
 * The marketplace lifecycle: provision (workflow 1), plan change, cancel
 * (workflow 6), and a record of every event type Governor does not act on.
 * Event names follow Google Cloud Marketplace's.
 *
 * Each delivery happens once. Its id (the webhook id, or the procurement
 * event's id) is claimed in the delivery log, in the ledger store's backend,
 * before anything is done, and its first outcome is stored there: a repeat,
 * even after a restart, gets that outcome and changes nothing.
 *
 * An event older than the newest one applied to its entitlement (by the
 * entitlement's `updateTime`, else the event's `eventTime`, else when the
 * sender sent it: the webhook timestamp or the Pub/Sub publish time), or
 * that same event again under another delivery id, is recorded on the
 * platform ledger and ignored: a late event never undoes a newer one. The
 * newest event applied per entitlement (its mark) is stored with the
 * outcome that applied it, in one step; the events of one entitlement are
 * handled one at a time here.
 *
 * A claim whose outcome was never stored (the process died mid-provision)
 * is taken over by the next delivery of the id and decided again against the
 * tenant's state, which every workflow checks first (provision by entitlement
 * id, plan change by plan, cancel by state): work already done is not done
 * again. In safe mode every event is refused (503 `SAFE_MODE`) before
 * anything is claimed or created, so its retry runs in full.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { accountIdPattern, type LedgerId, type Receipt } from "../ledger/receipt.ts";
import type { DeliveryLog, EntitlementApplied, EntitlementMark } from "../ports.ts";
import type { Runtime } from "./runtime.ts";

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

/** Epoch ms of an RFC 3339 date-time, or NaN when it is not one (or names no real date, such as February 30). */
export function parseRfc3339(text: string): number {
  const m = RFC3339.exec(text);
  if (m === null) return Number.NaN;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return Number.NaN;
  if (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59) return Number.NaN;
  // Date.parse reads milliseconds; finer digits do not order marketplace events.
  const fraction = m[7] === undefined ? "" : m[7].slice(0, 4);
  return Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${fraction}${m[8]!.toUpperCase()}`);
}

const dateTime = z
  .string()
  .max(40)
  .refine((v) => Number.isFinite(parseRfc3339(v)), "expected an RFC 3339 date-time such as 2026-01-31T12:00:00.000Z");

export const MarketplaceEvent = z.object({
  eventId: z.string().min(1).max(256),
  eventType: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, "expected an event type such as ENTITLEMENT_ACTIVE"),
  /** When the marketplace made the event (RFC 3339). */
  eventTime: dateTime.optional(),
  entitlement: z.object({
    id: z.string().min(1).max(256),
    account_id: z.string().regex(accountIdPattern, "expected an account id: letters, digits, '.', '_', '-' (max 128), starting with a letter or digit"),
    sku_id: z.string().min(1).max(64).optional(),
    plan: z.string().min(1).max(64).optional(),
    region: z.string().max(64).optional(),
    /** When the entitlement last changed (RFC 3339), as Google sends it: orders the events of one entitlement. */
    updateTime: dateTime.optional(),
  }),
});
export type MarketplaceEvent = z.infer<typeof MarketplaceEvent>;

/** One delivery of an event: where it came from, its id there, and when the sender sent it (epoch ms), if known. */
export interface MarketplaceDelivery {
  readonly source: "webhook" | "procurement";
  readonly id: string;
  readonly sentAt?: number;
}

/** Outcome of one event, as the HTTP layer reports it. */
export type MarketplaceOutcome =
  | { readonly status: 200 | 201 | 202; readonly body: Record<string, unknown> }
  | { readonly status: 404 | 409 | 422 | 503; readonly code: string; readonly message: string; readonly retryAfterS?: number };

/** The event types that change an entitlement (and are ordered by its mark). */
const HANDLED = new Set(["ENTITLEMENT_ACTIVE", "ENTITLEMENT_PLAN_CHANGED", "ENTITLEMENT_CANCELLED"]);

/** How long a delivery id is kept: past any replay the timestamp tolerance lets in (a timestamp up to `tolerance` in the future stays acceptable until 2 x tolerance from now), and a day at least. */
export function deliveryRetentionMs(webhookToleranceS: number): number {
  return Math.max(24 * 3600_000, (2 * webhookToleranceS + 3600) * 1000);
}
const PRUNE_EVERY_MS = 10 * 60_000;

export class Marketplace {
  readonly #rt: Runtime;
  readonly #log: DeliveryLog;
  /** This process, as the owner of the claims it makes. */
  readonly #owner = randomUUID();
  /** Deliveries under way here: a concurrent repeat shares the first one's outcome. */
  readonly #inflight = new Map<string, Promise<MarketplaceOutcome>>();
  /** Per entitlement, the tail of the events being handled: one at a time, so their order is decided once. */
  readonly #turns = new Map<string, Promise<void>>();
  #prunedAt = Number.NEGATIVE_INFINITY;

  constructor(runtime: Runtime) {
    this.#rt = runtime;
    this.#log = runtime.deliveries;
  }

  /** Handles an event once per delivery id (the webhook id, or the procurement event's id). */
  handle(delivery: MarketplaceDelivery, event: MarketplaceEvent): Promise<MarketplaceOutcome> {
    const key = `${delivery.source}:${delivery.id}`;
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    if (this.#rt.health.degraded) {
      return Promise.resolve({
        status: 503,
        code: "SAFE_MODE",
        message: "Governor is in safe mode (its ledger store is failing): the event changed nothing; deliver it again later",
        retryAfterS: this.#rt.config.retryAfterS,
      });
    }
    const outcome = this.#inTurn(event.entitlement.id, () => this.#once(key, delivery, event));
    this.#inflight.set(key, outcome);
    const forget = () => this.#inflight.delete(key);
    outcome.then(forget, forget);
    return outcome;
  }

  async #inTurn<T>(entitlementId: string, work: () => Promise<T>): Promise<T> {
    const before = this.#turns.get(entitlementId) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const tail = before.then(() => mine);
    this.#turns.set(entitlementId, tail);
    try {
      await before;
      return await work();
    } finally {
      done();
      if (this.#turns.get(entitlementId) === tail) this.#turns.delete(entitlementId);
    }
  }

  async #once(key: string, delivery: MarketplaceDelivery, event: MarketplaceEvent): Promise<MarketplaceOutcome> {
    const now = this.#rt.clock.now();
    this.#prune(now);
    const ordered = HANDLED.has(event.eventType);
    const eventTime = eventTimeOf(event, delivery, now);
    let claim;
    try {
      claim = await this.#log.claim({ id: key, owner: this.#owner, now, ...(ordered ? { entitlementId: event.entitlement.id } : {}) });
    } catch (err) {
      this.#rt.logger.warn({ err, event_id: event.eventId, delivery: key }, "the delivery log did not answer; the event was not handled");
      return {
        status: 503,
        code: "MARKETPLACE_STORE_UNAVAILABLE",
        message: "the store of marketplace deliveries did not answer: the event changed nothing; deliver it again later",
        retryAfterS: this.#rt.config.retryAfterS,
      };
    }
    if (claim.kind === "completed") {
      this.#rt.logger.info({ event_id: event.eventId, delivery: key, status: claim.outcome.status }, "a repeated marketplace delivery: answered with its first outcome, nothing changed");
      return claim.outcome as MarketplaceOutcome;
    }
    if (claim.kind === "in_progress") {
      return {
        status: 409,
        code: "MARKETPLACE_DELIVERY_IN_PROGRESS",
        message: `this delivery is being handled elsewhere since ${new Date(claim.claimedAt).toISOString()}; deliver it again later for its outcome`,
        retryAfterS: this.#rt.config.retryAfterS,
      };
    }
    if (claim.retaken) this.#rt.logger.info({ event_id: event.eventId, delivery: key }, "a delivery claimed earlier without an outcome is decided again against the tenant's state");
    // Older than the newest event applied to the entitlement, or that very event again (under another delivery id).
    const mark = claim.mark;
    const superseded = mark !== null && (eventTime < mark.eventTime || mark.eventId === event.eventId) ? mark : null;
    let outcome: MarketplaceOutcome;
    try {
      outcome = superseded === null ? await this.#dispatch(event) : await this.#stale(event, eventTime, superseded);
    } catch (err) {
      await this.#release(key);
      throw err;
    }
    // A refusal for now (the tenant is busy) changed nothing: the delivery may run again.
    if (outcome.status === 409 || outcome.status === 503) {
      await this.#release(key);
      return outcome;
    }
    const applied: EntitlementApplied | undefined =
      ordered && superseded === null && (outcome.status === 200 || outcome.status === 201) ? { entitlementId: event.entitlement.id, eventTime, eventId: event.eventId } : undefined;
    try {
      await this.#log.complete(key, this.#owner, outcome, this.#rt.clock.now(), applied);
    } catch (err) {
      // The claim stays unfinished: a repeat takes it over and decides again against the state.
      this.#rt.logger.warn({ err, event_id: event.eventId, delivery: key }, "the outcome of a marketplace event could not be stored");
    }
    return outcome;
  }

  async #release(key: string): Promise<void> {
    try {
      await this.#log.release(key, this.#owner);
    } catch (err) {
      // Left unfinished, it is ours: the next repeat here takes it over.
      this.#rt.logger.warn({ err, delivery: key }, "an unfinished marketplace delivery could not be released");
    }
  }

  #prune(now: number): void {
    if (now - this.#prunedAt < PRUNE_EVERY_MS) return;
    this.#prunedAt = now;
    const before = now - deliveryRetentionMs(this.#rt.config.webhookToleranceS);
    this.#log.prune(before).then(
      (removed) => {
        if (removed > 0) this.#rt.logger.info({ removed }, "expired marketplace delivery ids removed");
      },
      (err: unknown) => this.#rt.logger.warn({ err }, "expired marketplace delivery ids could not be removed; trying again later"),
    );
  }

  /** An event older than the newest applied to its entitlement (or that one again): recorded, and nothing else. */
  async #stale(event: MarketplaceEvent, eventTime: number, mark: EntitlementMark): Promise<MarketplaceOutcome> {
    const note =
      mark.eventId === event.eventId
        ? `ignored: this event (${new Date(eventTime).toISOString()}) was applied to this entitlement of account ${event.entitlement.account_id} already`
        : `ignored: sent at ${new Date(eventTime).toISOString()}, older than event ${mark.eventId} (${new Date(mark.eventTime).toISOString()}), ` +
          `already applied to this entitlement of account ${event.entitlement.account_id}`;
    const receipt = await this.#recordEvent(event, note);
    return { status: 202, body: { acknowledged: true, acted: false, stale: true, account_id: event.entitlement.account_id, receipt: ref(receipt) } };
  }

  /** Records an event Governor does not act on (or no longer acts on) on the platform ledger. */
  #recordEvent(event: MarketplaceEvent, note: string): Promise<Receipt> {
    return this.#rt.recordPlatform({
      operation: "marketplace_event_recorded",
      status: "success",
      duration_ms: 0,
      event_id: event.eventId,
      event_type: event.eventType,
      entitlement_id: event.entitlement.id,
      note: note.slice(0, 1024),
    });
  }

  async #dispatch(event: MarketplaceEvent): Promise<MarketplaceOutcome> {
    switch (event.eventType) {
      case "ENTITLEMENT_ACTIVE":
        return this.#provision(event);
      case "ENTITLEMENT_PLAN_CHANGED":
        return this.#changePlan(event);
      case "ENTITLEMENT_CANCELLED":
        return this.#cancel(event);
      default: {
        const receipt = await this.#recordEvent(event, HANDLED.has(event.eventType) ? "handled" : "acknowledged; Governor takes no action on this event type");
        return { status: 202, body: { acknowledged: true, acted: false, receipt: ref(receipt) } };
      }
    }
  }

  async #provision(event: MarketplaceEvent): Promise<MarketplaceOutcome> {
    const started = this.#rt.clock.now();
    const { entitlement: e } = event;
    const account = e.account_id;
    const sku = e.sku_id ?? "";
    const plan = e.plan ?? "";
    const fail = async (step: string, code: string, reason: string, status: 404 | 422): Promise<MarketplaceOutcome> => {
      await this.#rt.host.record(account, {
        operation: "entitlement_failed",
        status: "failure",
        duration_ms: Math.round(this.#rt.clock.now() - started),
        event_id: event.eventId,
        entitlement_id: e.id,
        sku_id: sku,
        plan,
        step,
        code,
        reason,
      });
      return { status, code: `MARKETPLACE_${code.toUpperCase()}`, message: reason };
    };
    const current = this.#rt.host.status(account);
    if (current !== undefined && current.state === "active" && this.#rt.host.entitlementOf(account) === e.id) {
      return { status: 200, body: { account_id: account, state: "active", already: true, policy_version: current.policy_version } };
    }
    if (current !== undefined && current.state !== "new" && current.state !== "decommissioned") {
      return { status: 409, code: "MARKETPLACE_TENANT_BUSY", message: `tenant ${account} is ${current.state}; provision it again once that is over` };
    }
    const policy = this.#rt.catalog.current(sku);
    if (policy === undefined) return fail("load_policy", "unknown_sku", `no policy for SKU "${sku}"; known SKUs: ${this.#rt.catalog.skus().join(", ") || "none"}`, 422);
    const planView = policy.plans.get(plan);
    if (planView === undefined) {
      return fail("load_policy", "unknown_plan", `SKU "${sku}" has no plan "${plan}"; its plans: ${[...policy.plans.keys()].join(", ")}`, 422);
    }
    let channel: string;
    try {
      channel = await this.#rt.channels.create(account);
    } catch (err) {
      await this.#rt.channels.delete(account).catch(() => {});
      return fail("create_channel", "channel_failed", `the signal channel could not be created: ${(err as Error).message}`, 422);
    }
    try {
      const receipt = await this.#rt.host.provision(account, {
        eventId: event.eventId,
        entitlementId: e.id,
        skuId: sku,
        plan,
        ...(e.region === undefined ? {} : { region: e.region }),
        policyVersion: policy.version,
        concurrency: planView.concurrentActions,
        channel,
        durationMs: Math.round(this.#rt.clock.now() - started),
      });
      return { status: 201, body: { account_id: account, state: "active", policy_version: policy.version, channel, receipt: receipt ? ref(receipt) : null } };
    } catch (err) {
      await this.#rt.channels.delete(account).catch(() => {});
      throw err;
    }
  }

  async #changePlan(event: MarketplaceEvent): Promise<MarketplaceOutcome> {
    const account = event.entitlement.account_id;
    const current = this.#rt.host.status(account);
    if (current === undefined || current.state === "new") return { status: 404, code: "TENANT_UNKNOWN", message: `no tenant "${account}" is provisioned` };
    if (current.state !== "active") return { status: 409, code: "MARKETPLACE_TENANT_BUSY", message: `tenant ${account} is ${current.state}` };
    const sku = current.sku_id ?? "";
    const plan = event.entitlement.plan ?? "";
    // Idempotent by state: a redelivered change (even after a restart) changes nothing.
    if (current.plan === plan) return { status: 200, body: { account_id: account, plan, policy_version: current.policy_version, already: true } };
    const policy = this.#rt.catalog.current(sku);
    const planView = policy?.plans.get(plan);
    if (policy === undefined || planView === undefined) {
      return { status: 422, code: "MARKETPLACE_UNKNOWN_PLAN", message: `SKU "${sku}" has no plan "${plan}"` };
    }
    const receipt = await this.#rt.host.changePlan(account, {
      eventId: event.eventId,
      entitlementId: event.entitlement.id,
      plan,
      policyVersion: policy.version,
      concurrency: planView.concurrentActions,
    });
    return { status: 200, body: { account_id: account, plan, policy_version: policy.version, receipt: receipt ? ref(receipt) : null } };
  }

  async #cancel(event: MarketplaceEvent): Promise<MarketplaceOutcome> {
    const account = event.entitlement.account_id;
    const current = this.#rt.host.status(account);
    if (current === undefined || current.state === "new") return { status: 404, code: "TENANT_UNKNOWN", message: `no tenant "${account}" is provisioned` };
    if (current.state === "decommissioned") {
      await this.#revokeTokens(account);
      return { status: 200, body: { account_id: account, state: "decommissioned", already: true } };
    }
    // Its tokens stop first: their revocations come before decommission_start, so the archive taken at the end holds them.
    await this.#revokeTokens(account);
    await this.#rt.host.cancel(account, { eventId: event.eventId, entitlementId: event.entitlement.id, drainMs: this.#rt.config.drainMs });
    const [last] = await this.#rt.store.read(account as LedgerId, this.#rt.writer.durableSize(account) - 1, 1);
    return { status: 200, body: { account_id: account, state: "decommissioned", receipt: last ? ref(last) : null } };
  }

  /**
   * A cancelled tenant's tokens stop working: they are revoked as the cancel
   * begins, each with a receipt before `decommission_start` (signals are
   * refused while it drains anyway). If that fails (a failing store),
   * authentication refuses them by the tenant's state, and the next start
   * revokes what is left of a decommissioned tenant's.
   */
  async #revokeTokens(account: string): Promise<void> {
    await this.#rt.tokens.revokeAll(account, "governor", "decommissioned").catch((err: unknown) => {
      this.#rt.logger.error({ err, account }, "the decommissioned tenant's tokens were not revoked yet; they are refused, and the next start revokes them");
    });
  }
}

/** How a response names a receipt: enough to fetch it and check it. */
export function ref(r: Receipt) {
  return { ledger: r.ledger, seq: r.seq, operation: r.operation, hash: r.hash };
}

/** When the event happened, for ordering: the entitlement's update time, the event's time, when it was sent, or now. */
function eventTimeOf(event: MarketplaceEvent, delivery: MarketplaceDelivery, now: number): number {
  for (const text of [event.entitlement.updateTime, event.eventTime]) {
    if (text === undefined) continue;
    const t = parseRfc3339(text);
    if (Number.isFinite(t)) return t;
  }
  return delivery.sentAt !== undefined && Number.isFinite(delivery.sentAt) ? delivery.sentAt : now;
}
