/**
 * The governor host: owns every tenant's governor in this process, routes
 * commands to it, supplies the effects its statechart names, and is the
 * single writer of its ledger (through the LedgerWriter).
 *
 * Order of things for every decision: the governor decides (receipts named,
 * effects named) → the writer seals the receipts, the governor applies them
 * (RECORDED) → the group commit makes them durable → only then do the
 * effects run and the caller get its answer.
 */
import type { Logger } from "pino";
import { createActor, type Actor } from "xstate";
import { decidePolicyOffer, usedThisMonth, type Decision, type SignalReply, type Effect, type OpenActionRef, type RollbackCause } from "../../governors/decide.ts";
import { decodeSnapshotState, encodeSnapshotState, evolve, initialGovernorState, oldestWaitMs, queueDepth, ReplayDivergenceError, type GovernorState, type StoredGovernorState } from "../../governors/governor-state.ts";
import type { PolicyResolver, PolicyView } from "../../governors/policy-view.ts";
import { replay, restoreSnapshot, type LifecycleState } from "../../governors/replay.ts";
import { monthOf } from "../../governors/timestamps.ts";
import { tenantGovernor, type ArchivedCommand, type ChangePlanCommand, type GovernorEvent, type ProvisionCommand } from "../../governors/tenant-governor.ts";
import { ChainBrokenError, ChainLink } from "../ledger/chain-link.ts";
import { hexToBytes } from "../ledger/hash.ts";
import { MerkleFrontier } from "../ledger/merkle.ts";
import type { LedgerId, Receipt, ReceiptDraft } from "../ledger/receipt.ts";
import type { TenantPolicyFacts } from "../policy/compat.ts";
import { StoreUnavailableError, type AlertSink, type Clock, type LedgerStore } from "../ports.ts";
import { HandlerError, type ActionContext, type ActionHandler } from "./handlers.ts";
import { DeadlineQueue, type Deadline } from "./deadline-queue.ts";
import { LedgerWriter } from "./ledger-writer.ts";

/**
 * Receipts that change a governor's bookkeeping only (not its lifecycle,
 * policy or concurrency): the host applies them without a macrostep.
 */
const BOOKKEEPING: ReadonlySet<string> = new Set([
  "action_queued",
  "action_started",
  "action_complete",
  "action_timeout",
  "action_failed",
  "action_rolled_back",
  "action_refused",
  "escalation",
  "quota_exceeded",
  "policy_rollback",
]);

/**
 * The reason a handler's AbortSignal gives when its deadline passes: a
 * `TimeoutError`, as `AbortSignal.timeout()` gives. One shared instance: a
 * thousand deadlines that pass together would otherwise make a thousand
 * DOMExceptions, each with its stack, on the path that writes `action_timeout`.
 */
const DEADLINE_PASSED = new DOMException("the action's deadline passed", "TimeoutError");

/** The longest a rollback's start or outcome waits for deadlines that keep coming due (see `#afterDeadlines`). */
const LOW_PRIORITY_MAX_WAIT_MS = 50;

/** Bumped whenever the snapshot layout or the meaning of a governor's state changes: older snapshots are then ignored. */
export const SNAPSHOT_VERSION = "governor-snapshot/2";

export interface GovernorHostOptions {
  readonly store: LedgerStore;
  readonly writer: LedgerWriter;
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
  /** An idle governor's actor is released after this long (its state stays; the actor is re-created on the next command). */
  readonly idleAfterMs?: number;
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

/** Why a tenant was taken out of service. */
export const QuarantineCode = {
  /** Its governor threw while deciding (a bug, or a library's exception on an input). */
  decisionFailed: "decision_failed",
  /** Its receipts do not replay: the ledger and the code disagree. */
  replayDivergence: "replay_divergence",
  /** Its stored receipts do not link (a prev_hash is not the hash before it). */
  chainBroken: "chain_broken",
  /** Its governor could not be rebuilt for another reason. */
  rebuildFailed: "rebuild_failed",
} as const;
export type QuarantineCode = (typeof QuarantineCode)[keyof typeof QuarantineCode];

/** A quarantined tenant: why, since when, and how many signals were refused meanwhile. */
interface Quarantine {
  readonly since: number;
  readonly code: QuarantineCode;
  refused: number;
  /** What it was when it was taken out (none if it never came up). */
  readonly last: GovernorStatus | undefined;
  /** A rebuild is under way. */
  restoring: boolean;
}

/** A quarantined tenant whose rebuild was asked for automatically less than this long ago waits for an operator. */
const AUTO_RESTORE_EVERY_MS = 10 * 60_000;


export interface SignalInput {
  readonly signal_id: string;
  readonly action: string;
  readonly params: Record<string, unknown>;
}

/** What an operator may see of a governor: no business data. */
export interface GovernorStatus {
  readonly account: string;
  /** The lifecycle state, or `quarantined` while the tenant is out of service (see `quarantine`). */
  readonly state: LifecycleState | "quarantined";
  /** Set while the tenant is quarantined: why and since when (no business data). */
  readonly quarantine?: { readonly code: QuarantineCode; readonly since: string };
  readonly sku_id: string | null;
  readonly plan: string | null;
  readonly policy_version: string | null;
  readonly concurrency: number;
  readonly in_flight: number;
  readonly queue_depth: number;
  readonly oldest_wait_ms: number;
  readonly last_success_at: string | null;
  readonly ledger_size: number;
}

/** A governor is not here, or cannot take the command. */
export class UnknownTenantError extends Error {
  readonly code = "GOVERNOR_UNKNOWN_TENANT";
  constructor(account: string) {
    super(`no tenant "${account}" is provisioned here`);
    this.name = "UnknownTenantError";
  }
}

type GovernorActor = Actor<typeof tenantGovernor>;

/** A rollback this process runs, or ran and has yet to see recorded: its ledger, and its outcome once it has ended. */
interface OwnedRollback {
  readonly account: LedgerId;
  outcome: GovernorEvent | null;
}

interface Governor {
  readonly account: LedgerId;
  /** The running statechart, or null while the governor is parked (idle). */
  actor: GovernorActor | null;
  /** A parked governor's lifecycle state and its state (the actor's context when it runs). */
  parked: { value: LifecycleState; gov: GovernorState } | null;
  lastUsed: number;
  /** Handlers running, by action id; null while none has run since the governor was parked (10,000 idle governors: 2 MB less). */
  controllers: Map<string, AbortController> | null;
  /** Armed deadlines, by action id; null likewise. */
  deadlines: Map<string, Deadline> | null;
  drainTimer: { cancel(): void } | null;
  /** Where the reply of the SIGNAL being processed goes. */
  replyTo: ((reply: SignalReply) => void) | null;
  /** Callers waiting for the end of a decommission. */
  decommissionWaiters: { resolve: () => void; reject: (e: Error) => void }[];
  lastSnapshotSeq: number;
  snapshotting: boolean;
  /** Dropped (its ledger was written by another runtime): late callbacks of its effects are ignored. */
  retired: boolean;
}

export class GovernorHost {
  readonly #o: GovernorHostOptions;
  readonly #governors = new Map<string, Governor>();
  readonly #machine;
  #stopping = false;
  #stopped = false;
  readonly #deadlines: DeadlineQueue;
  /** While set, every receipt the host seals is also put here (to answer with it). */
  #capture: Receipt[] | null = null;
  /** Per governor: the `lastScale.at` whose window the scaler has judged. */
  readonly #scaleJudged = new Map<string, number>();
  /** Per governor: when the scaler last recorded `quota_exceeded` (once per window, not every tick). */
  readonly #quotaNotedAt = new Map<string, number>();
  readonly #snapshotWrites = new Set<Promise<void>>();

