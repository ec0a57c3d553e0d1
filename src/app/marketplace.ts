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
 *
 * A provision runs its steps in order (load the policy, open the tenant's
 * ledger, create the channel, boot the governor); what to do, and what a
 * failed step records and answers, is decided in
 * governors/deciders/provisioning.ts. A failed step removes what was
 * created, writes `entitlement_failed` naming the step and raises an alert.
 * A failure of the store or of the boot is not stored as the delivery's
 * outcome: a redelivery runs again.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { z } from "zod";
import {
  decidePlanChange,
  decideProvision,
  draftEntitlementFailed,
  entitlementFailedAlert,
  failureAnswer,
  ProvisionStep,
  type EntitlementRequest,
  type ProvisionFailure,
  type TenantLifecycle,
} from "../../governors/deciders/provisioning.ts";
import type { ChangePlanCommand, EntitlementStatusCommand, ProvisionCommand } from "../../governors/decision.ts";
import type { PolicyView } from "../../governors/policy-view.ts";
import type { Config } from "../config.ts";
import { accountIdPattern, type LedgerId, type Receipt, type ReceiptDraft } from "../ledger/receipt.ts";
import type { GovernorStatus } from "./status.ts";
import { Turns } from "./turns.ts";
import { PortError, type AlertSink, type Clock, type DeliveryLog, type EntitlementApplied, type EntitlementMark, type LedgerStore } from "../ports/index.ts";

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
    sku_id: z.string().min(1).max(128).optional(),
    plan: z.string().min(1).max(64).optional(),
    region: z.string().max(64).optional(),
    /** When the entitlement last changed (RFC 3339), as Google sends it: orders the events of one entitlement. */
    updateTime: dateTime.optional(),
  }),
});
export type MarketplaceEvent = z.infer<typeof MarketplaceEvent>;

/** A provision, from either marketplace path: the tenant (`accountId`) and its entitlement. */
export interface ProvisionRequest {
  readonly eventId: string;
  readonly entitlementId: string;
  /** The tenant: the webhook's account id, or the Google entitlement id. */
  readonly accountId: string;
  readonly skuId: string;
  readonly plan: string;
  readonly region?: string;
  /** Google Cloud Marketplace: the procurement account and Service Control consumer. */
  readonly procurementAccountId?: string;
  readonly usageReportingId?: string;
}

/** One delivery of an event: where it came from, its id there, and when the sender sent it (epoch ms), if known. */
export interface MarketplaceDelivery {
  readonly source: "webhook" | "procurement";
  readonly id: string;
  readonly sentAt?: number;
}

/** Outcome of one event, as the HTTP layer reports it. */
export type MarketplaceOutcome =
  | { readonly status: 200 | 201 | 202; readonly body: Record<string, unknown> }
  | { readonly status: 404 | 409 | 422 | 500 | 503; readonly code: string; readonly message: string; readonly retryAfterS?: number };

/** What a delivery's work answers: its outcome, and the event it applied to the entitlement, if any (the entitlement's new mark). */
export interface DeliveryDone {
  readonly outcome: MarketplaceOutcome;
  readonly applied?: { readonly eventTime: number; readonly eventId: string };
}
/** The work of one delivery, told the newest event applied to its entitlement (null: none, or not ordered). */
export type DeliveryWork = (mark: EntitlementMark | null) => Promise<DeliveryDone>;

/** The event types that change an entitlement (and are ordered by its mark). */
const HANDLED = new Set(["ENTITLEMENT_ACTIVE", "ENTITLEMENT_PLAN_CHANGED", "ENTITLEMENT_CANCELLED", "ENTITLEMENT_SUSPENDED", "ENTITLEMENT_REINSTATED"]);

/** How long a delivery id is kept: past any replay the timestamp tolerance lets in (a timestamp up to `tolerance` in the future stays acceptable until 2 x tolerance from now), and a day at least. */
export function deliveryRetentionMs(webhookToleranceS: number): number {
  return Math.max(24 * 3600_000, (2 * webhookToleranceS + 3600) * 1000);
}
const PRUNE_EVERY_MS = 10 * 60_000;

