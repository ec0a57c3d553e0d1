/**
 * The marketplace lifecycle: provision (workflow 1), plan change, cancel
 * (workflow 6), and a record of every event type Governor does not act on.
 * Event names follow Google Cloud Marketplace's.
 */
import { z } from "zod";
import { accountIdPattern, type LedgerId, type Receipt } from "../ledger/receipt.ts";
import type { Runtime } from "./runtime.ts";

export const MarketplaceEvent = z.object({
  eventId: z.string().min(1).max(256),
  eventType: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, "expected an event type such as ENTITLEMENT_ACTIVE"),
  entitlement: z.object({
    id: z.string().min(1).max(256),
    account_id: z.string().regex(accountIdPattern, "expected an account id: letters, digits, '.', '_', '-' (max 128), starting with a letter or digit"),
    sku_id: z.string().min(1).max(64).optional(),
    plan: z.string().min(1).max(64).optional(),
    region: z.string().max(64).optional(),
  }),
});
export type MarketplaceEvent = z.infer<typeof MarketplaceEvent>;

/** Outcome of one event, as the HTTP layer reports it. */
export type MarketplaceOutcome =
  | { readonly status: 200 | 201 | 202; readonly body: Record<string, unknown> }
  | { readonly status: 404 | 409 | 422; readonly code: string; readonly message: string };

const HANDLED = new Set(["ENTITLEMENT_ACTIVE", "ENTITLEMENT_PLAN_CHANGED", "ENTITLEMENT_CANCELLED"]);

export class Marketplace {
  readonly #rt: Runtime;
  /** First result of each webhook id: a repeat returns it and changes nothing. */
  readonly #seen = new Map<string, Promise<MarketplaceOutcome>>();

  constructor(runtime: Runtime) {
    this.#rt = runtime;
  }

  /** Handles an event once per `deliveryId` (the webhook id, or the Pub/Sub message's eventId). */
  handle(deliveryId: string, event: MarketplaceEvent): Promise<MarketplaceOutcome> {
    const earlier = this.#seen.get(deliveryId);
    if (earlier !== undefined) return earlier;
    const outcome = this.#dispatch(event);
    this.#seen.set(deliveryId, outcome);
    // A failure that changed nothing may be retried with the same id.
    outcome.then(
      (o) => {
        if (o.status === 409) this.#seen.delete(deliveryId);
      },
      () => this.#seen.delete(deliveryId),
    );
    if (this.#seen.size > 100_000) {
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    return outcome;
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
        const receipt = await this.#rt.recordPlatform({
          operation: "marketplace_event_recorded",
          status: "success",
          duration_ms: 0,
          event_id: event.eventId,
          event_type: event.eventType,
          entitlement_id: event.entitlement.id,
          note: HANDLED.has(event.eventType) ? "handled" : "acknowledged; Governor takes no action on this event type",
        });
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
    if (current.state === "decommissioned") return { status: 200, body: { account_id: account, state: "decommissioned", already: true } };
    await this.#rt.host.cancel(account, { eventId: event.eventId, entitlementId: event.entitlement.id, drainMs: this.#rt.config.drainMs });
    const [last] = await this.#rt.store.read(account as LedgerId, this.#rt.writer.durableSize(account) - 1, 1);
    return { status: 200, body: { account_id: account, state: "decommissioned", receipt: last ? ref(last) : null } };
  }
}

/** How a response names a receipt: enough to fetch it and check it. */
export function ref(r: Receipt) {
  return { ledger: r.ledger, seq: r.seq, operation: r.operation, hash: r.hash };
}
