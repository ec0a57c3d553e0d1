/**
 * Every tenant's governor in this process: where a command reaches its
 * governor and where the receipts it decides are written.
 *
 * Order of things for every command: the governor decides and applies
 * (`run` in governors/governor.ts: receipts sealed into the ledger log and
 * applied, reactions decided in turn) → the log's group commit makes the
 * receipts durable → only then do the effects run (effects.ts) and the caller
 * get its answer (replies.ts). This class adds no decision of its own: it
 * finds the governor, hands it the command, writes what it decided, and takes
 * a tenant out of service when its governor fails.
 */
import type { Logger } from "pino";
import type { ArchivedCommand, ChangePlanCommand, Command, EntitlementStatusCommand, ProvisionCommand, SignalReply } from "../../governors/decision.ts";
import type { BillingState } from "../../governors/billing.ts";
import { usedThisMonth } from "../../governors/deciders/policy.ts";
import { run, type GovernorEnv } from "../../governors/governor.ts";
import type { PolicyResolver, PolicyView } from "../../governors/policy-view.ts";
import { canStartQueued, initialGovernorState, resolveStatePolicy, ReplayDivergenceError } from "../../governors/state.ts";
import { monthOf } from "../../governors/timestamps.ts";
import { ChainBrokenError } from "../ledger/chain-link.ts";
import type { LedgerId, Receipt, ReceiptDraft } from "../ledger/receipt.ts";
import type { LedgerLog } from "../log/ledger-log.ts";
import type { TenantPolicyFacts } from "../policy/compat.ts";
import { StoreUnavailableError, type AlertSink, type Clock, type LedgerStore } from "../ports/index.ts";
import { EffectRunner } from "./effects.ts";
import { newGovernorRecord, type Governor } from "./governor-record.ts";
import type { ActionHandler } from "./handlers.ts";
import { describeFault, QuarantineCode, Quarantines, type Quarantine } from "./quarantine.ts";
import { rebuildFromStore } from "./rebuild.ts";
import { Replies } from "./replies.ts";
import { Snapshots } from "./snapshots.ts";
import { emptyStatus, statusOf, type GovernorStatus, type LifecycleState } from "./status.ts";

export { QuarantineCode } from "./quarantine.ts";
export type { GovernorStatus, LifecycleState } from "./status.ts";

export interface GovernorsOptions {
  readonly store: LedgerStore;
  readonly log: LedgerLog;
  readonly clock: Clock;
  readonly newId: () => string;
  readonly handlers: ReadonlyMap<string, ActionHandler>;
  readonly resolvePolicy: PolicyResolver;
  readonly alerts: AlertSink;
  readonly logger: Logger;
  /** Params larger than this (bytes of JSON) are refused. */
  readonly maxParamsBytes?: number;
  /** Receipts between two snapshots of a governor (at least; grows with the ledger). */
  readonly snapshotEvery?: number;
  /** Hook for the decommission workflow: export the ledger's archive. */
  readonly exportArchive?: (ledger: LedgerId) => Promise<Omit<ArchivedCommand, "now">>;
  /** Hook for the decommission workflow: delete the signal channel. */
  readonly deleteChannel?: (ledger: LedgerId) => Promise<void>;
  /** True while no action may start (safe mode). */
  readonly held?: () => boolean;
  /** Told when a governor's concurrency is set (provisioned, re-planned, scaled). */
  readonly onConcurrency?: (account: string, concurrency: number) => void;
  /**
   * The longest a signal's caller waits for its receipt to become durable
   * (default 2,000 ms): past it the caller hears `not_durable` (503) at once,
   * before safe mode is declared, instead of waiting on a failing store.
   */
  readonly signalDurableMs?: number;
  /** The SKU's current policy: offered to a quarantined governor once it is back (it missed the pushes meanwhile). */
  readonly currentPolicy?: (skuId: string) => PolicyView | undefined;
  /** Told when a tenant is taken out of service (to record it on the platform ledger). */
  readonly onQuarantined?: (account: LedgerId, code: QuarantineCode, reason: string) => void;
  /** Told when a quarantined tenant is back in service. */
  readonly onRestored?: (account: LedgerId, trigger: "automatic" | "operator", downtimeMs: number, refused: number) => void;
}

export interface SignalInput {
  readonly signal_id: string;
  readonly action: string;
  readonly params: Record<string, unknown>;
}