/** What the marketplace workflows need of the runtime around them (the runtime satisfies it as it is). */
export interface MarketplaceRuntime {
  readonly config: Pick<Config, "retryAfterS" | "webhookToleranceS" | "drainMs" | "probeDeadlineMs">;
  readonly deliveries: DeliveryLog;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly alerts: AlertSink;
  readonly health: { readonly degraded: boolean };
  readonly store: Pick<LedgerStore, "head" | "read">;
  readonly log: { durableSize(ledger: string): number };
  readonly catalog: { current(skuId: string): PolicyView | undefined; skus(): string[] };
  readonly channels: { create(account: string): Promise<string>; delete(account: string): Promise<void> };
  readonly tokens: { revokeAll(account: string, by: "governor", reason: "decommissioned"): Promise<unknown> };
  readonly governors: MarketplaceGovernors;
  recordPlatform(draft: ReceiptDraft): Promise<Receipt>;
}

/** The governors' lifecycle commands and reads, as the marketplace uses them. */
export interface MarketplaceGovernors {
  status(account: string): GovernorStatus | undefined;
  entitlementOf(account: string): string | null;
  record(account: string, draft: ReceiptDraft): Promise<Receipt>;
  provision(account: string, cmd: ProvisionCommand): Promise<Receipt | null>;
  changePlan(account: string, cmd: ChangePlanCommand): Promise<Receipt | null>;
  cancel(account: string, cmd: { eventId: string; entitlementId: string; drainMs: number }): Promise<void>;
  setSuspended(account: string, suspended: boolean, cmd: EntitlementStatusCommand): Promise<Receipt | null>;
}

export class Marketplace {
  readonly #rt: MarketplaceRuntime;
  readonly #log: DeliveryLog;
  /** This process, as the owner of the claims it makes. */
  readonly #owner = randomUUID();
  /** Deliveries under way here: a concurrent repeat shares the first one's outcome. */
  readonly #inflight = new Map<string, Promise<MarketplaceOutcome>>();
  /** Per entitlement, the tail of the events being handled: one at a time, so their order is decided once. */
  readonly #turns = new Turns();
  #prunedAt = Number.NEGATIVE_INFINITY;

  constructor(runtime: MarketplaceRuntime) {
    this.#rt = runtime;
    this.#log = runtime.deliveries;
  }

