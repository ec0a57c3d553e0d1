/**
 * What a governor needs of a policy: plain data and pure validators, compiled
 * by the runtime from a policy document. Governors never load policies.
 */

export interface ActionView {
  readonly name: string;
  readonly handler: string;
  readonly timeoutMs: number;
  readonly rollback: "auto" | "none";
  /** Handler settings from the policy (e.g. the http handler's URLs). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Returns null when the params are valid, else a message naming what is wrong. */
  validateParams(params: Record<string, unknown>): string | null;
}

export interface PlanView {
  readonly name: string;
  readonly monthlyActions: number;
  readonly concurrentActions: number;
  readonly maxConcurrency: number;
  readonly costPerSlotUsd: string;
  readonly permits: ReadonlySet<string>;
  /** Google Cloud Marketplace: the metrics this plan bills (none when absent). */
  readonly metering?: readonly MeteringView[];
}

/** One billed metric: its name at Service Control (after the service name) and the receipts it counts. */
export interface MeteringView {
  readonly metric: string;
  readonly counts: "action_complete" | "action_started";
}

/** Google Cloud Marketplace: how requests on this SKU's entitlements are decided. */
export interface MarketplaceView {
  readonly approval: "auto" | "manual";
  /** Plans accepted; null: every plan. */
  readonly acceptPlans: ReadonlySet<string> | null;
  /** Regions accepted; null: any. */
  readonly acceptRegions: ReadonlySet<string> | null;
}

/** When the scaler adds concurrency, and how long the change has to show. */
export interface ScalingView {
  readonly queueDepthThreshold: number;
  readonly oldestWaitMsThreshold: number;
  readonly windowMs: number;
  readonly step: number;
}

export interface PolicyView {
  readonly skuId: string;
  readonly version: string;
  readonly plans: ReadonlyMap<string, PlanView>;
  readonly actions: ReadonlyMap<string, ActionView>;
  readonly scaling: ScalingView;
  /** Absent: approve automatically whatever plan the policy has. */
  readonly marketplace?: MarketplaceView;
}

/** Finds the immutable policy of a SKU at a version (deterministic: pushed versions never change). */
export type PolicyResolver = (skuId: string, version: string) => PolicyView | undefined;