/** A governor is not here, or cannot take the command. */
export class UnknownTenantError extends Error {
  readonly code = "GOVERNOR_UNKNOWN_TENANT";
  constructor(account: string) {
    super(`no tenant "${account}" is provisioned here`);
    this.name = "UnknownTenantError";
  }
}

export class Governors {
  readonly #o: GovernorsOptions;
  readonly #governors = new Map<string, Governor>();
  readonly #effects: EffectRunner;
  readonly #replies: Replies;
  readonly #snapshots: Snapshots;
  readonly #quarantined = new Quarantines();
  /** Ledgers being rebuilt after another writer appended to them, with the signals refused meanwhile. */
  readonly #rebuilding = new Map<string, { since: number; refused: number }>();
  /** Work that needs a ledger's governor, waiting while it is rebuilt. */
  readonly #afterRebuild = new Map<string, (() => void)[]>();
  readonly #env: GovernorEnv;
  /** The ledger each step seals into, and every receipt it sealed while `#captured` is set (to answer with it). */
  #sealing: LedgerId | null = null;
  #captured: Receipt[] | null = null;
  readonly #seal = (draft: ReceiptDraft): Receipt => {
    const receipt = this.#o.log.seal(this.#sealing!, draft);
    this.#captured?.push(receipt);
    return receipt;
  };
  #stopping = false;
  #stopped = false;

  constructor(options: GovernorsOptions) {
    this.#o = options;
    const held = options.held;
    this.#env = {
      policyOf: (state) => resolveStatePolicy(state, options.resolvePolicy),
      limits: { maxParamsBytes: options.maxParamsBytes ?? 16 * 1024, ...(held ? { held } : {}) },
      seal: this.#seal,
    };
    this.#replies = new Replies(options.clock, options.signalDurableMs ?? 2_000);
    this.#snapshots = new Snapshots({ store: options.store, log: options.log, logger: options.logger, ...(options.snapshotEvery === undefined ? {} : { every: options.snapshotEvery }) });
    this.#effects = new EffectRunner({
      log: options.log,
      clock: options.clock,
      handlers: options.handlers,
      alerts: options.alerts,
      logger: options.logger,
      replies: this.#replies,
      governorOf: (account) => this.#governors.get(account),
      dispatch: (g, command) => this.#dispatch(g, command),
      policyOf: (g) => this.#env.policyOf(g.state),
      held: () => held?.() === true,
      rebuilding: (account) => this.#rebuilding.has(account),
      whenRebuilt: (account, work) => this.#whenRebuilt(account, work),
      exportArchive: (g) =>
        options.exportArchive?.(g.account) ??
        Promise.resolve({ archiveUri: "none:", archiveBytes: 0, archiveSha256: "0".repeat(64), receiptCount: options.log.durableSize(g.account) }),
      deleteChannel: (g) => options.deleteChannel?.(g.account) ?? Promise.resolve(),
      tuneChannel: (account, concurrency) => options.onConcurrency?.(account, concurrency),
    });
  }

  get log(): LedgerLog {
    return this.#o.log;
  }

  /**
   * Has a governor decide a command and writes what it decided; its effects
   * then run. A fault inside one governor's decision (a bug, a library's
   * exception on an input) takes that tenant out of service, never the process.
   */
  #dispatch(g: Governor, command: Command): void {
    // After stop the ledger log is closed: an effect that ends now (a slow rollback) is not decided.
    if (g.retired || this.#stopped) return;
    let effects;
    this.#sealing = g.account;
    try {
      effects = run(g.state, command, this.#env);
    } catch (err) {
      this.#quarantine(g.account, QuarantineCode.decisionFailed, err ?? new Error("the governor threw"));
      return;
    } finally {
      this.#sealing = null;
    }
    if (effects.length > 0) this.#effects.runAll(g, effects);
    this.#snapshots.maybe(g, false);
  }

  /** Dispatches a command and returns the receipts it sealed. */
  #dispatchCapturing(g: Governor, command: Command): Receipt[] {
    const captured: Receipt[] = [];
    const outer = this.#captured;
    this.#captured = captured;
    try {
      this.#dispatch(g, command);
    } finally {
      this.#captured = outer;
    }
    return captured;
  }

  /** Rebuilds every governor whose ledger exists, then resolves what was in flight when the last process stopped. */
  async start(): Promise<{ governors: number; receiptsReplayed: number }> {
    const ledgers = (await this.#o.store.listLedgers()).filter((l) => l !== "_platform");
    let receiptsReplayed = 0;
    // Rebuilds overlap: each is a few store round trips, which a remote or threaded store answers in parallel.
    let next = 0;
    const failed: { ledger: LedgerId; err: unknown }[] = [];
    const worker = async () => {
      while (next < ledgers.length) {
        const ledger = ledgers[next++]!;
        try {
          receiptsReplayed += await this.#rebuild(ledger);
        } catch (err) {
          // One ledger that does not replay takes its tenant out of service, not the process.
          if (err instanceof StoreUnavailableError) throw err;
          this.#discard(ledger);
          failed.push({ ledger, err });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(32, ledgers.length) }, worker));
    for (const { ledger, err } of failed) this.#quarantine(ledger, quarantineCodeOf(err), err);
    const now = this.#o.clock.now();
    for (const g of this.#governors.values()) {
      // RESUME resolves what was open and starts what was queued; with neither it does nothing.
      if (g.state.open.size > 0) this.#dispatch(g, { type: "RESUME", now });
    }
    return { governors: this.#governors.size, receiptsReplayed };
  }

  /** Rebuilds one governor from the store and opens its ledger for appending. */
  async #rebuild(ledger: LedgerId): Promise<number> {
    const rebuilt = await rebuildFromStore(this.#o.store, ledger, this.#o.logger);
    this.#o.log.open(ledger, rebuilt.resume);
    const g = newGovernorRecord(ledger, rebuilt.state);
    g.lastSnapshotSeq = rebuilt.from;
    this.#governors.set(ledger, g);
    if (rebuilt.replayed >= this.#snapshots.every) this.#snapshots.maybe(g, true);
    return rebuilt.replayed;
  }

  async #ensure(ledger: LedgerId): Promise<Governor> {
    const existing = this.#governors.get(ledger);
    if (existing !== undefined) return existing;
    if (!this.#o.log.isOpen(ledger)) {
      const head = await this.#o.store.head(ledger);
      if (head.size > 0) {
        await this.#rebuild(ledger);
        const rebuilt = this.#governors.get(ledger);
        if (rebuilt !== undefined) return rebuilt;
      } else {
        this.#o.log.open(ledger);
      }
    }
    const found = this.#governors.get(ledger);
    if (found !== undefined) return found;
    const g = newGovernorRecord(ledger, initialGovernorState(ledger));
    this.#governors.set(ledger, g);
    return g;
  }

  // ---- commands ----------------------------------------------------------

  /** Provisions (or re-provisions after a cancel) a tenant's governor; resolves once `entitlement_active` is durable. */
  async provision(account: string, cmd: ProvisionCommand): Promise<Receipt | null> {
    const g = await this.#ensure(account as LedgerId);
    const receipt = this.#dispatchCapturing(g, { type: "PROVISION", ...cmd, now: this.#o.clock.now() }).find((r) => r.operation === "entitlement_active") ?? null;
    await this.#o.log.durable(account);
    return receipt;
  }

  /** Changes a tenant's plan; resolves once `entitlement_plan_changed` is durable. */
  async changePlan(account: string, cmd: ChangePlanCommand): Promise<Receipt | null> {
    const g = this.#governors.get(account);
    if (g === undefined) throw new UnknownTenantError(account);
    const receipt = this.#dispatchCapturing(g, { type: "CHANGE_PLAN", ...cmd, now: this.#o.clock.now() }).find((r) => r.operation === "entitlement_plan_changed") ?? null;
    await this.#o.log.durable(account);
    return receipt;
  }

  /**
   * Suspends (`SUSPEND`) or reinstates (`REINSTATE`) a tenant's entitlement;
   * resolves with the receipt once durable, or null when its state does not
   * take the command (already suspended, not active). A reinstated governor
   * starts what waits in its queue.
   */
  async setSuspended(account: string, suspended: boolean, cmd: EntitlementStatusCommand): Promise<Receipt | null> {
    const g = this.#governors.get(account);
    if (g === undefined) throw new UnknownTenantError(account);
    const now = this.#o.clock.now();
    const operation = suspended ? "entitlement_suspended" : "entitlement_reinstated";
    const receipt = this.#dispatchCapturing(g, { type: suspended ? "SUSPEND" : "REINSTATE", ...cmd, now }).find((r) => r.operation === operation) ?? null;
    if (receipt !== null && !suspended && canStartQueued(g.state)) this.#dispatch(g, { type: "DRAIN_QUEUE", now });
    await this.#o.log.durable(account);
    return receipt;
  }

  /**
   * Records a receipt another service decided, one that changes no governor
   * state (tenant tokens, `entitlement_failed`), on a tenant's ledger,
   * creating the ledger if needed.
   */
  async record(account: string, draft: ReceiptDraft): Promise<Receipt> {
    const g = await this.#ensure(account as LedgerId);
    const receipt = this.#dispatchCapturing(g, { type: "NOTE", draft, now: this.#o.clock.now() })[0];
    if (receipt === undefined) throw new Error(`tenant ${account} is out of service; ${draft.operation} was not recorded`);
    await this.#o.log.durable(account);
    return receipt;
  }

  /** A channel message that is not a signal, on its last delivery: its refusal on the tenant's ledger. */
  async undeliverable(account: string, messageId: string, reason: string): Promise<void> {
    const g = this.#governors.get(account);
    if (g === undefined) return;
    this.#dispatch(g, { type: "UNDELIVERABLE", messageId, reason, now: this.#o.clock.now() });
    await this.#o.log.durable(account);
  }

  /** The entitlement a tenant's governor was provisioned with. */
  entitlementOf(account: string): string | null {
    return this.#governors.get(account)?.state.entitlementId ?? null;
  }

  /**
   * Submits a signal; resolves with the governor's answer once its receipt (if
   * any) is durable. The admission gates in front of the governor are in
   * signal-intake.ts; the ones of this process's own making are here.
   */
  signal(account: string, input: SignalInput, paramsBytes: number): Promise<SignalReply> {
    const quarantine = this.#quarantined.get(account);
    if (quarantine !== undefined) {
      quarantine.refused++;
      return Promise.resolve({ kind: "unavailable", reason: "quarantined" });
    }
    const outage = this.#rebuilding.get(account);
    if (outage !== undefined) {
      outage.refused++;
      return Promise.resolve({ kind: "unavailable", reason: "degraded" });
    }
    const g = this.#governors.get(account);
    if (g === undefined) return Promise.reject(new UnknownTenantError(account));
    return new Promise<SignalReply>((resolve, reject) => {
      if (!this.#replies.expect(account, input.signal_id, resolve)) {
        reject(new Error(`signal ${input.signal_id} is being decided already`));
        return;
      }
      this.#dispatch(g, {
        type: "SIGNAL",
        signal_id: input.signal_id,
        action: input.action,
        params: input.params,
        paramsBytes,
        actionId: this.#o.newId(),
        now: this.#o.clock.now(),
      });
      // Still waiting: the governor failed while deciding (its tenant was quarantined) and named no reply.
      this.#replies.forget(account, input.signal_id)?.({ kind: "unavailable", reason: "quarantined" });
    });
  }

  /** Cancels a tenant: drain, decommission_start, archive, decommission_complete. Resolves at the end. */
  cancel(account: string, cmd: { eventId: string; entitlementId: string; drainMs: number }): Promise<void> {
    const g = this.#governors.get(account);
    if (g === undefined) return Promise.reject(new UnknownTenantError(account));
    return new Promise((resolve, reject) => {
      g.decommissionWaiters.push({ resolve, reject });
      this.#dispatch(g, { type: "CANCEL", ...cmd, now: this.#o.clock.now() });
    });
  }

  /**
   * Sets a governor's concurrency at an operator's request: `governor_scaled`
   * within the plan's maximum, `quota_exceeded` over it. Resolves once the
   * receipt is durable; null when nothing changed.
   */
  async scale(account: string, concurrency: number, reason: "operator" | "lag" | "revert"): Promise<{ state: LifecycleState; receipt: Receipt | null }> {
    const g = this.#governors.get(account);
    if (g === undefined) throw new UnknownTenantError(account);
    const phase = g.state.phase;
    if (phase !== "active") return { state: phase, receipt: null };
    const captured = this.#dispatchCapturing(g, { type: "SCALE", concurrency, reason, now: this.#o.clock.now() });
    const receipt = captured.find((r) => r.operation === "governor_scaled" || r.operation === "quota_exceeded") ?? null;
    if (receipt !== null) await this.#o.log.durable(account);
    return { state: phase, receipt };
  }

  /** One pass of the scaler: every governor looks at its own lag (governors/deciders/scale.ts). */
  scaleTick(): { scaled: number; reverted: number; refused: number } {
    const now = this.#o.clock.now();
    const out = { scaled: 0, reverted: 0, refused: 0 };
    for (const g of this.#governors.values()) {
      if (g.state.phase !== "active" || g.state.plan === null) continue;
      for (const r of this.#dispatchCapturing(g, { type: "SCALE_TICK", now })) {
        if (r.operation === "governor_scaled") {
          if (r.reason === "revert") out.reverted++;
          else out.scaled++;
        } else if (r.operation === "quota_exceeded") out.refused++;
      }
    }
    return out;
  }

  /** After safe mode: every governor with waiting actions starts what its free slots allow. */
  resumeQueues(): void {
    const now = this.#o.clock.now();
    for (const g of this.#governors.values()) if (canStartQueued(g.state)) this.#dispatch(g, { type: "DRAIN_QUEUE", now });
  }

  /** Every tenant whose usage is billed to Service Control, with where its billing stands (the usage reporter's view). */
  *billed(): Generator<{ account: string; billing: BillingState; skuId: string; plan: string; policyVersion: string; phase: string }> {
    for (const g of this.#governors.values()) {
      const s = g.state;
      if (s.billing.since === null || s.skuId === null || s.plan === null || s.policyVersion === null) continue;
      yield { account: g.account, billing: s.billing, skuId: s.skuId, plan: s.plan, policyVersion: s.policyVersion, phase: s.phase };
    }
  }

  /** The running tenants of a SKU as the policy compatibility check sees them. */
  *policyTenants(skuId: string): Generator<TenantPolicyFacts> {
    const month = monthOf(this.#o.clock.now());
    const none: readonly string[] = [];
    for (const g of this.#governors.values()) {
      const gov = g.state;
      if (gov.skuId !== skuId || gov.phase === "new" || gov.phase === "decommissioned") continue;
      const inFlight = gov.open.size === 0 ? none : Array.from(gov.open.values(), (a) => a.action);
      yield { account: g.account, plan: gov.plan, usedThisMonth: usedThisMonth(gov, month), inFlight };
    }
  }

  /**
   * Offers a new policy version to every governor of its SKU. Each decides
   * against its own state: `policy_upgraded` (it switches to the new version
   * in one step, between two signals) or `policy_rollback` (it keeps the
   * previous one). Resolves once every receipt is durable.
   */
  async offerPolicy(policy: PolicyView, forced: boolean): Promise<{ upgraded: number; rolledBack: number }> {
    const now = this.#o.clock.now();
    const touched: LedgerId[] = [];
    let upgraded = 0;
    let rolledBack = 0;
    for (const g of this.#governors.values()) {
      if (g.state.skuId !== policy.skuId) continue;
      const receipts = this.#dispatchCapturing(g, { type: "POLICY_OFFERED", policy, forced, now });
      if (receipts.length === 0) continue;
      touched.push(g.account);
      for (const receipt of receipts) {
        if (receipt.operation === "policy_upgraded") upgraded++;
        else if (receipt.operation === "policy_rollback") rolledBack++;
      }
    }
    await Promise.all(touched.map((l) => this.#o.log.durable(l)));
    return { upgraded, rolledBack };
  }

  // ---- reading -----------------------------------------------------------

  /** True for every tenant here: running, quarantined, or being rebuilt after another writer's appends. */
  has(account: string): boolean {
    return this.#governors.has(account) || this.#quarantined.has(account) || this.#rebuilding.has(account);
  }

  accounts(): string[] {
    if (this.#quarantined.size === 0) return [...this.#governors.keys()];
    return [...new Set([...this.#governors.keys(), ...this.#quarantined.accounts()])];
  }

  /** A tenant's lifecycle state alone (cheap: for checks on every request), or undefined if it is not here. */
  lifecycleOf(account: string): LifecycleState | "quarantined" | undefined {
    if (this.#quarantined.has(account)) return "quarantined";
    return this.#governors.get(account)?.state.phase;
  }

  status(account: string): GovernorStatus | undefined {
    const q = this.#quarantined.get(account);
    if (q !== undefined) {
      const base = q.last ?? emptyStatus(account);
      return { ...base, state: "quarantined", in_flight: 0, quarantine: { code: q.code, since: new Date(q.since).toISOString() } };
    }
    const g = this.#governors.get(account);
    if (g === undefined) return undefined;
    return statusOf(g.state, this.#o.clock.now(), this.#o.log.durableSize(account));
  }

  // ---- another writer, and quarantine -------------------------------------

  /**
   * Another writer appended to this ledger (two runtimes on one store): this
   * one's governor is out of date. It is dropped, with whatever it had not
   * made durable (nothing of that ran or was acknowledged), and rebuilt from
   * the ledger as the store has it. Signals are refused until it is back;
   * then its own ledger says it was out of service, why, and for how long.
   */
  recoverFenced(ledger: LedgerId, err: Error): void {
    if (this.#rebuilding.has(ledger) || this.#stopping || this.#quarantined.has(ledger)) return;
    const g = this.#governors.get(ledger);
    if (g === undefined) return;
    const outage = { since: this.#o.clock.now(), refused: 0 };
    this.#rebuilding.set(ledger, outage);
    this.#o.alerts.alert({ code: "ledger_fenced", message: `another writer appended to ledger ${ledger}; its governor is rebuilt from the store`, ledger });
    this.#retire(g, `ledger ${ledger} was written by another runtime; retry`);
    this.#o.log.release(ledger);
    this.#rebuild(ledger).then(
      () => {
        this.#rebuilding.delete(ledger);
        const rebuilt = this.#governors.get(ledger);
        if (rebuilt !== undefined) {
          this.#effects.rearm(rebuilt);
          this.#dispatch(rebuilt, { type: "OUTAGE_RECOVERED", since: outage.since, refused: outage.refused, cause: err.message, now: this.#o.clock.now() });
        }
        this.#o.logger.info({ ledger }, "governor rebuilt after another writer's appends");
        // What waited for the governor, and the outcomes of rollbacks this process owns, now go to the rebuilt one.
        const waiting = this.#afterRebuild.get(ledger) ?? [];
        this.#afterRebuild.delete(ledger);
        for (const work of waiting) work();
        this.#effects.resumeOwned(ledger);
      },
      (failure: unknown) => {
        this.#rebuilding.delete(ledger);
        this.#afterRebuild.delete(ledger);
        // What the store holds does not replay: the tenant is out of service until an operator restores it.
        this.#quarantine(ledger, quarantineCodeOf(failure), failure);
      },
    );
  }

  #whenRebuilt(account: string, work: () => void): void {
    const waiting = this.#afterRebuild.get(account);
    if (waiting === undefined) this.#afterRebuild.set(account, [work]);
    else waiting.push(work);
  }

  /**
   * Drops a governor from this process: its handlers are aborted, its timers
   * cancelled, and late callbacks of its effects are ignored.
   */
  #retire(g: Governor, waitersError: string): void {
    g.retired = true;
    this.#effects.stopEffectsOf(g);
    for (const w of g.decommissionWaiters.splice(0)) w.reject(new Error(waitersError));
    if (this.#governors.get(g.account) === g) this.#governors.delete(g.account);
  }

  /**
   * Takes one tenant out of service: its governor is dropped (what it had
   * sealed is still made durable), its signals get 503 `TENANT_QUARANTINED`,
   * an alert names it and the code, and `onQuarantined` records it on the
   * platform ledger. The other tenants go on. A decision fault is followed
   * by one automatic rebuild from the ledger (see Quarantines); otherwise an
   * operator restores it.
   */
  #quarantine(account: LedgerId, code: QuarantineCode, err: unknown): void {
    if (this.#quarantined.has(account) || this.#stopped) return;
    const reason = describeFault(err);
    const g = this.#governors.get(account);
    let last: GovernorStatus | undefined;
    try {
      last = g === undefined ? undefined : this.status(account);
    } catch {
      last = undefined;
    }
    const q: Quarantine = { since: this.#o.clock.now(), code, refused: 0, last, restoring: false };
    this.#quarantined.add(account, q);
    this.#o.logger.error({ ledger: account, code, err }, "tenant quarantined: its governor failed; the other tenants go on");
    this.#o.alerts.alert({ code: "tenant_quarantined", message: `tenant ${account} is out of service (${code}): ${reason}`, ledger: account, details: { quarantine_code: code } });
    if (g !== undefined) this.#retire(g, `tenant ${account} was quarantined (${code})`);
    this.#effects.disown(account);
    this.#o.onQuarantined?.(account, code, reason);
    if (code !== QuarantineCode.decisionFailed) return;
    if (!this.#quarantined.mayAutoRestore(account, this.#o.clock.now())) {
      this.#o.logger.warn({ ledger: account }, "tenant failed again soon after an automatic rebuild; it stays out of service until an operator restores it");
      return;
    }
    void this.restore(account, "automatic").catch(() => {});
  }

  /**
   * Rebuilds a quarantined tenant from its ledger and puts it back in
   * service; rejects (and the tenant stays out) if the ledger still does not
   * replay. Resolves false when the tenant is not quarantined.
   */
  async restore(account: string, trigger: "automatic" | "operator" = "operator"): Promise<boolean> {
    const q = this.#quarantined.get(account);
    if (q === undefined) return false;
    if (q.restoring) throw new Error(`tenant ${account} is being rebuilt already`);
    q.restoring = true;
    const ledger = account as LedgerId;
    try {
      // What the failed governor had sealed is made durable (or fails) before the ledger is read back.
      if (this.#o.log.isOpen(ledger)) await this.#o.log.durable(ledger).catch(() => {});
      this.#o.log.release(ledger);
      await this.#rebuild(ledger);
    } catch (err) {
      q.restoring = false;
      this.#discard(ledger);
      this.#o.logger.error({ ledger, err, trigger }, "quarantined tenant could not be rebuilt; it stays out of service");
      throw err;
    }
    this.#quarantined.delete(account);
    const rebuilt = this.#governors.get(account);
    if (rebuilt !== undefined) {
      this.#effects.rearm(rebuilt);
      const gov = rebuilt.state;
      const now = this.#o.clock.now();
      if (gov.open.size > 0 || gov.queue.length > gov.queueHead) this.#dispatch(rebuilt, { type: "RESUME", now });
      // Pushes it missed while out of service: the SKU's current policy is offered to it now, as it was to the others.
      const current = gov.skuId === null ? undefined : this.#o.currentPolicy?.(gov.skuId);
      if (current !== undefined && current.version !== gov.policyVersion) this.#dispatch(rebuilt, { type: "POLICY_OFFERED", policy: current, forced: false, now });
    }
    const downtime = Math.max(0, this.#o.clock.now() - q.since);
    this.#o.logger.info({ ledger, trigger, downtime_ms: downtime }, "quarantined tenant rebuilt from its ledger and back in service");
    this.#o.onRestored?.(ledger, trigger, downtime, q.refused);
    return true;
  }

  /** Drops what a rebuild that failed half-way left: the governor and the log's hold on its ledger. */
  #discard(ledger: LedgerId): void {
    this.#governors.delete(ledger);
    this.#o.log.release(ledger);
  }

  /** True while the tenant is out of service. */
  isQuarantined(account: string): boolean {
    return this.#quarantined.has(account);
  }

  /** Stops intake, lets running actions finish or time out, writes snapshots and checkpoints. */
  async stop(options: { drainMs?: number } = {}): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const until = this.#o.clock.now() + (options.drainMs ?? 5_000);
    while (this.#o.clock.now() < until && [...this.#governors.values()].some((g) => g.state.busy > 0)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await this.#o.log.flush();
    await this.#snapshots.settled();
    for (const g of this.#governors.values()) this.#snapshots.maybe(g, true);
    await this.#o.log.flush();
    await this.#snapshots.settled();
    await this.#o.log.close();
    this.#stopped = true;
    this.#replies.stop();
    this.#effects.stop();
    for (const g of this.#governors.values()) this.#effects.stopEffectsOf(g);
  }
}

/** The quarantine code of a failure to rebuild a governor from its ledger. */
function quarantineCodeOf(err: unknown): QuarantineCode {
  if (err instanceof ChainBrokenError) return QuarantineCode.chainBroken;
  if (err instanceof ReplayDivergenceError) return QuarantineCode.replayDivergence;
  return QuarantineCode.rebuildFailed;
}