  /** Handles an event once per delivery id (the webhook id, or the procurement event's id). */
  handle(delivery: MarketplaceDelivery, event: MarketplaceEvent): Promise<MarketplaceOutcome> {
    const ordered = HANDLED.has(event.eventType);
    return this.deliverOnce(delivery, event.entitlement.id, ordered, async (mark) => {
      const eventTime = eventTimeOf(event, delivery, this.#rt.clock.now());
      // Older than the newest event applied to the entitlement, or that very event again (under another delivery id).
      const superseded = mark !== null && (eventTime < mark.eventTime || mark.eventId === event.eventId) ? mark : null;
      if (superseded !== null) return { outcome: await this.#stale(event, eventTime, superseded) };
      const outcome = await this.#dispatch(event);
      const applied = ordered && (outcome.status === 200 || outcome.status === 201) ? { eventTime, eventId: event.eventId } : undefined;
      return applied === undefined ? { outcome } : { outcome, applied };
    });
  }

  /**
   * Runs `work` once per delivery id: claimed in the delivery log first (a
   * repeat gets the first outcome; a delivery under way elsewhere, 409), one
   * at a time per entitlement (`turn`), and its outcome stored. `work` is
   * told the newest event applied to the entitlement (when `ordered`) and
   * names the one it applied, if any. A refusal for now (409, 500, 503)
   * releases the claim: the delivery may run again. In safe mode nothing is
   * claimed (503).
   */
  deliverOnce(delivery: Pick<MarketplaceDelivery, "source" | "id">, turn: string, ordered: boolean, work: DeliveryWork): Promise<MarketplaceOutcome> {
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
    const outcome = this.inTurn(turn, () => this.#once(key, ordered ? turn : null, work));
    this.#inflight.set(key, outcome);
    const forget = () => this.#inflight.delete(key);
    outcome.then(forget, forget);
    return outcome;
  }

  /** Runs `work` after the work queued before it on the same key (an entitlement): one at a time, so their order is decided once. */
  inTurn<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.#turns.run(key, work);
  }

  async #once(key: string, entitlementId: string | null, work: DeliveryWork): Promise<MarketplaceOutcome> {
    const now = this.#rt.clock.now();
    this.#prune(now);
    let claim;
    try {
      claim = await this.#log.claim({ id: key, owner: this.#owner, now, ...(entitlementId === null ? {} : { entitlementId }) });
    } catch (err) {
      this.#rt.logger.warn({ err, delivery: key }, "the delivery log did not answer; the event was not handled");
      return {
        status: 503,
        code: "MARKETPLACE_STORE_UNAVAILABLE",
        message: "the store of marketplace deliveries did not answer: the event changed nothing; deliver it again later",
        retryAfterS: this.#rt.config.retryAfterS,
      };
    }
    if (claim.kind === "completed") {
      this.#rt.logger.info({ delivery: key, status: claim.outcome.status }, "a repeated marketplace delivery: answered with its first outcome, nothing changed");
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
    if (claim.retaken) this.#rt.logger.info({ delivery: key }, "a delivery claimed earlier without an outcome is decided again against the tenant's state");
    let done: DeliveryDone;
    try {
      done = await work(claim.mark);
    } catch (err) {
      await this.#release(key);
      throw err;
    }
    const { outcome } = done;
    // A refusal for now (the tenant is busy, the store or the governor failed) left nothing behind: the delivery may run again.
    if (outcome.status === 409 || outcome.status === 500 || outcome.status === 503) {
      await this.#release(key);
      return outcome;
    }
    const applied: EntitlementApplied | undefined = entitlementId !== null && done.applied !== undefined ? { entitlementId, ...done.applied } : undefined;
    try {
      await this.#log.complete(key, this.#owner, outcome, this.#rt.clock.now(), applied);
    } catch (err) {
      // The claim stays unfinished: a repeat takes it over and decides again against the state.
      this.#rt.logger.warn({ err, delivery: key }, "the outcome of a marketplace event could not be stored");
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
    const receipt = await this.recordEvent({ eventId: event.eventId, eventType: event.eventType, entitlementId: event.entitlement.id }, note);
    return { status: 202, body: { acknowledged: true, acted: false, stale: true, account_id: event.entitlement.account_id, receipt: ref(receipt) } };
  }

  /** Records an event Governor does not act on (or no longer acts on) on the platform ledger. */
  /**
   * Records an event Governor does not act on (or no longer acts on) on the
   * platform ledger (both marketplace paths). A type that is not an event
   * type's shape is recorded as UNKNOWN.
   */
  recordEvent(event: { readonly eventId: string; readonly eventType: string; readonly entitlementId: string }, note: string): Promise<Receipt> {
    return this.#rt.recordPlatform({
      operation: "marketplace_event_recorded",
      status: "success",
      duration_ms: 0,
      event_id: event.eventId,
      event_type: /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(event.eventType) ? event.eventType : "UNKNOWN",
      entitlement_id: event.entitlementId.slice(0, 256),
      note: note.slice(0, 1024),
    });
  }

  async #dispatch(event: MarketplaceEvent): Promise<MarketplaceOutcome> {
    const e = event.entitlement;
    switch (event.eventType) {
      case "ENTITLEMENT_ACTIVE":
        return this.provision({
          eventId: event.eventId,
          entitlementId: e.id,
          accountId: e.account_id,
          skuId: e.sku_id ?? "",
          plan: e.plan ?? "",
          ...(e.region === undefined ? {} : { region: e.region }),
        });
      case "ENTITLEMENT_PLAN_CHANGED":
        return this.changePlan(e.account_id, { eventId: event.eventId, entitlementId: e.id, plan: e.plan ?? "" });
      case "ENTITLEMENT_CANCELLED":
        return this.cancel(e.account_id, { eventId: event.eventId, entitlementId: e.id });
      case "ENTITLEMENT_SUSPENDED":
      case "ENTITLEMENT_REINSTATED":
        return this.setSuspended(e.account_id, event.eventType === "ENTITLEMENT_SUSPENDED", { eventId: event.eventId, entitlementId: e.id });
      default: {
        const receipt = await this.recordEvent({ eventId: event.eventId, eventType: event.eventType, entitlementId: event.entitlement.id }, HANDLED.has(event.eventType) ? "handled" : "acknowledged; Governor takes no action on this event type");
        return { status: 202, body: { acknowledged: true, acted: false, receipt: ref(receipt) } };
      }
    }
  }

