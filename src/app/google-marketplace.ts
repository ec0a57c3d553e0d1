/**
 * Google Cloud Marketplace, as Google documents it: each procurement message
 * is only a notification naming an entitlement or an account. Governor reads
 * the resource from the Partner Procurement API and acts on what the API
 * says, through the same lifecycle workflows as the signed webhook
 * (marketplace.ts: provision, plan change, cancel).
 *
 * A tenant is one entitlement: its id is the entitlement id, so an account
 * with several products or orders has one governor, one plan, one quota and
 * one ledger per entitlement. Receipts name the entitlement, the procurement
 * account and the product (the SKU).
 *
 * - Each event is handled once per event id (the durable delivery log), one
 *   at a time per entitlement, and acknowledged only once its receipt is
 *   durable. A read of the entitlement older than the newest one applied to
 *   it changes nothing.
 * - An entitlement event whose account is not yet active at the API (its
 *   sign-up is not done) is held back: nacked, and delivered again later.
 * - Requests (a creation, a plan change) are decided by the SKU's policy
 *   (governors/deciders/marketplace.ts), sent to the API, and recorded
 *   (`entitlement_approval`).
 * - Everything else brings the governor to the API's state (`reconcile`):
 *   the event's own change, or, when the governor was out of step, an
 *   `entitlement_reconciled` receipt before the correction. The periodic
 *   sweep does the same for every entitlement the provider has, so a missed
 *   or dead-lettered event heals.
 * - A private offer accepted for a future start is written down
 *   (`entitlement_offer_scheduled`) and provisioned when it starts; the
 *   deadline is re-armed from the ledger after a restart.
 */
import { z } from "zod";
import { decideApproval, expectedCorrection, reconcile, type Correction, type ReconciledTenant } from "../../governors/deciders/marketplace.ts";
import { accountIdPattern, PLATFORM_LEDGER, type DraftOf, type Receipt, type ReceiptDraft } from "../ledger/receipt.ts";
import {
  AccountState,
  cutToUtf8Bytes,
  EntitlementState,
  ProcurementApiError,
  type ProcurementApi,
  type ProcurementEntitlement,
} from "../ports/index.ts";
import { parseRfc3339, ref, type Marketplace, type MarketplaceOutcome, type MarketplaceRuntime } from "./marketplace.ts";

const dateTime = z.string().max(40);
const resourceId = z.string().min(1).max(256);

/** A procurement notification as Google publishes it (fields Governor does not read are allowed: Google adds some). */
export const ProcurementNotification = z
  .looseObject({
    eventId: z.string().min(1).max(256),
    eventType: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, "expected an event type such as ENTITLEMENT_ACTIVE"),
    providerId: z.string().max(256).optional(),
    entitlement: z
      .looseObject({ id: resourceId, updateTime: dateTime.optional(), newPlan: z.string().max(256).optional(), newOfferStartTime: dateTime.optional() })
      .optional(),
    account: z.looseObject({ id: resourceId, updateTime: dateTime.optional() }).optional(),
  })
  .refine((n) => (n.entitlement === undefined) !== (n.account === undefined), "expected exactly one of entitlement and account");
export type ProcurementNotification = z.infer<typeof ProcurementNotification>;

/** The longest a timer waits before it looks at a far deadline again (timers cannot wait for months). */
const MAX_TIMER_MS = 6 * 3600_000;

export interface GoogleMarketplaceDeps {
  readonly marketplace: Marketplace;
  readonly api: ProcurementApi;
  readonly runtime: Pick<MarketplaceRuntime, "clock" | "logger" | "alerts" | "catalog" | "governors" | "recordPlatform" | "config">;
  /** Every tenant here. */
  readonly accounts: () => Iterable<string>;
  /** How often the sweep runs (0: never). */
  readonly reconcileIntervalMs: number;
}

export interface SweepResult {
  readonly entitlements: number;
  readonly corrected: number;
  readonly failed: number;
}

export class GoogleMarketplace {
  readonly #d: GoogleMarketplaceDeps;
  /** Accounts the API said are active: their entitlements are not held back. */
  readonly #activeAccounts = new Set<string>();
  /** Scheduled private offers, by tenant. */
  readonly #offers = new Map<string, { cancel(): void }>();
  #sweepTimer: { cancel(): void } | null = null;
  #sweeping: Promise<SweepResult> | null = null;
  #stopped = false;