  constructor(options: GovernorHostOptions) {
    this.#o = options;
    this.#deadlines = new DeadlineQueue(options.clock);
    // One machine with the runtime's effects, shared by every governor: each
    // effect finds its governor through the account in the context.
    const effect = ({ context }: { context: { gov: GovernorState } }, e: Effect) => this.#effect(context.gov.account as LedgerId, e);
    this.#machine = tenantGovernor.provide({
      actions: {
        record: ({ context }, draft: ReceiptDraft) => this.#record(this.#gov(context.gov.account), draft),
        // A whole decision in one action: the hot path of every signal.
        decided: ({ context }, decision: Decision) => {
          const account = context.gov.account as LedgerId;
          const g = this.#gov(account);
          for (const draft of decision.drafts) this.#record(g, draft);
          for (const e of decision.effects) this.#effect(account, e);
        },
        runHandler: effect,
        abortHandler: effect,
        runRollback: effect,
        armDeadline: effect,
        cancelDeadline: effect,
        reply: effect,
        alert: effect,
        armDrainDeadline: effect,
        exportArchive: effect,
        deleteChannel: effect,
      },
    });
  }

  #gov(account: string): Governor {
    const g = this.#governors.get(account);
    if (g === undefined) throw new Error(`governor ${account} vanished`);
    return g;
  }

  /**
   * Runs an effect a decision named. Those that act on the world wait until
   * the receipts before them are durable (`#later`), and find their governor
   * when they run: by then it may have been rebuilt.
   */
  #effect(account: LedgerId, e: Effect): void {
    const gov = () => this.#gov(account);
    switch (e.type) {
      case "runHandler":
        return this.#later(gov(), () => this.#runHandler(gov(), e));
      case "abortHandler":
        return this.#later(gov(), () => gov().controllers?.get(e.actionId)?.abort(DEADLINE_PASSED));
      case "runRollback":
        return this.#later(gov(), () => {
          const since = this.#o.clock.now();
          this.#afterDeadlines(() => this.#runRollback(account, e, since), since);
        });
      case "armDeadline":
        return this.#armDeadline(gov(), e.actionId, e.at);
      case "cancelDeadline": {
        const g = gov();
        const d = g.deadlines?.get(e.actionId);
        if (d !== undefined) this.#deadlines.cancel(d);
        g.deadlines?.delete(e.actionId);
        return;
      }
      case "reply": {
        const g = gov();
        const to = g.replyTo;
        g.replyTo = null;
        if (to === null) return;
        // If the decision never becomes durable the caller hears so, never silence; if it is not durable
        // within the admission deadline, the caller hears that at once (its outcome comes with a repeat).
        const settle = this.#awaitDurableReply(to);
        this.#later(g, () => settle(e.reply), () => settle({ kind: "unavailable", reason: "degraded" }));
        return;
      }
      case "alert":
        return this.#later(gov(), () => this.#o.alerts.alert({ code: e.code, message: e.message, ledger: account, details: e.details }));
      case "armDrainDeadline": {
        const g = gov();
        g.drainTimer?.cancel();
        g.drainTimer = this.#o.clock.setTimeout(() => this.#send(g, { type: "DRAIN_EXPIRED", now: this.#o.clock.now() }), Math.max(0, e.at - this.#o.clock.now()));
        return;
      }
      case "exportArchive":
        return this.#later(gov(), () => void this.#exportArchive(gov()));
      case "deleteChannel":
        return this.#later(gov(), () => void this.#finishDecommission(gov()));
    }
  }

  get writer(): LedgerWriter {
    return this.#o.writer;
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
      const gov = this.#view(g).gov;
      // RESUME resolves what was open and starts what was queued; with neither it does nothing.
      if (gov.open.size > 0) this.#send(g, { type: "RESUME", now });
    }
    this.#startSweeper();
    return { governors: this.#governors.size, receiptsReplayed };
  }

  /** Rebuilds one governor from its snapshot (if it still matches the ledger) and the receipts after it. */
  async #rebuild(ledger: LedgerId): Promise<number> {
    const { store, writer } = this.#o;
    const [head, snap, checkpoint] = await Promise.all([store.head(ledger), store.getSnapshot(ledger), store.latestCheckpoint(ledger)]);
    let from = 0;
    let value: LifecycleState = "new";
    let state: GovernorState | undefined;
    let frontier = new MerkleFrontier();
    if (snap !== null && snap.version === SNAPSHOT_VERSION && snap.seq <= head.size && snap.seq > 0) {
      // The snapshot must still describe this ledger: the receipt it ends at has the hash it recorded.
      const lastHash = snap.seq === head.size ? head.lastHash : (await store.read(ledger, snap.seq - 1, 1))[0]?.hash;
      if (lastHash === snap.lastHash) {
        const saved = snap.state as { value: LifecycleState; gov: StoredGovernorState; frontier: unknown };
        try {
          state = decodeSnapshotState(saved.gov);
          frontier = MerkleFrontier.fromJSON(saved.frontier as never);
          value = saved.value;
          from = snap.seq;
        } catch (err) {
          state = undefined;
          frontier = new MerkleFrontier();
          this.#o.logger.warn({ ledger, err }, "snapshot cannot be read; replaying from seq 0");
        }
      } else {
        this.#o.logger.warn({ ledger }, "snapshot does not match the ledger; replaying from seq 0");
      }
    }
    let snapshot = restoreSnapshot(
      { account: ledger, resolvePolicy: this.#o.resolvePolicy, limits: this.#limits(), state: state ?? initialGovernorState(ledger) },
      value,
    );
    const page = 10_000;
    let replayed = 0;
    // Every receipt read must link to the one before it: a chain that does not is never continued.
    const link = from === 0 ? new ChainLink(ledger) : new ChainLink(ledger, { seq: from - 1, hash: snapshot.context.gov.lastHash ?? "" });
    for (let seq = from; seq < head.size; seq += page) {
      // Never past the head read above: another writer may be appending, and the writer resumes at that head.
      const receipts = await store.read(ledger, seq, Math.min(page, head.size - seq));
      for (const r of receipts) link.next(r);
      snapshot = replay(snapshot, receipts);
      for (const r of receipts) frontier.push(hexToBytes(r.hash));
      replayed += receipts.length;
    }
    if (head.size > from && link.lastHash !== head.lastHash) throw new ChainBrokenError(ledger, head.size - 1, `ledger ${ledger}: its head hash is not the hash of its last receipt`);
    writer.open(ledger, {
      size: head.size,
      lastHash: head.lastHash,
      lastTimestamp: head.lastTimestamp,
      frontier,
      checkpointed: checkpoint?.size ?? 0,
    });
    const g = this.#adopt(ledger, snapshot);
    g.lastSnapshotSeq = from;
    if (replayed >= this.#snapshotEvery()) this.#maybeSnapshot(g, true);
    return replayed;
  }

  /** Registers a governor, parked: its actor is created by the first command. */
  #adopt(ledger: LedgerId, snapshot?: ReturnType<typeof restoreSnapshot>): Governor {
    const g: Governor = {
      account: ledger,
      actor: null,
      parked: snapshot === undefined ? { value: "new", gov: initialGovernorState(ledger) } : { value: snapshot.value as LifecycleState, gov: snapshot.context.gov },
      lastUsed: this.#o.clock.now(),
      controllers: null,
      deadlines: null,
      drainTimer: null,
      replyTo: null,
      decommissionWaiters: [],
      lastSnapshotSeq: 0,
      snapshotting: false,
      retired: false,
    };
    this.#governors.set(ledger, g);
    return g;
  }

  /** The governor's running actor, waking it from its parked state if needed. */
  #actor(g: Governor): GovernorActor {
    if (g.actor !== null) return g.actor;
    const parked = g.parked!;
    const snapshot = restoreSnapshot({ account: g.account, resolvePolicy: this.#o.resolvePolicy, limits: this.#limits(), state: parked.gov }, parked.value);
    const actor = createActor(this.#machine, { input: { account: g.account, resolvePolicy: this.#o.resolvePolicy, limits: this.#limits() }, snapshot });
    // With an error listener XState keeps an action's exception in the snapshot (`#send` quarantines the
    // tenant) instead of rethrowing it from a timer, where it would end the process.
    actor.subscribe({ error: () => {} });
    g.actor = actor;
    g.parked = null;
    actor.start();
    return actor;
  }

  /** What the governor is, running or parked. */
  #view(g: Governor): { value: LifecycleState; gov: GovernorState; policy: PolicyView | null } {
    if (g.actor !== null) {
      const snap = g.actor.getSnapshot();
      return { value: snap.value as LifecycleState, gov: snap.context.gov, policy: snap.context.policy };
    }
    return { value: g.parked!.value, gov: g.parked!.gov, policy: null };
  }

  /** Parks governors that have nothing under way and were not used for `idleAfterMs`. */
  #sweep(): void {
    const idleAfter = this.#o.idleAfterMs ?? 30_000;
    const now = this.#o.clock.now();
    for (const g of this.#governors.values()) {
      if (g.actor !== null && now - g.lastUsed >= idleAfter) this.#park(g);
    }
  }

  /** Releases a governor's actor if nothing is under way (state kept); true when parked. */
  #park(g: Governor): boolean {
    if (g.actor === null) return true;
    const snap = g.actor.getSnapshot();
    const value = snap.value as LifecycleState;
    const quiet =
      (value === "new" || value === "active" || value === "suspended" || value === "degraded" || value === "decommissioned") &&
      snap.context.gov.open.size === 0 &&
      g.replyTo === null &&
      (g.deadlines?.size ?? 0) === 0 &&
      (g.controllers?.size ?? 0) === 0 &&
      g.drainTimer === null &&
      g.decommissionWaiters.length === 0 &&
      !g.snapshotting &&
      this.#o.writer.sealedSize(g.account) === this.#o.writer.durableSize(g.account);
    if (!quiet) return false;
    g.parked = { value, gov: snap.context.gov };
    g.actor.stop();
    g.actor = null;
    g.controllers = null;
    g.deadlines = null;
    return true;
  }

  #sweeper: { cancel(): void } | null = null;
  #startSweeper(): void {
    const every = Math.max(10, Math.floor((this.#o.idleAfterMs ?? 30_000) / 2));
    const tick = () => {
      this.#sweep();
      this.#sweeper = this.#o.clock.setTimeout(tick, every);
    };
    this.#sweeper = this.#o.clock.setTimeout(tick, every);
  }

  #limits() {
    return { maxParamsBytes: this.#o.maxParamsBytes ?? 16 * 1024, ...(this.#o.held ? { held: this.#o.held } : {}) };
  }

  #snapshotEvery(): number {
    return this.#o.snapshotEvery ?? 10_000;
  }

  /** Sends a command and takes a snapshot if one is due. */
  #send(g: Governor, event: GovernorEvent): void {
    // After stop the ledger writer is closed: an effect that ends now (a slow rollback) is not decided.
    if (g.retired || this.#stopped) return;
    // A fault inside one governor's decision (a bug, a library's exception on
    // an input) takes that tenant out of service, never the process.
    let failure: unknown = null;
    try {
      const actor = this.#actor(g);
      g.lastUsed = this.#o.clock.now();
      actor.send(event);
      const snap = actor.getSnapshot();
      if (snap.status === "error") failure = snap.error ?? new Error("the governor stopped with an error");
    } catch (err) {
      failure = err ?? new Error("the governor threw");
    }
    if (failure !== null) {
      this.#quarantine(g.account, QuarantineCode.decisionFailed, failure);
      return;
    }
    this.#maybeSnapshot(g, false);
  }

  #record(g: Governor, draft: ReceiptDraft): void {
    const receipt = this.#o.writer.seal(g.account, draft);
    this.#capture?.push(receipt);
    if (this.#o.onConcurrency !== undefined && (receipt.operation === "governor_scaled" || receipt.operation === "entitlement_active" || receipt.operation === "entitlement_plan_changed")) {
      const set = receipt.concurrency;
      this.#later(g, () => this.#o.onConcurrency?.(g.account, set));
    }
    const actor = this.#actor(g);
    const snap = actor.getSnapshot();
    const gov = snap.context.gov;
    if (BOOKKEEPING.has(receipt.operation) && receipt.seq === gov.lastSeq + 1) {
      // A receipt that changes bookkeeping only is applied here, by the same `evolve` the machine's
      // RECORDED handler runs, without a macrostep of its own; the machine is asked for a reaction only
      // when one is due (the next queued start, or the end of a drain).
      evolve(gov, receipt);
      const now = this.#o.clock.now();
      if (snap.value === "active") {
        if (gov.queue.length > gov.queueHead && gov.busy < gov.concurrency && this.#o.held?.() !== true) actor.send({ type: "DRAIN_QUEUE", now });
      } else if (snap.value === "draining" && gov.open.size === 0) {
        actor.send({ type: "FINISH_DRAIN", now });
      }
      return;
    }
    // Applied once the current step ends (the actor queues it): the next command sees it.
    actor.send({ type: "RECORDED", receipt, now: this.#o.clock.now() });
  }

  /** Runs an effect once the receipts before it are durable; if they never will be, the effect is dropped (and `failed` told). */
  #later(g: Governor, run: () => void, failed?: () => void): void {
    this.#o.writer.afterDurable(g.account, run, (err) => {
      this.#o.logger.warn({ ledger: g.account, err: err.message }, "effect dropped: its receipts could not be made durable");
      failed?.();
    });
  }

  /**
   * Rollbacks this process owns (it ran the effect that asked for them), by
   * action id, until their outcome is recorded. Another runtime's append may
   * make the governor be rebuilt while one runs, and the outcome's receipt
   * may lose its append: the outcome is kept here and the rebuilt governor
   * records it. No other runtime runs the rollback, and none is orphaned.
   */
  readonly #rollbacks = new Map<string, OwnedRollback>();
  /** Work that needs a ledger's governor, waiting while it is rebuilt. */
  readonly #afterRebuild = new Map<string, (() => void)[]>();

  /** Ledgers being rebuilt after another writer appended to them, with the signals refused meanwhile. */
  readonly #rebuilding = new Map<string, { since: number; refused: number }>();

  /**
   * Another writer appended to this ledger (two runtimes on one store): this
   * one's governor is out of date. It is dropped, with whatever it had not
   * made durable (nothing of that ran or was acknowledged), and rebuilt from
   * the ledger as the store has it. Signals are refused until it is back.
   */
  recoverFenced(ledger: LedgerId, err: Error): void {
    if (this.#rebuilding.has(ledger) || this.#stopping || this.#quarantined.has(ledger)) return;
    const g = this.#governors.get(ledger);
    if (g === undefined) return;
    const outage = { since: this.#o.clock.now(), refused: 0 };
    this.#rebuilding.set(ledger, outage);
    this.#o.alerts.alert({ code: "ledger_fenced", message: `another writer appended to ledger ${ledger}; its governor is rebuilt from the store`, ledger });
    this.#retire(g, "degraded", `ledger ${ledger} was written by another runtime; retry`);
    this.#o.writer.release(ledger);
    this.#rebuild(ledger).then(
      () => {
        this.#rebuilding.delete(ledger);
        const rebuilt = this.#governors.get(ledger);
        if (rebuilt !== undefined) {
          this.#rearm(rebuilt);
          // The tenant's own ledger says it was out of service, why, and for how long (this tenant only).
          if (this.#view(rebuilt).value === "active") {
            const now = this.#o.clock.now();
            const reason = `another runtime appended to this ledger (${err.message}); rebuilt from the store`.slice(0, 1024);
            this.#record(rebuilt, { operation: "degraded_mode", status: "failure", duration_ms: 0, scope: "tenant", consecutive_failures: 1, reason });
            this.#record(rebuilt, {
              operation: "degraded_mode_cleared",
              status: "success",
              duration_ms: Math.max(0, now - outage.since),
              scope: "tenant",
              downtime_seconds: Math.round(Math.max(0, now - outage.since) / 1000),
              actions_refused: outage.refused,
              spooled_receipts: 0,
            });
          }
        }
        this.#o.logger.info({ ledger }, "governor rebuilt after another writer's appends");
        // What waited for the governor, and the outcomes of rollbacks this process owns, now go to the rebuilt one.
        const waiting = this.#afterRebuild.get(ledger) ?? [];
        this.#afterRebuild.delete(ledger);
        for (const work of waiting) work();
        for (const [actionId, r] of this.#rollbacks) if (r.account === ledger) this.#recordRollbackOutcome(actionId);
      },
      (err: unknown) => {
        this.#rebuilding.delete(ledger);
        this.#afterRebuild.delete(ledger);
        // What the store holds does not replay: the tenant is out of service until an operator restores it.
        this.#quarantine(ledger, quarantineCodeOf(err), err);
      },
    );
  }

  /**
   * Drops a governor from this process: its handlers are aborted, its timers
   * cancelled, the caller waiting on a signal hears `reply`, and late
   * callbacks of its effects are ignored. Its state stays readable (parked).
   */
  #retire(g: Governor, reply: "degraded" | "quarantined", waitersError: string): void {
    g.retired = true;
    for (const d of g.deadlines?.values() ?? []) this.#deadlines.cancel(d);
    for (const c of g.controllers?.values() ?? []) c.abort();
    g.drainTimer?.cancel();
    let last: { value: LifecycleState; gov: GovernorState } | null = null;
    try {
      const view = this.#view(g);
      last = { value: view.value, gov: view.gov };
    } catch {
      // A governor that failed may not even show its state; it is rebuilt from the ledger.
    }
    g.parked = last;
    try {
      g.actor?.stop();
    } catch {
      // Stopping an actor in error is best effort.
    }
    g.actor = null;
    for (const w of g.decommissionWaiters.splice(0)) w.reject(new Error(waitersError));
    const to = g.replyTo;
    g.replyTo = null;
    to?.({ kind: "unavailable", reason: reply });
    if (this.#governors.get(g.account) === g) this.#governors.delete(g.account);
  }

  /** Deadlines live in the ledger: whoever writes it now resolves the actions still open when theirs pass. */
  #rearm(g: Governor): void {
    for (const a of this.#view(g).gov.open.values()) {
      if (a.state === "running" && a.deadline !== null) this.#armDeadline(g, a.actionId, a.deadline);
    }
  }

  // ---- replies waiting for durability --------------------------------------

  /** Callers waiting for their signal's receipt to become durable, oldest first, with their deadline. */
  readonly #awaitingReply = new Map<(reply: SignalReply) => void, number>();
  #replySweep: { cancel(): void } | null = null;

  /** Wraps a signal's reply so that it is given once: when durable, or `not_durable` past the deadline. */
  #awaitDurableReply(to: (reply: SignalReply) => void): (reply: SignalReply) => void {
    const settle = (reply: SignalReply) => {
      if (this.#awaitingReply.delete(settle)) to(reply);
    };
    const ms = this.#o.signalDurableMs ?? 2_000;
    this.#awaitingReply.set(settle, this.#o.clock.now() + ms);
    // One timer for every caller: it looks a few times per deadline, not once per signal.
    this.#replySweep ??= this.#o.clock.setTimeout(() => this.#expireReplies(), Math.max(5, Math.floor(ms / 4)));
    return settle;
  }

  #expireReplies(): void {
    this.#replySweep = null;
    const now = this.#o.clock.now();
    // Insertion order is deadline order: stop at the first that is not due.
    for (const [settle, at] of this.#awaitingReply) {
      if (at > now) break;
      settle({ kind: "unavailable", reason: "not_durable" });
    }
    if (this.#awaitingReply.size > 0 && !this.#stopped) {
      const ms = this.#o.signalDurableMs ?? 2_000;
      this.#replySweep = this.#o.clock.setTimeout(() => this.#expireReplies(), Math.max(5, Math.floor(ms / 4)));
    }
  }

  // ---- quarantine ----------------------------------------------------------

  /** Tenants out of service because their governor failed, by account. */
  readonly #quarantined = new Map<string, Quarantine>();
  /** When each tenant's rebuild was last asked for automatically. */
  readonly #autoRestoredAt = new Map<string, number>();

  /**
   * Takes one tenant out of service: its governor is dropped (what it had
   * sealed is still made durable), its signals get 503 `TENANT_QUARANTINED`,
   * an alert names it and the code, and `onQuarantined` records it on the
   * platform ledger. The other tenants go on. A decision fault is followed
   * by one automatic rebuild from the ledger (at most one per
   * AUTO_RESTORE_EVERY_MS per tenant); otherwise an operator restores it.
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
    this.#quarantined.set(account, q);
    this.#o.logger.error({ ledger: account, code, err }, "tenant quarantined: its governor failed; the other tenants go on");
    this.#o.alerts.alert({ code: "tenant_quarantined", message: `tenant ${account} is out of service (${code}): ${reason}`, ledger: account, details: { quarantine_code: code } });
    if (g !== undefined) this.#retire(g, "quarantined", `tenant ${account} was quarantined (${code})`);
    for (const [actionId, r] of this.#rollbacks) if (r.account === account) this.#rollbacks.delete(actionId);
    this.#o.onQuarantined?.(account, code, reason);
    if (code !== QuarantineCode.decisionFailed) return;
    const now = this.#o.clock.now();
    const previous = this.#autoRestoredAt.get(account);
    if (previous !== undefined && now - previous < AUTO_RESTORE_EVERY_MS) {
      this.#o.logger.warn({ ledger: account }, "tenant failed again soon after an automatic rebuild; it stays out of service until an operator restores it");
      return;
    }
    this.#autoRestoredAt.set(account, now);
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
      if (this.#o.writer.isOpen(ledger)) await this.#o.writer.durable(ledger).catch(() => {});
      this.#o.writer.release(ledger);
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
      this.#rearm(rebuilt);
      const gov = this.#view(rebuilt).gov;
      if (gov.open.size > 0 || gov.queue.length > gov.queueHead) this.#send(rebuilt, { type: "RESUME", now: this.#o.clock.now() });
      // Pushes it missed while out of service: the SKU's current policy is offered to it now, as it was to the others.
      const current = gov.skuId === null ? undefined : this.#o.currentPolicy?.(gov.skuId);
      if (current !== undefined && current.version !== gov.policyVersion) this.#offerTo(rebuilt, current, false, this.#o.clock.now());
    }
    const downtime = Math.max(0, this.#o.clock.now() - q.since);
    this.#o.logger.info({ ledger, trigger, downtime_ms: downtime }, "quarantined tenant rebuilt from its ledger and back in service");
    this.#o.onRestored?.(ledger, trigger, downtime, q.refused);
    return true;
  }

  /** Drops what a rebuild that failed half-way left: the governor and the writer's hold on its ledger. */
  #discard(ledger: LedgerId): void {
    this.#governors.delete(ledger);
    this.#o.writer.release(ledger);
  }

  /** True while the tenant is out of service. */
  isQuarantined(account: string): boolean {
    return this.#quarantined.has(account);
  }

  #armDeadline(g: Governor, actionId: string, at: number): void {
    const previous = g.deadlines?.get(actionId);
    if (previous !== undefined) this.#deadlines.cancel(previous);
    (g.deadlines ??= new Map()).set(
      actionId,
      this.#deadlines.add(at, (now) => {
        g.deadlines?.delete(actionId);
        // The handler's AbortSignal fires at the deadline itself, not once the receipt is written.
        g.controllers?.get(actionId)?.abort(DEADLINE_PASSED);
        this.#send(g, { type: "DEADLINE", actionId, now });
      }),
    );
  }

  /** What a handler is told about an action: never more than the action's own data and settings. */
  #actionContext(g: Governor, a: OpenActionRef, signal: AbortSignal): ActionContext {
    return {
      actionId: a.actionId,
      signalId: a.signalId,
      account: g.account,
      action: a.action,
      params: a.params,
      config: this.#view(g).policy?.actions.get(a.action)?.config ?? {},
      signal,
    };
  }

  #runHandler(g: Governor, e: Extract<Effect, { type: "runHandler" }>): void {
    const handler = this.#o.handlers.get(e.action.handler);
    const controller = new AbortController();
    (g.controllers ??= new Map()).set(e.action.actionId, controller);
    const settle = (event: GovernorEvent) => {
      g.controllers?.delete(e.action.actionId);
      this.#send(g, event);
    };
    if (handler === undefined) {
      settle({ type: "HANDLER_FAILED", actionId: e.action.actionId, now: this.#o.clock.now(), code: "unknown_handler", message: `no handler named "${e.action.handler}"`, recoverable: false });
      return;
    }
    if (this.#o.held?.() === true) {
      // Accepted just before safe mode began: it is not run while degraded, and says so in its terminal receipt.
      settle({ type: "HANDLER_FAILED", actionId: e.action.actionId, now: this.#o.clock.now(), code: "safe_mode", message: "not run: Governor entered safe mode (its ledger store is failing) before the action started", recoverable: false });
      return;
    }
    let running: Promise<unknown>;
    try {
      running = handler.run(this.#actionContext(g, e.action, controller.signal));
    } catch (err) {
      running = Promise.reject(err as Error);
    }
    running.then(
      (result) => {
        const ok = typeof result === "object" && result !== null;
        const sha = ok ? (result as { resultSha256?: unknown }).resultSha256 : undefined;
        if (!ok || (sha !== undefined && (typeof sha !== "string" || !/^[0-9a-f]{64}$/.test(sha)))) {
          settle({ type: "HANDLER_FAILED", actionId: e.action.actionId, now: this.#o.clock.now(), code: "invalid_result", message: "the handler returned something that is not an action result", recoverable: true });
          return;
        }
        settle({ type: "HANDLER_SUCCEEDED", actionId: e.action.actionId, now: this.#o.clock.now(), ...(sha === undefined ? {} : { resultSha256: sha }) });
      },
      (err: unknown) => {
        const he = err instanceof HandlerError ? err : null;
        settle({
          type: "HANDLER_FAILED",
          actionId: e.action.actionId,
          now: this.#o.clock.now(),
          code: he?.code ?? "handler_error",
          message: he?.message ?? `the handler threw: ${err instanceof Error ? err.message : String(err)}`,
          recoverable: he?.recoverable ?? true,
        });
      },
    );
  }

  readonly #lowPriority: { readonly since: number; readonly work: () => void }[] = [];
  #lowPriorityScheduled = false;
  /**
   * Runs `work` once no deadline is about to come due, or once it has waited
   * LOW_PRIORITY_MAX_WAIT_MS since `since`: a rollback (its start and its outcome, together) waits
   * while a thousand deadlines passing together each write their
   * action_timeout first. Its action has timed out or failed already.
   */
  #afterDeadlines(work: () => void, since: number): void {
    // Oldest first: a rollback's outcome goes ahead of rollbacks that became due after its own.
    const q = this.#lowPriority;
    let at = q.length;
    while (at > 0 && q[at - 1]!.since > since) at--;
    if (at === q.length) q.push({ since, work });
    else q.splice(at, 0, { since, work });
    if (!this.#lowPriorityScheduled) {
      this.#lowPriorityScheduled = true;
      setImmediate(() => this.#runLowPriority());
    }
  }

  /** A slice of at most 2 ms, deadlines that are due first, then the event loop (the commits, the next deadlines) goes first. */
  #runLowPriority(): void {
    const until = performance.now() + 2;
    let done = 0;
    let deferred = false;
    try {
      while (done < this.#lowPriority.length) {
        this.#deadlines.runDue();
        const now = this.#o.clock.now();
        if (this.#deadlines.nextAt <= now + 1 && now - this.#lowPriority[done]!.since < LOW_PRIORITY_MAX_WAIT_MS) {
          deferred = true;
          break;
        }
        this.#lowPriority[done++]!.work();
        if (performance.now() >= until) break;
      }
    } catch (err) {
      this.#o.logger.error({ err }, "a rollback could not be run or decided");
    } finally {
      this.#lowPriority.splice(0, done);
      if (this.#lowPriority.length === 0) this.#lowPriorityScheduled = false;
      // Deadlines are coming due: look again in a millisecond, not in a busy loop.
      else if (deferred) this.#o.clock.setTimeout(() => this.#runLowPriority(), 1);
      else setImmediate(() => this.#runLowPriority());
    }
  }

  /**
   * Runs a rollback this process is asked for (and so owns, see `#rollbacks`);
   * its outcome is decided as a low-priority task that counts its wait from
   * `since` (when the rollback was due).
   */
  #runRollback(account: LedgerId, e: Extract<Effect, { type: "runRollback" }>, since: number): void {
    // Stopped meanwhile: its outcome could not be written; the next start resolves the action from the ledger.
    if (this.#stopped) return;
    const actionId = e.action.actionId;
    // Owned already: running, or its outcome waits to be recorded.
    if (this.#rollbacks.has(actionId)) return;
    const g = this.#governors.get(account);
    if (g === undefined) {
      if (this.#rebuilding.has(account)) this.#whenRebuilt(account, () => this.#runRollback(account, e, since));
      return;
    }
    const owned: OwnedRollback = { account, outcome: null };
    this.#rollbacks.set(actionId, owned);
    const handler = this.#o.handlers.get(e.action.handler);
    const cause: RollbackCause = e.cause;
    const timeout = Math.max(1, e.deadline - this.#o.clock.now());
    const controller = new AbortController();
    const timer = this.#o.clock.setTimeout(() => controller.abort(DEADLINE_PASSED), timeout);
    const finish = (event: GovernorEvent) => {
      timer.cancel();
      owned.outcome = event;
      this.#afterDeadlines(() => this.#recordRollbackOutcome(actionId), since);
    };
    const run = handler === undefined
      ? Promise.reject(new HandlerError("unknown_handler", `no handler named "${e.action.handler}"`, false))
      : (async () => handler.rollback({ ...this.#actionContext(g, e.action, controller.signal), cause }))();
    run.then(
      () => finish({ type: "ROLLBACK_SUCCEEDED", actionId, now: this.#o.clock.now(), cause }),
      (err: unknown) =>
        finish({
          type: "ROLLBACK_FAILED",
          actionId,
          now: this.#o.clock.now(),
          cause,
          error: controller.signal.aborted ? `the rollback did not finish within ${timeout} ms` : err instanceof Error ? err.message : String(err),
        }),
    );
  }

  /**
   * Has the governor in charge of the ledger now decide a finished rollback's
   * outcome; the rollback stops being owned once that is durable, or once the
   * action is found resolved. If the receipt loses its append, the rebuilt
   * governor is asked again.
   */
  #recordRollbackOutcome(actionId: string): void {
    const owned = this.#rollbacks.get(actionId);
    if (owned === undefined || owned.outcome === null || this.#stopped) return;
    const g = this.#governors.get(owned.account);
    if (g === undefined) {
      // Being rebuilt: asked again once it is back (see recoverFenced). Gone: nothing left to decide.
      if (!this.#rebuilding.has(owned.account)) this.#rollbacks.delete(actionId);
      return;
    }
    const open = this.#view(g).gov.open.get(actionId);
    if (open === undefined || (open.state !== "timed_out" && open.state !== "errored")) {
      this.#rollbacks.delete(actionId);
      return;
    }
    this.#send(g, owned.outcome);
    this.#o.writer.afterDurable(owned.account, () => {
      if (this.#rollbacks.get(actionId) === owned) this.#rollbacks.delete(actionId);
    });
  }

  #whenRebuilt(account: string, work: () => void): void {
    const waiting = this.#afterRebuild.get(account);
    if (waiting === undefined) this.#afterRebuild.set(account, [work]);
    else waiting.push(work);
  }

  #maybeSnapshot(g: Governor, force: boolean): void {
    if (g.snapshotting) return;
    const snap = this.#view(g);
    const gov = snap.gov;
    const size = gov.lastSeq + 1;
    const since = size - g.lastSnapshotSeq;
    const due = force ? since > 0 : since >= Math.max(this.#snapshotEvery(), Math.floor(g.lastSnapshotSeq / 10));
    if (!due || this.#o.writer.sealedSize(g.account) !== size) return;
    // Taken now, when the state covers exactly the sealed receipts; stored once they are durable.
    const saved = { value: snap.value, gov: encodeSnapshotState(gov), frontier: this.#o.writer.frontier(g.account).toJSON() };
    const lastHash = gov.lastHash ?? "";
    g.snapshotting = true;
    g.lastSnapshotSeq = size;
    let release!: () => void;
    const written = new Promise<void>((resolve) => (release = resolve));
    this.#snapshotWrites.add(written);
    const done = () => {
      g.snapshotting = false;
      this.#snapshotWrites.delete(written);
      release();
    };
    this.#o.writer.afterDurable(
      g.account,
      () => {
        this.#o.store
          .putSnapshot(g.account, { seq: size, lastHash, version: SNAPSHOT_VERSION, state: saved })
          .catch((err: unknown) => this.#o.logger.warn({ ledger: g.account, err }, "snapshot not stored; replay will read more receipts"))
          .finally(done);
      },
      done,
    );
  }

  // ---- commands ----------------------------------------------------------

  /** Provisions (or re-provisions after a cancel) a tenant's governor; resolves once `entitlement_active` is durable. */
  async provision(account: string, cmd: ProvisionCommand): Promise<Receipt | null> {
    const ledger = account as LedgerId;
    const g = await this.#ensure(ledger);
    const receipt = this.#sendCapturing(g, { type: "PROVISION", ...cmd }).find((r) => r.operation === "entitlement_active") ?? null;
    await this.#o.writer.durable(ledger);
    // A tenant just provisioned usually waits a while for its first signal: its actor is released now, not at the next sweep.
    this.#park(g);
    return receipt;
  }

  /** Sends a command and returns the receipts it sealed. */
  #sendCapturing(g: Governor, event: GovernorEvent): Receipt[] {
    const captured: Receipt[] = [];
    this.#capture = captured;
    try {
      this.#send(g, event);
    } finally {
      this.#capture = null;
    }
    return captured;
  }

  /** Changes a tenant's plan; resolves once `entitlement_plan_changed` is durable. */
  async changePlan(account: string, cmd: ChangePlanCommand): Promise<Receipt | null> {
    const g = this.#governors.get(account);
    if (g === undefined) throw new UnknownTenantError(account);
    const receipt = this.#sendCapturing(g, { type: "CHANGE_PLAN", ...cmd }).find((r) => r.operation === "entitlement_plan_changed") ?? null;
    await this.#o.writer.durable(account);
    return receipt;
  }

  /**
   * Records a receipt that decides nothing about the governor's state (e.g.
   * `entitlement_failed`) on a tenant's ledger, creating the ledger if needed.
   */
  async record(account: string, draft: ReceiptDraft): Promise<Receipt> {
    const g = await this.#ensure(account as LedgerId);
    const receipt = this.#o.writer.seal(g.account, draft);
    this.#send(g, { type: "RECORDED", receipt, now: this.#o.clock.now() });
    await this.#o.writer.durable(account);
    return receipt;
  }

  /** The entitlement a tenant's governor was provisioned with. */
  entitlementOf(account: string): string | null {
    const g = this.#governors.get(account);
    return g === undefined ? null : this.#view(g).gov.entitlementId;
  }

  async #ensure(ledger: LedgerId): Promise<Governor> {
    const existing = this.#governors.get(ledger);
    if (existing !== undefined) return existing;
    if (!this.#o.writer.isOpen(ledger)) {
      const head = await this.#o.store.head(ledger);
      if (head.size > 0) {
        await this.#rebuild(ledger);
        const rebuilt = this.#governors.get(ledger);
        if (rebuilt !== undefined) return rebuilt;
      } else {
        this.#o.writer.open(ledger);
      }
    }
    return this.#governors.get(ledger) ?? this.#adopt(ledger);
  }

  /** Submits a signal; resolves with the governor's answer once its receipt (if any) is durable. */
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
      g.replyTo = resolve;
      try {
        this.#send(g, {
          type: "SIGNAL",
          signal_id: input.signal_id,
          action: input.action,
          params: input.params,
          paramsBytes,
          actionId: this.#o.newId(),
          now: this.#o.clock.now(),
        });
      } catch (err) {
        g.replyTo = null;
        reject(err as Error);
        return;
      }
      if (g.replyTo === resolve) {
        g.replyTo = null;
        reject(new Error("the governor gave no answer to the signal"));
      }
    });
  }

  /** Cancels a tenant: drain, decommission_start, archive, decommission_complete. Resolves at the end. */
  cancel(account: string, cmd: { eventId: string; entitlementId: string; drainMs: number }): Promise<void> {
    const g = this.#governors.get(account);
    if (g === undefined) return Promise.reject(new UnknownTenantError(account));
    return new Promise((resolve, reject) => {
      g.decommissionWaiters.push({ resolve, reject });
      this.#send(g, { type: "CANCEL", ...cmd, now: this.#o.clock.now() });
    });
  }

  async #exportArchive(g: Governor): Promise<void> {
    try {
      await this.#o.writer.checkpointNow(g.account);
      const archived = this.#o.exportArchive
        ? await this.#o.exportArchive(g.account)
        : { archiveUri: "none:", archiveBytes: 0, archiveSha256: "0".repeat(64), receiptCount: this.#o.writer.durableSize(g.account) };
      this.#send(g, { type: "ARCHIVED", ...archived, now: this.#o.clock.now() });
    } catch (err) {
      this.#o.logger.error({ ledger: g.account, err }, "archive export failed; the decommission stops before decommission_complete");
      this.#o.alerts.alert({ code: "archive_failed", message: `archive export for ${g.account} failed`, ledger: g.account });
      for (const w of g.decommissionWaiters.splice(0)) w.reject(err as Error);
    }
  }

  async #finishDecommission(g: Governor): Promise<void> {
    try {
      await this.#o.writer.checkpointNow(g.account);
      await this.#o.deleteChannel?.(g.account);
      g.drainTimer?.cancel();
      for (const w of g.decommissionWaiters.splice(0)) w.resolve();
    } catch (err) {
      for (const w of g.decommissionWaiters.splice(0)) w.reject(err as Error);
    }
  }

  /**
   * Sets a governor's concurrency (an operator's request, or the scaler's):
   * `governor_scaled` within the plan's maximum, `quota_exceeded` over it.
   * Resolves once the receipt is durable; null when nothing changed.
   */
  async scale(account: string, concurrency: number, reason: "operator" | "lag" | "revert"): Promise<{ state: LifecycleState; receipt: Receipt | null }> {
    const g = this.#governors.get(account);
    if (g === undefined) throw new UnknownTenantError(account);
    const { value, gov } = this.#view(g);
    if (value !== "active") return { state: value, receipt: null };
    const now = this.#o.clock.now();
    const captured = this.#sendCapturing(g, { type: "SCALE", concurrency, reason, now, queueDepth: queueDepth(gov), oldestWaitMs: oldestWaitMs(gov, now) });
    const receipt = captured.find((r) => r.operation === "governor_scaled" || r.operation === "quota_exceeded") ?? null;
    if (receipt !== null) await this.#o.writer.durable(account);
    return { state: value, receipt };
  }

  /**
   * One pass of the scaler over the running governors. Lag over the policy's
   * threshold adds `step` slots (or records `quota_exceeded` once a window);
   * a window after a lag scale-up, lag that has not fallen restores the
   * previous concurrency. Nothing is decided inside a window.
   */
  scaleTick(): { scaled: number; reverted: number; refused: number } {
    const now = this.#o.clock.now();
    const out = { scaled: 0, reverted: 0, refused: 0 };
    for (const g of this.#governors.values()) {
      if (g.actor === null) continue;
      const snap = g.actor.getSnapshot();
      const policy = snap.context.policy;
      if (snap.value !== "active" || policy === null) continue;
      const gov = snap.context.gov;
      const plan = gov.plan === null ? undefined : policy.plans.get(gov.plan);
      if (plan === undefined) continue;
      const sc = policy.scaling;
      const last = gov.lastScale;
      if (last !== null && now - last.at < sc.windowMs) continue;
      const depth = queueDepth(gov);
      const wait = oldestWaitMs(gov, now);
      const request = (concurrency: number, reason: "lag" | "revert") =>
        this.#send(g, { type: "SCALE", concurrency, reason, now, queueDepth: depth, oldestWaitMs: wait });
      if (last !== null && last.reason === "lag" && this.#scaleJudged.get(g.account) !== last.at) {
        this.#scaleJudged.set(g.account, last.at);
        if (depth > 0 && depth >= last.queueDepth && last.previous >= 1) {
          request(last.previous, "revert");
          out.reverted++;
          continue;
        }
      }
      if (depth < sc.queueDepthThreshold && wait < sc.oldestWaitMsThreshold) continue;
      const wanted = gov.concurrency + sc.step;
      if (wanted > plan.maxConcurrency) {
        const noted = this.#quotaNotedAt.get(g.account);
        if (noted !== undefined && now - noted < sc.windowMs) continue;
        this.#quotaNotedAt.set(g.account, now);
        out.refused++;
      } else {
        out.scaled++;
      }
      request(wanted, "lag");
    }
    return out;
  }

  /** After safe mode: every governor with waiting actions starts what its free slots allow. */
  resumeQueues(): void {
    const now = this.#o.clock.now();
    for (const g of this.#governors.values()) {
      if (g.actor === null) continue;
      const gov = this.#view(g).gov;
      if (gov.queue.length > gov.queueHead && gov.busy < gov.concurrency) this.#send(g, { type: "DRAIN_QUEUE", now });
    }
  }

  /** The running tenants of a SKU as the policy compatibility check sees them. */
  *policyTenants(skuId: string): Generator<TenantPolicyFacts> {
    const month = monthOf(this.#o.clock.now());
    const none: readonly string[] = [];
    for (const g of this.#governors.values()) {
      const { value, gov } = this.#view(g);
      if (gov.skuId !== skuId || value === "new" || value === "decommissioned") continue;
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
    const count = (receipt: Receipt) => {
      if (receipt.operation === "policy_upgraded") upgraded++;
      else if (receipt.operation === "policy_rollback") rolledBack++;
    };
    for (const g of this.#governors.values()) {
      const receipts = this.#offerTo(g, policy, forced, now);
      if (receipts === null) continue;
      touched.push(g.account);
      for (const receipt of receipts) count(receipt);
    }
    await Promise.all(touched.map((l) => this.#o.writer.durable(l)));
    return { upgraded, rolledBack };
  }

  /** Offers a policy to one governor; null when it is not of that SKU or not in a state that takes one. */
  #offerTo(g: Governor, policy: PolicyView, forced: boolean, now: number): Receipt[] | null {
    const { value, gov } = this.#view(g);
    if (gov.skuId !== policy.skuId || !(value === "active" || value === "suspended" || value === "degraded")) return null;
    if (g.actor === null || this.#park(g)) {
      // A parked governor has nothing under way: decide and apply without an actor.
      const receipts: Receipt[] = [];
      for (const draft of decidePolicyOffer(gov, policy, forced, now).drafts) {
        const receipt = this.#o.writer.seal(g.account, draft);
        evolve(gov, receipt);
        receipts.push(receipt);
      }
      return receipts;
    }
    return this.#sendCapturing(g, { type: "POLICY_OFFERED", policy, forced, now });
  }

  // ---- reading -----------------------------------------------------------

  has(account: string): boolean {
    return this.#governors.has(account) || this.#quarantined.has(account);
  }

  accounts(): string[] {
    if (this.#quarantined.size === 0) return [...this.#governors.keys()];
    return [...new Set([...this.#governors.keys(), ...this.#quarantined.keys()])];
  }

  /** A tenant's lifecycle state alone (cheap: for checks on every request), or undefined if it is not here. */
  lifecycleOf(account: string): LifecycleState | "quarantined" | undefined {
    if (this.#quarantined.has(account)) return "quarantined";
    const g = this.#governors.get(account);
    return g === undefined ? undefined : this.#view(g).value;
  }

  status(account: string): GovernorStatus | undefined {
    const q = this.#quarantined.get(account);
    if (q !== undefined) {
      const base: GovernorStatus = q.last ?? {
        account, state: "new", sku_id: null, plan: null, policy_version: null, concurrency: 0, in_flight: 0, queue_depth: 0, oldest_wait_ms: 0, last_success_at: null, ledger_size: 0,
      };
      return { ...base, state: "quarantined", in_flight: 0, quarantine: { code: q.code, since: new Date(q.since).toISOString() } };
    }
    const g = this.#governors.get(account);
    if (g === undefined) return undefined;
    const { value, gov } = this.#view(g);
    return {
      account,
      state: value,
      sku_id: gov.skuId,
      plan: gov.plan,
      policy_version: gov.policyVersion,
      concurrency: gov.concurrency,
      in_flight: gov.busy,
      queue_depth: queueDepth(gov),
      oldest_wait_ms: oldestWaitMs(gov, this.#o.clock.now()),
      last_success_at: gov.lastSuccessAt,
      ledger_size: this.#o.writer.durableSize(account),
    };
  }

  /** Stops intake, lets running actions finish or time out, writes snapshots and checkpoints. */
  async stop(options: { drainMs?: number } = {}): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const until = this.#o.clock.now() + (options.drainMs ?? 5_000);
    while (this.#o.clock.now() < until && [...this.#governors.values()].some((g) => this.#view(g).gov.busy > 0)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await this.#o.writer.flush();
    await Promise.all(this.#snapshotWrites);
    for (const g of this.#governors.values()) this.#maybeSnapshot(g, true);
    await this.#o.writer.flush();
    await Promise.all(this.#snapshotWrites);
    await this.#o.writer.close();
    this.#stopped = true;
    this.#sweeper?.cancel();
    this.#replySweep?.cancel();
    this.#deadlines.stop();
    for (const g of this.#governors.values()) {
      for (const d of g.deadlines?.values() ?? []) this.#deadlines.cancel(d);
      g.drainTimer?.cancel();
      g.actor?.stop();
    }
  }
}

/** The quarantine code of a failure to rebuild a governor from its ledger. */
function quarantineCodeOf(err: unknown): QuarantineCode {
  if (err instanceof ChainBrokenError) return QuarantineCode.chainBroken;
  if (err instanceof ReplayDivergenceError) return QuarantineCode.replayDivergence;
  return QuarantineCode.rebuildFailed;
}

/** A fault's name and first line, bounded: enough to find it in the log, never an input echoed whole. */
function describeFault(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message.split("\n")[0] ?? ""}`.slice(0, 256);
  return `non-error thrown: ${typeof err}`;
}