  /** Workflow 1: provisions a tenant (both marketplace paths). */
  async provision(req: ProvisionRequest): Promise<MarketplaceOutcome> {
    const rt = this.#rt;
    const started = rt.clock.now();
    const account = req.accountId;
    const request: EntitlementRequest = { eventId: req.eventId, entitlementId: req.entitlementId, accountId: account, skuId: req.skuId, plan: req.plan };
    const policy = rt.catalog.current(request.skuId);
    const decision = decideProvision(this.#tenant(account), request, policy, rt.catalog.skus());
    if (decision.kind === "answer") return decision.answer;
    if (decision.kind === "fail") return this.#failed(request, decision.failure, started);
    const opened = await this.#openLedger(account);
    if (opened !== null) return this.#failed(request, { step: ProvisionStep.initStore, code: "store_failed", reason: `the tenant's ledger could not be opened: ${opened}` }, started);
    let channel: string;
    try {
      channel = await rt.channels.create(account);
    } catch (err) {
      await this.#removeChannel(account);
      return this.#failed(request, { step: ProvisionStep.createChannel, code: "channel_failed", reason: `the signal channel could not be created: ${messageOf(err)}` }, started);
    }
    // Safe mode may have begun since the event came in: the governor's receipts would reach only the spool.
    if (rt.health.degraded) {
      await this.#removeChannel(account);
      return this.#failed(request, { step: ProvisionStep.initStore, code: "store_failed", reason: "the ledger store is failing (safe mode)" }, started);
    }
    let receipt: Receipt | null;
    try {
      receipt = await rt.governors.provision(account, {
        eventId: req.eventId,
        entitlementId: req.entitlementId,
        skuId: request.skuId,
        plan: request.plan,
        ...(req.region === undefined ? {} : { region: req.region }),
        ...(req.procurementAccountId === undefined ? {} : { procurementAccountId: req.procurementAccountId }),
        ...(req.usageReportingId === undefined ? {} : { usageReportingId: req.usageReportingId }),
        policyVersion: decision.policyVersion,
        concurrency: decision.concurrency,
        channel,
        durationMs: Math.round(rt.clock.now() - started),
      });
    } catch (err) {
      await this.#removeChannel(account);
      // A store that fails under the first append is the store's step, not the governor's.
      const storeFailed = (err instanceof PortError && err.retryable) || rt.health.degraded;
      const failure: ProvisionFailure = storeFailed
        ? { step: ProvisionStep.initStore, code: "store_failed", reason: `the tenant's ledger could not be written: ${messageOf(err)}` }
        : { step: ProvisionStep.bootGovernor, code: "boot_failed", reason: `the governor could not boot: ${messageOf(err)}` };
      return this.#failed(request, failure, started);
    }
    if (receipt === null || this.#tenant(account)?.state !== "active") {
      await this.#removeChannel(account);
      return this.#failed(request, { step: ProvisionStep.bootGovernor, code: "boot_failed", reason: "the governor did not become active" }, started);
    }
    return { status: 201, body: { account_id: account, state: "active", policy_version: decision.policyVersion, channel, receipt: ref(receipt) } };
  }

  /** The tenant as the lifecycle decisions see it, or undefined when it has no governor here. */
  #tenant(account: string): TenantLifecycle | undefined {
    const s = this.#rt.governors.status(account);
    if (s === undefined) return undefined;
    return { state: s.state, skuId: s.sku_id, plan: s.plan, policyVersion: s.policy_version, entitlementId: this.#rt.governors.entitlementOf(account) };
  }

  /**
   * Opens the tenant's ledger in the store (the store step of runbook 1),
   * within the health probe's deadline: null when it answers, else why not.
   * Nothing has been created yet, so a store that fails here leaves nothing
   * behind.
   */
  async #openLedger(account: string): Promise<string | null> {
    const rt = this.#rt;
    let timer: { cancel(): void } | undefined;
    const deadline = new Promise<string>((resolve) => {
      timer = rt.clock.setTimeout(() => resolve(`no answer within ${rt.config.probeDeadlineMs} ms`), rt.config.probeDeadlineMs);
    });
    try {
      return await Promise.race([rt.store.head(account as LedgerId).then(() => null, (err: unknown) => messageOf(err)), deadline]);
    } finally {
      timer?.cancel();
    }
  }