  constructor(deps: GoogleMarketplaceDeps) {
    this.#d = deps;
  }

  /** Re-arms the scheduled offers the ledgers hold and starts the periodic sweep. */
  start(): void {
    this.#stopped = false;
    for (const account of this.#d.accounts()) {
      const offer = this.#d.runtime.governors.status(account)?.scheduled_offer;
      if (offer !== undefined) this.#armOffer(account, Date.parse(offer.starts_at));
    }
    this.#scheduleSweep();
  }

  stop(): void {
    this.#stopped = true;
    this.#sweepTimer?.cancel();
    this.#sweepTimer = null;
    for (const t of this.#offers.values()) t.cancel();
    this.#offers.clear();
  }

  /** Handles one notification, once per event id. */
  handle(n: ProcurementNotification, publishedAt?: number): Promise<MarketplaceOutcome> {
    const delivery = { source: "procurement" as const, id: n.eventId, ...(publishedAt === undefined ? {} : { sentAt: publishedAt }) };
    if (n.account !== undefined) {
      const id = n.account.id;
      return this.#d.marketplace.deliverOnce(delivery, `account:${id}`, false, async () => ({ outcome: await this.#account(n, id) }));
    }
    const id = n.entitlement!.id;
    if (!accountIdPattern.test(id)) return this.#unusableId(n, id);
    return this.#d.marketplace.deliverOnce(delivery, id, true, async (mark) => {
      const ent = await this.#read(() => this.#d.api.getEntitlement(id));
      if ("status" in ent) return { outcome: ent };
      if (ent.value === null) return { outcome: await this.#recordEvent(n.eventId, n.eventType, id, "the Procurement API does not know this entitlement (deleted); nothing to do") };
      const e = ent.value;
      const readAt = e.updateTime === null ? Number.NaN : parseRfc3339(e.updateTime);
      const eventTime = Number.isFinite(readAt) ? readAt : this.#d.runtime.clock.now();
      if (mark !== null && eventTime < mark.eventTime) {
        const note = `ignored: the API's entitlement (updated ${new Date(eventTime).toISOString()}) is older than event ${mark.eventId} (${new Date(mark.eventTime).toISOString()}), already applied`;
        return { outcome: await this.#recordEvent(n.eventId, n.eventType, id, note) };
      }
      const held = await this.#holdBack(e);
      if (held !== null) return { outcome: held };
      const outcome = await this.#entitlementEvent(n, e);
      return outcome.status === 200 || outcome.status === 201 || outcome.status === 202 ? { outcome, applied: { eventTime, eventId: n.eventId } } : { outcome };
    });
  }

  /**
   * One pass of the reconciliation: every entitlement the provider has, read
   * page by page, and each governor brought to the API's state (requests
   * whose events were lost are decided too). Never two passes at once.
   */
  sweep(): Promise<SweepResult> {
    this.#sweeping ??= this.#sweepAll().finally(() => (this.#sweeping = null));
    return this.#sweeping;
  }

  /** The tenants (one per entitlement) of a procurement account. */
  tenantsOf(procurementAccountId: string): string[] {
    const out: string[] = [];
    for (const account of this.#d.accounts()) {
      if (this.#d.runtime.governors.status(account)?.procurement_account_id === procurementAccountId) out.push(account);
    }
    return out;
  }

  // ---- events ------------------------------------------------------------

  async #account(n: ProcurementNotification, id: string): Promise<MarketplaceOutcome> {
    const read = await this.#read(() => this.#d.api.getAccount(id));
    if ("status" in read) return read;
    const state = read.value?.state ?? "NOT_FOUND";
    if (state === AccountState.active) this.#activeAccounts.add(id);
    else this.#activeAccounts.delete(id);
    const receipt = await this.#d.runtime.recordPlatform({
      operation: "marketplace_account_recorded",
      status: "success",
      duration_ms: 0,
      event_id: n.eventId,
      event_type: n.eventType,
      procurement_account_id: id,
      account_state: /^[A-Z][A-Z0-9_]{0,63}$/.test(state) ? state : "UNKNOWN",
    });
    return { status: 202, body: { acknowledged: true, procurement_account_id: id, account_state: state, receipt: ref(receipt) } };
  }

  /** Null when the entitlement's account is active at the API; else the answer that holds the event back (it comes again). */
  async #holdBack(e: ProcurementEntitlement): Promise<MarketplaceOutcome | null> {
    const account = e.accountId;
    if (account !== null) {
      const read = await this.#read(() => this.#isActiveAccount(account));
      if ("status" in read) return read;
      if (read.value) return null;
    }
    this.#d.runtime.logger.info({ entitlement_id: e.id, procurement_account_id: account }, "an entitlement event held back: its account has not signed up yet");
    return {
      status: 409,
      code: "PROCUREMENT_ACCOUNT_NOT_READY",
      message: `entitlement ${e.id}: its account ${account ?? "(none)"} is not active yet (sign-up not done); delivered again later`,
      retryAfterS: this.#d.runtime.config.retryAfterS,
    };
  }

  async #entitlementEvent(n: ProcurementNotification, e: ProcurementEntitlement): Promise<MarketplaceOutcome> {
    switch (n.eventType) {
      case "ENTITLEMENT_CREATION_REQUESTED":
        if (e.state !== EntitlementState.activationRequested) return this.#recordEvent(n.eventId, n.eventType, e.id, `nothing to decide: the entitlement is ${e.state}`);
        return this.#decide(e, n.eventId, "entitlement");
      case "ENTITLEMENT_PLAN_CHANGE_REQUESTED":
        if (e.state !== EntitlementState.pendingPlanChangeApproval) return this.#recordEvent(n.eventId, n.eventType, e.id, `nothing to decide: the entitlement is ${e.state}`);
        return this.#decide(e, n.eventId, "plan_change");
      case "ENTITLEMENT_PLAN_CHANGE_CANCELLED":
      case "ENTITLEMENT_DELETED":
        return this.#recordEvent(n.eventId, n.eventType, e.id, "acknowledged; Governor takes no action on this event type");
      case "ENTITLEMENT_OFFER_ACCEPTED":
        return this.#offerAccepted(n, e);
      default:
        // ACTIVE, PLAN_CHANGED, PENDING_CANCELLATION, CANCELLATION_REVERTED, CANCELLED, SUSPENDED, OFFER_ENDED and any type
        // Google adds: the governor is brought to what the API says.
        return this.#reconcile(e, n.eventType, n.eventId, false);
    }
  }

  /** A private offer: provisioned now if it has started, else written down and provisioned when it starts. */
  async #offerAccepted(n: ProcurementNotification, e: ProcurementEntitlement): Promise<MarketplaceOutcome> {
    const text = e.newOfferStartTime ?? n.entitlement?.newOfferStartTime;
    const startsAt = text === undefined ? Number.NaN : parseRfc3339(text);
    const now = this.#d.runtime.clock.now();
    const tenant = this.#tenant(e.id);
    const unserved = tenant === undefined || tenant.state === "new" || tenant.state === "decommissioned";
    if (!Number.isFinite(startsAt) || startsAt <= now || !unserved || e.accountId === null) return this.#reconcile(e, n.eventType, n.eventId, false);
    if (tenant?.offerStartsAt === startsAt) return { status: 202, body: { entitlement_id: e.id, scheduled: true, already: true, starts_at: new Date(startsAt).toISOString() } };
    const draft: DraftOf<"entitlement_offer_scheduled"> = {
      operation: "entitlement_offer_scheduled",
      status: "pending",
      duration_ms: 0,
      event_id: n.eventId,
      entitlement_id: e.id,
      procurement_account_id: e.accountId,
      sku_id: e.product,
      plan: e.plan,
      starts_at: new Date(startsAt).toISOString(),
    };
    const receipt = await this.#d.runtime.governors.record(e.id, draft);
    this.#armOffer(e.id, startsAt);
    return { status: 202, body: { entitlement_id: e.id, scheduled: true, starts_at: draft.starts_at, receipt: ref(receipt) } };
  }

  #armOffer(tenant: string, startsAt: number): void {
    this.#offers.get(tenant)?.cancel();
    if (this.#stopped || !Number.isFinite(startsAt)) return;
    const clock = this.#d.runtime.clock;
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, startsAt - clock.now()));
    this.#offers.set(
      tenant,
      clock.setTimeout(() => {
        this.#offers.delete(tenant);
        if (clock.now() < startsAt) this.#armOffer(tenant, startsAt);
        else void this.#startOffer(tenant, startsAt);
      }, wait),
    );
  }

  /** A scheduled offer's start: the entitlement is read again and the tenant provisioned if the API still has it. */
  async #startOffer(tenant: string, startsAt: number): Promise<void> {
    const offerEvent = this.#d.runtime.governors.status(tenant)?.scheduled_offer?.event_id ?? `offer-start-${startsAt}`;
    try {
      const outcome = await this.#d.marketplace.inTurn(tenant, async () => {
        const read = await this.#read(() => this.#d.api.getEntitlement(tenant));
        if ("status" in read) return read;
        if (read.value === null) return this.#recordEvent(offerEvent, "OFFER_START", tenant, "the offer started, but the Procurement API no longer knows the entitlement");
        return this.#reconcile(read.value, "offer_start", offerEvent, false);
      });
      if (outcome.status === 409 || outcome.status === 500 || outcome.status === 503) throw new Error("code" in outcome ? outcome.message : "not provisioned");
    } catch (err) {
      this.#d.runtime.logger.warn({ err, tenant }, "a scheduled private offer could not be provisioned yet; trying again");
      const retry = this.#d.runtime.config.retryAfterS * 1000;
      if (!this.#stopped) this.#offers.set(tenant, this.#d.runtime.clock.setTimeout(() => void this.#startOffer(tenant, startsAt), retry));
    }
  }

  // ---- decisions ---------------------------------------------------------

  /**
   * Decides a request by the SKU's policy and sends the decision to the API,
   * written down before it is sent (`entitlement_approval`, pending) and
   * once the API took it (success) or refused it for good (failure). A send
   * that may succeed later leaves the pending receipt, and the event comes
   * again and is decided again: no decision goes unrecorded.
   */
  async #decide(e: ProcurementEntitlement, eventId: string, request: "entitlement" | "plan_change"): Promise<MarketplaceOutcome> {
    const plan = request === "entitlement" ? e.plan : (e.newPendingPlan ?? "");
    const policy = this.#d.runtime.catalog.current(e.product);
    const decision = decideApproval(policy, { skuId: e.product, plan, region: e.region });
    const reason = decision.decision === "rejected" ? cutToUtf8Bytes(decision.reason) : decision.reason.slice(0, 1024);
    const draft: DraftOf<"entitlement_approval"> = {
      operation: "entitlement_approval",
      status: "pending",
      duration_ms: 0,
      event_id: eventId,
      entitlement_id: e.id,
      procurement_account_id: e.accountId ?? "unknown",
      sku_id: e.product,
      request,
      plan: e.plan,
      ...(request === "plan_change" ? { pending_plan: plan } : {}),
      decision: decision.decision,
      reason,
    };
    const governors = this.#d.runtime.governors;
    const decided = await governors.record(e.id, draft);
    if (decision.decision === "awaiting_manual") return { status: 200, body: { entitlement_id: e.id, request, decision: decision.decision, reason, receipt: ref(decided) } };
    const started = this.#d.runtime.clock.now();
    const api = this.#d.api;
    const sent = await this.#read(async () => {
      if (decision.decision === "approved") {
        if (request === "entitlement") await api.approveEntitlement(e.id);
        else await api.approvePlanChange(e.id, plan);
      } else if (request === "entitlement") await api.rejectEntitlement(e.id, reason);
      else await api.rejectPlanChange(e.id, plan, reason);
      return null;
    });
    const durationMs = Math.max(0, Math.round(this.#d.runtime.clock.now() - started));
    if ("code" in sent) {
      if (sent.status === 422) {
        await governors.record(e.id, { ...draft, status: "failure", duration_ms: durationMs, reason: `${reason}; not sent: ${sent.message}`.slice(0, 1024) });
        this.#alert("entitlement_decision_refused", `the Procurement API refused the ${decision.decision} of entitlement ${e.id}: ${sent.message}`, e);
      }
      return sent;
    }
    const receipt = await governors.record(e.id, { ...draft, status: "success", duration_ms: durationMs });
    if (decision.decision === "rejected") {
      this.#alert("entitlement_rejected", `entitlement ${e.id} (${e.product}, plan ${plan}) was rejected: ${decision.reason}`, e);
    }
    return { status: 200, body: { entitlement_id: e.id, request, decision: decision.decision, reason, receipt: ref(receipt) } };
  }

  /** Brings the tenant to the API's state; a correction no event announced is written down first (`entitlement_reconciled`). */
  async #reconcile(e: ProcurementEntitlement, trigger: string, eventId: string, decideRequests: boolean): Promise<MarketplaceOutcome> {
    const tenant = this.#tenant(e.id);
    const corrections = reconcile({ state: e.state, plan: e.plan }, tenant, this.#d.runtime.clock.now(), decideRequests);
    const expected = expectedCorrection(trigger);
    const done: Record<string, unknown>[] = [];
    let created = false;
    for (const c of corrections) {
      if (!expected.has(c)) await this.#d.runtime.governors.record(e.id, reconciledDraft(e, tenant, c, trigger));
      const outcome = await this.#correct(c, e, eventId);
      if ("code" in outcome) return outcome;
      created ||= outcome.status === 201;
      done.push({ correction: c, ...outcome.body });
    }
    if (corrections.length === 0) {
      if (trigger === "sweep") return { status: 200, body: { entitlement_id: e.id, corrections: [] } };
      return this.#recordEvent(eventId, trigger, e.id, `the governor already matches the API (${e.state}); nothing to do`);
    }
    return { status: created ? 201 : 200, body: { entitlement_id: e.id, api_state: e.state, corrections: done } };
  }

  #correct(c: Correction, e: ProcurementEntitlement, eventId: string): Promise<MarketplaceOutcome> {
    const { marketplace, runtime } = this.#d;
    const entitlementId = e.id;
    const procurement = e.accountId === null ? {} : { procurement_account_id: e.accountId };
    switch (c) {
      case "provision":
        return marketplace.provision({
          eventId,
          entitlementId,
          accountId: e.id,
          skuId: e.product,
          plan: e.plan,
          ...(e.region !== null && e.region.length <= 64 ? { region: e.region } : {}),
          ...(e.accountId === null ? {} : { procurementAccountId: e.accountId }),
          ...(e.usageReportingId === null ? {} : { usageReportingId: e.usageReportingId }),
        });
      case "change_plan":
        return marketplace.changePlan(e.id, { eventId, entitlementId, plan: e.plan });
      case "cancel":
        return marketplace.cancel(e.id, { eventId, entitlementId });
      case "suspend":
      case "reinstate":
        return marketplace.setSuspended(e.id, c === "suspend", { eventId, entitlementId, ...(c === "suspend" ? { reason: "the marketplace suspended the entitlement" } : {}) });
      case "mark_pending_cancellation":
      case "clear_pending_cancellation": {
        const operation = c === "mark_pending_cancellation" ? "entitlement_cancellation_pending" : "entitlement_cancellation_reverted";
        return this.#receiptAnswer(runtime.governors.record(e.id, { operation, status: "success", duration_ms: 0, event_id: eventId, entitlement_id: entitlementId, ...procurement }));
      }
      case "decide_approval": {
        if (this.#d.runtime.catalog.current(e.product)?.marketplace?.approval === "manual") return Promise.resolve({ status: 200, body: { awaiting_manual: true } });
        return this.#decide(e, eventId, e.state === EntitlementState.activationRequested ? "entitlement" : "plan_change");
      }
    }
  }

  async #receiptAnswer(pending: Promise<Receipt | null>): Promise<MarketplaceOutcome> {
    const receipt = await pending;
    return { status: 200, body: { receipt: receipt === null ? null : ref(receipt) } };
  }

  // ---- the sweep ---------------------------------------------------------

  #scheduleSweep(): void {
    const every = this.#d.reconcileIntervalMs;
    if (every <= 0 || this.#stopped) return;
    this.#sweepTimer = this.#d.runtime.clock.setTimeout(() => {
      void this.sweep().finally(() => this.#scheduleSweep());
    }, every);
  }

  async #sweepAll(): Promise<SweepResult> {
    const logger = this.#d.runtime.logger;
    const at = new Date(this.#d.runtime.clock.now()).toISOString();
    const eventId = `sweep-${at}`;
    let entitlements = 0;
    let corrected = 0;
    let failed = 0;
    let pageToken: string | undefined;
    do {
      let page;
      try {
        page = await this.#d.api.listEntitlements(pageToken, 200);
      } catch (err) {
        logger.warn({ err }, "the reconciliation could not list the entitlements; the next pass tries again");
        return { entitlements, corrected, failed: failed + 1 };
      }
      for (const e of page.entitlements) {
        entitlements++;
        if (!accountIdPattern.test(e.id)) continue;
        try {
          const outcome = await this.#d.marketplace.inTurn(e.id, async () => {
            if (e.accountId === null || !(await this.#isActiveAccount(e.accountId))) return null;
            return this.#reconcile(e, "sweep", eventId, true);
          });
          if (outcome !== null && "body" in outcome && Array.isArray(outcome.body["corrections"]) && outcome.body["corrections"].length > 0) corrected++;
          if (outcome !== null && "code" in outcome) failed++;
        } catch (err) {
          failed++;
          logger.warn({ err, entitlement_id: e.id }, "the reconciliation could not correct an entitlement; the next pass tries again");
        }
      }
      pageToken = page.nextPageToken ?? undefined;
    } while (pageToken !== undefined && !this.#stopped);
    logger.info({ entitlements, corrected, failed }, "marketplace reconciliation pass done");
    return { entitlements, corrected, failed };
  }

  /** True when the account is ACCOUNT_ACTIVE at the API (signed up); an active one is remembered. */
  async #isActiveAccount(id: string): Promise<boolean> {
    if (this.#activeAccounts.has(id)) return true;
    const account = await this.#d.api.getAccount(id);
    if (account?.state !== AccountState.active) return false;
    this.#activeAccounts.add(id);
    return true;
  }

  // ---- helpers -----------------------------------------------------------

  #tenant(account: string): ReconciledTenant | undefined {
    const s = this.#d.runtime.governors.status(account);
    if (s === undefined) return undefined;
    return {
      state: s.state,
      plan: s.plan,
      pendingCancellation: s.pending_cancellation === true,
      offerStartsAt: s.scheduled_offer === undefined ? null : Date.parse(s.scheduled_offer.starts_at),
    };
  }

  /** Runs an API call; a failure becomes the answer (503 for one that may succeed later, 422 for a refusal). */
  async #read<T>(call: () => Promise<T>): Promise<{ value: T } | MarketplaceOutcome> {
    try {
      return { value: await call() };
    } catch (err) {
      if (!(err instanceof ProcurementApiError)) throw err;
      this.#d.runtime.logger.warn({ code: err.code, status: err.status, message: err.message }, "the Procurement API call failed");
      if (err.retryable) {
        return { status: 503, code: err.code, message: `the Procurement API did not answer: ${err.message}; the event is delivered again later`, retryAfterS: this.#d.runtime.config.retryAfterS };
      }
      return { status: 422, code: err.code, message: `the Procurement API refused the call: ${err.message}` };
    }
  }

  async #recordEvent(eventId: string, eventType: string, entitlementId: string, note: string): Promise<MarketplaceOutcome> {
    const receipt = await this.#d.marketplace.recordEvent({ eventId, eventType, entitlementId }, note);
    return { status: 202, body: { acknowledged: true, acted: false, entitlement_id: entitlementId, receipt: ref(receipt) } };
  }

  /** An entitlement id that cannot name a tenant (Google's ids are UUIDs): recorded and acknowledged, with an alert. */
  async #unusableId(n: ProcurementNotification, id: string): Promise<MarketplaceOutcome> {
    this.#d.runtime.alerts.alert({
      code: "procurement_entitlement_id_unusable",
      message: `procurement event ${n.eventId} names an entitlement id Governor cannot use as a tenant id`,
      ledger: PLATFORM_LEDGER,
      details: { event_id: n.eventId, event_type: n.eventType },
    });
    return this.#recordEvent(n.eventId, n.eventType, id, "the entitlement id is not usable as a tenant id (letters, digits, '.', '_', '-', at most 128); nothing done");
  }

  #alert(code: string, message: string, e: ProcurementEntitlement): void {
    try {
      this.#d.runtime.alerts.alert({ code, message: message.slice(0, 1024), ledger: e.id, details: { entitlement_id: e.id, procurement_account_id: e.accountId, sku_id: e.product } });
    } catch (err) {
      this.#d.runtime.logger.error({ err, code }, "an alert could not be raised");
    }
  }
}

function reconciledDraft(e: ProcurementEntitlement, tenant: ReconciledTenant | undefined, correction: Correction, trigger: string): ReceiptDraft {
  return {
    operation: "entitlement_reconciled",
    status: "success",
    duration_ms: 0,
    entitlement_id: e.id,
    ...(e.accountId === null ? {} : { procurement_account_id: e.accountId }),
    api_state: /^[A-Z][A-Z0-9_]{0,63}$/.test(e.state) ? e.state : "UNKNOWN",
    governor_state: tenant?.state ?? "new",
    correction,
    trigger: trigger.slice(0, 64),
  };
}