  /**
   * A provisioning step failed and what it created is removed: the failure
   * is written (`entitlement_failed`, on the tenant's ledger if it can be
   * written at all), an alert raised, and the marketplace answered.
   */
  async #failed(request: EntitlementRequest, failure: ProvisionFailure, started: number): Promise<MarketplaceOutcome> {
    const rt = this.#rt;
    try {
      rt.alerts.alert(entitlementFailedAlert(request, failure));
    } catch (err) {
      // A failing alert sink must not change what the marketplace is told; the receipt still records the failure.
      rt.logger.error({ err, account: request.accountId, step: failure.step }, "the entitlement_failed alert could not be raised");
    }
    try {
      await rt.governors.record(request.accountId, draftEntitlementFailed(request, failure, rt.clock.now() - started));
    } catch (err) {
      rt.logger.error({ err, account: request.accountId, step: failure.step, event_id: request.eventId }, "entitlement_failed could not be written; the alert names the failure");
    }
    const answer = failureAnswer(failure);
    return answer.status === 503 ? { ...answer, retryAfterS: rt.config.retryAfterS } : (answer as MarketplaceOutcome);
  }

  /** Removes the tenant's channel after a failed provision; a channel that cannot be removed is logged (it takes no signal: the tenant is not active). */
  async #removeChannel(account: string): Promise<void> {
    try {
      await this.#rt.channels.delete(account);
    } catch (err) {
      this.#rt.logger.error({ err, account }, "the signal channel of a failed provision could not be removed");
    }
  }

  /** Changes a tenant's plan (both marketplace paths). */
  async changePlan(account: string, req: { eventId: string; entitlementId: string; plan: string }): Promise<MarketplaceOutcome> {
    const plan = req.plan;
    const tenant = this.#tenant(account);
    const decision = decidePlanChange(tenant, account, plan, tenant?.skuId == null ? undefined : this.#rt.catalog.current(tenant.skuId));
    if (decision.kind === "answer") return decision.answer as MarketplaceOutcome;
    const receipt = await this.#rt.governors.changePlan(account, {
      eventId: req.eventId,
      entitlementId: req.entitlementId,
      plan,
      policyVersion: decision.policyVersion,
      concurrency: decision.concurrency,
    });
    return { status: 200, body: { account_id: account, plan, policy_version: decision.policyVersion, receipt: receipt ? ref(receipt) : null } };
  }

  /**
   * Suspends or reinstates a tenant (both marketplace paths): 200 with the
   * receipt, or with `already` when it is so; 404 for no tenant; 409 when it
   * is busy with a lifecycle of its own (draining, degraded, …).
   */
  async setSuspended(account: string, suspended: boolean, req: { eventId: string; entitlementId: string; reason?: string }): Promise<MarketplaceOutcome> {
    const state = this.#rt.governors.status(account)?.state;
    if (state === undefined || state === "new") return { status: 404, code: "TENANT_UNKNOWN", message: `no tenant "${account}" is provisioned` };
    if (state === (suspended ? "suspended" : "active")) return { status: 200, body: { account_id: account, state, already: true } };
    const receipt = await this.#rt.governors.setSuspended(account, suspended, req);
    if (receipt === null) return { status: 409, code: "MARKETPLACE_TENANT_BUSY", message: `tenant ${account} is ${state}` };
    return { status: 200, body: { account_id: account, state: suspended ? "suspended" : "active", receipt: ref(receipt) } };
  }

  /** Workflow 6: cancels a tenant, to the end of its decommission (both marketplace paths). */
  async cancel(account: string, req: { eventId: string; entitlementId: string }): Promise<MarketplaceOutcome> {
    const current = this.#rt.governors.status(account);
    if (current === undefined || current.state === "new") return { status: 404, code: "TENANT_UNKNOWN", message: `no tenant "${account}" is provisioned` };
    if (current.state === "decommissioned") {
      await this.#revokeTokens(account);
      return { status: 200, body: { account_id: account, state: "decommissioned", already: true } };
    }
    // Its tokens stop first: their revocations come before decommission_start, so the archive taken at the end holds them.
    await this.#revokeTokens(account);
    await this.#rt.governors.cancel(account, { eventId: req.eventId, entitlementId: req.entitlementId, drainMs: this.#rt.config.drainMs });
    const [last] = await this.#rt.store.read(account as LedgerId, this.#rt.log.durableSize(account) - 1, 1);
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

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
