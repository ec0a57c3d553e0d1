/**
 * The effect runner: what a governor's decisions name, done in the world.
 * Handlers and rollbacks run (and this process owns a rollback until its
 * outcome is recorded), deadlines are armed, alerts raised, a decommission's
 * archive exported and its channel deleted. Every effect that acts waits
 * until the receipts decided before it are durable; its outcome goes back to
 * the governor as a command, and the governor decides what it means.
 */
import type { Logger } from "pino";
import type { Command, Effect, OpenActionRef, RollbackCause } from "../../governors/decision.ts";
import type { PolicyView } from "../../governors/policy-view.ts";
import type { ArchivedCommand } from "../../governors/decision.ts";
import type { LedgerId } from "../ledger/receipt.ts";
import type { LedgerLog } from "../log/ledger-log.ts";
import type { AlertSink, Clock } from "../ports/index.ts";
import { DeadlineQueue } from "./deadline-queue.ts";
import type { Governor } from "./governor-record.ts";
import { HandlerError, type ActionContext, type ActionHandler } from "./handlers.ts";
import type { Replies } from "./replies.ts";

/**
 * The reason a handler's AbortSignal gives when its deadline passes: a
 * `TimeoutError`, as `AbortSignal.timeout()` gives. One shared instance: a
 * thousand deadlines that pass together would otherwise make a thousand
 * DOMExceptions, each with its stack, on the path that writes `action_timeout`.
 */
const DEADLINE_PASSED = new DOMException("the action's deadline passed", "TimeoutError");

/** The longest a rollback's start or outcome waits for deadlines that keep coming due (see `#afterDeadlines`). */
const LOW_PRIORITY_MAX_WAIT_MS = 50;

export interface EffectRunnerOptions {
  readonly log: LedgerLog;
  readonly clock: Clock;
  readonly handlers: ReadonlyMap<string, ActionHandler>;
  readonly alerts: AlertSink;
  readonly logger: Logger;
  readonly replies: Replies;
  /** The governor in charge of a ledger now (it may have been rebuilt since the effect was named). */
  readonly governorOf: (account: string) => Governor | undefined;
  /** Has a governor decide a command. */
  readonly dispatch: (g: Governor, command: Command) => void;
  readonly policyOf: (g: Governor) => PolicyView | null;
  /** True while no action may start (safe mode). */
  readonly held: () => boolean;
  /** True while a ledger's governor is being rebuilt; work for it then waits (`whenRebuilt`). */
  readonly rebuilding: (account: string) => boolean;
  readonly whenRebuilt: (account: string, work: () => void) => void;
  readonly exportArchive: (g: Governor) => Promise<Omit<ArchivedCommand, "now">>;
  readonly deleteChannel: (g: Governor) => Promise<void>;
  readonly tuneChannel: (account: string, concurrency: number) => void;
}

/** A rollback this process runs, or ran and has yet to see recorded: its ledger, and its outcome once it has ended. */
interface OwnedRollback {
  readonly account: LedgerId;
  outcome: Command | null;
}

export class EffectRunner {
  readonly #o: EffectRunnerOptions;
  readonly #deadlines: DeadlineQueue;
  /**
   * Rollbacks this process owns (it ran the effect that asked for them), by
   * action id, until their outcome is recorded. Another runtime's append may
   * make the governor be rebuilt while one runs, and the outcome's receipt
   * may lose its append: the outcome is kept here and the rebuilt governor
   * records it. No other runtime runs the rollback, and none is orphaned.
   */
  readonly #rollbacks = new Map<string, OwnedRollback>();
  readonly #lowPriority: { readonly since: number; readonly work: () => void }[] = [];
  #lowPriorityScheduled = false;
  #stopped = false;

  constructor(options: EffectRunnerOptions) {
    this.#o = options;
    this.#deadlines = new DeadlineQueue(options.clock);
  }

  /** Runs the effects of one step of a governor, in order. */
  runAll(g: Governor, effects: readonly Effect[]): void {
    for (const e of effects) this.run(g, e);
  }

  /**
   * Runs one effect. Those that act on the world wait until the receipts
   * before them are durable (`#later`), and find their governor when they
   * run: by then it may have been rebuilt.
   */
  run(g: Governor, e: Effect): void {
    const account = g.account;
    const current = () => this.#o.governorOf(account);
    switch (e.type) {
      case "runHandler":
        return this.#later(g, () => {
          const now = current();
          if (now !== undefined) this.#runHandler(now, e.action);
        });
      case "abortHandler":
        return this.#later(g, () => current()?.controllers?.get(e.actionId)?.abort(DEADLINE_PASSED));
      case "runRollback":
        return this.#later(g, () => {
          const since = this.#o.clock.now();
          this.#afterDeadlines(() => this.#runRollback(account, e.action, e.cause, e.deadline, since), since);
        });
      case "armDeadline":
        return this.armDeadline(g, e.actionId, e.at);
      case "cancelDeadline": {
        const d = g.deadlines?.get(e.actionId);
        if (d !== undefined) this.#deadlines.cancel(d);
        g.deadlines?.delete(e.actionId);
        return;
      }
      case "reply": {
        // If the decision never becomes durable the caller hears so, never silence; if it is not durable
        // within the admission deadline, the caller hears that at once (its outcome comes with a repeat).
        const settle = this.#o.replies.take(account, e.signalId);
        if (settle === null) return;
        this.#later(g, () => settle(e.reply), () => settle({ kind: "unavailable", reason: "degraded" }));
        return;
      }
      case "alert":
        return this.#later(g, () => this.#o.alerts.alert({ code: e.code, message: e.message, ledger: account, details: e.details }));
      case "armDrainDeadline": {
        g.drainTimer?.cancel();
        g.drainTimer = this.#o.clock.setTimeout(() => this.#o.dispatch(g, { type: "DRAIN_EXPIRED", now: this.#o.clock.now() }), Math.max(0, e.at - this.#o.clock.now()));
        return;
      }
      case "exportArchive":
        return this.#later(g, () => void this.#exportArchive(g));
      case "deleteChannel":
        return this.#later(g, () => void this.#finishDecommission(g));
      case "tuneChannel":
        return this.#later(g, () => this.#o.tuneChannel(account, e.concurrency));
    }
  }

  /** Runs an effect once the receipts before it are durable; if they never will be, the effect is dropped (and `failed` told). */
  #later(g: Governor, run: () => void, failed?: () => void): void {
    this.#o.log.afterDurable(g.account, run, (err) => {
      this.#o.logger.warn({ ledger: g.account, err: err.message }, "effect dropped: its receipts could not be made durable");
      failed?.();
    });
  }

  armDeadline(g: Governor, actionId: string, at: number): void {
    const previous = g.deadlines?.get(actionId);
    if (previous !== undefined) this.#deadlines.cancel(previous);
    (g.deadlines ??= new Map()).set(
      actionId,
      this.#deadlines.add(at, (now) => {
        g.deadlines?.delete(actionId);
        // The handler's AbortSignal fires at the deadline itself, not once the receipt is written.
        g.controllers?.get(actionId)?.abort(DEADLINE_PASSED);
        this.#o.dispatch(g, { type: "DEADLINE", actionId, now });
      }),
    );
  }

  /** Deadlines live in the ledger: whoever writes it now resolves the actions still open when theirs pass. */
  rearm(g: Governor): void {
    for (const a of g.state.open.values()) {
      if (a.state === "running" && a.deadline !== null) this.armDeadline(g, a.actionId, a.deadline);
    }
  }

  /** Stops a governor's effects: handlers aborted, timers cancelled (it is being dropped). */
  stopEffectsOf(g: Governor): void {
    for (const d of g.deadlines?.values() ?? []) this.#deadlines.cancel(d);
    for (const c of g.controllers?.values() ?? []) c.abort();
    g.drainTimer?.cancel();
  }

  /** Forgets the rollbacks this process owns on a ledger (its tenant is out of service). */
  disown(account: string): void {
    for (const [actionId, r] of this.#rollbacks) if (r.account === account) this.#rollbacks.delete(actionId);
  }

  /** Has the rebuilt governor of a ledger record the outcomes of rollbacks this process owns on it. */
  resumeOwned(account: string): void {
    for (const [actionId, r] of this.#rollbacks) if (r.account === account) this.#recordRollbackOutcome(actionId);
  }

  /** What a handler is told about an action: never more than the action's own data and settings. */
  #actionContext(g: Governor, a: OpenActionRef, signal: AbortSignal): ActionContext {
    return {
      actionId: a.actionId,
      signalId: a.signalId,
      account: g.account,
      action: a.action,
      params: a.params,
      config: this.#o.policyOf(g)?.actions.get(a.action)?.config ?? {},
      signal,
    };
  }

  #runHandler(g: Governor, action: OpenActionRef): void {
    const actionId = action.actionId;
    const handler = this.#o.handlers.get(action.handler);
    const controller = new AbortController();
    (g.controllers ??= new Map()).set(actionId, controller);
    const settle = (command: Command) => {
      g.controllers?.delete(actionId);
      this.#o.dispatch(g, command);
    };
    if (handler === undefined) {
      settle({ type: "HANDLER_FAILED", actionId, now: this.#o.clock.now(), code: "unknown_handler", message: `no handler named "${action.handler}"`, recoverable: false });
      return;
    }
    if (this.#o.held()) {
      // Accepted just before safe mode began: the governor records that it was not run.
      settle({ type: "HANDLER_NOT_RUN", actionId, now: this.#o.clock.now() });
      return;
    }
    let running: Promise<unknown>;
    try {
      running = handler.run(this.#actionContext(g, action, controller.signal));
    } catch (err) {
      running = Promise.reject(err as Error);
    }
    running.then(
      (result) => {
        const ok = typeof result === "object" && result !== null;
        const sha = ok ? (result as { resultSha256?: unknown }).resultSha256 : undefined;
        if (!ok || (sha !== undefined && (typeof sha !== "string" || !/^[0-9a-f]{64}$/.test(sha)))) {
          settle({ type: "HANDLER_FAILED", actionId, now: this.#o.clock.now(), code: "invalid_result", message: "the handler returned something that is not an action result", recoverable: true });
          return;
        }
        settle({ type: "HANDLER_SUCCEEDED", actionId, now: this.#o.clock.now(), ...(sha === undefined ? {} : { resultSha256: sha }) });
      },
      (err: unknown) => {
        const he = err instanceof HandlerError ? err : null;
        settle({
          type: "HANDLER_FAILED",
          actionId,
          now: this.#o.clock.now(),
          code: he?.code ?? "handler_error",
          message: he?.message ?? `the handler threw: ${err instanceof Error ? err.message : String(err)}`,
          recoverable: he?.recoverable ?? true,
        });
      },
    );
  }

  /**
   * Runs `work` once no deadline is about to come due, or once it has waited
   * LOW_PRIORITY_MAX_WAIT_MS since `since`: a rollback (its start and its
   * outcome, together) waits while a thousand deadlines passing together each
   * write their action_timeout first. Its action has timed out or failed already.
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
  #runRollback(account: LedgerId, action: OpenActionRef, cause: RollbackCause, deadline: number, since: number): void {
    // Stopped meanwhile: its outcome could not be written; the next start resolves the action from the ledger.
    if (this.#stopped) return;
    const actionId = action.actionId;
    // Owned already: running, or its outcome waits to be recorded.
    if (this.#rollbacks.has(actionId)) return;
    const g = this.#o.governorOf(account);
    if (g === undefined) {
      if (this.#o.rebuilding(account)) this.#o.whenRebuilt(account, () => this.#runRollback(account, action, cause, deadline, since));
      return;
    }
    const owned: OwnedRollback = { account, outcome: null };
    this.#rollbacks.set(actionId, owned);
    const handler = this.#o.handlers.get(action.handler);
    const timeout = Math.max(1, deadline - this.#o.clock.now());
    const controller = new AbortController();
    const timer = this.#o.clock.setTimeout(() => controller.abort(DEADLINE_PASSED), timeout);
    const finish = (command: Command) => {
      timer.cancel();
      owned.outcome = command;
      this.#afterDeadlines(() => this.#recordRollbackOutcome(actionId), since);
    };
    const run =
      handler === undefined
        ? Promise.reject(new HandlerError("unknown_handler", `no handler named "${action.handler}"`, false))
        : (async () => handler.rollback({ ...this.#actionContext(g, action, controller.signal), cause }))();
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
    const g = this.#o.governorOf(owned.account);
    if (g === undefined) {
      // Being rebuilt: asked again once it is back. Gone: nothing left to decide.
      if (!this.#o.rebuilding(owned.account)) this.#rollbacks.delete(actionId);
      return;
    }
    const open = g.state.open.get(actionId);
    if (open === undefined || (open.state !== "timed_out" && open.state !== "errored")) {
      this.#rollbacks.delete(actionId);
      return;
    }
    this.#o.dispatch(g, owned.outcome);
    this.#o.log.afterDurable(owned.account, () => {
      if (this.#rollbacks.get(actionId) === owned) this.#rollbacks.delete(actionId);
    });
  }

  async #exportArchive(g: Governor): Promise<void> {
    try {
      await this.#o.log.checkpointNow(g.account);
      const archived = await this.#o.exportArchive(g);
      this.#o.dispatch(g, { type: "ARCHIVED", ...archived, now: this.#o.clock.now() });
    } catch (err) {
      this.#o.logger.error({ ledger: g.account, err }, "archive export failed; the decommission stops before decommission_complete");
      this.#o.alerts.alert({ code: "archive_failed", message: `archive export for ${g.account} failed`, ledger: g.account });
      for (const w of g.decommissionWaiters.splice(0)) w.reject(err as Error);
    }
  }

  async #finishDecommission(g: Governor): Promise<void> {
    try {
      await this.#o.log.checkpointNow(g.account);
      await this.#o.deleteChannel(g);
      g.drainTimer?.cancel();
      for (const w of g.decommissionWaiters.splice(0)) w.resolve();
    } catch (err) {
      for (const w of g.decommissionWaiters.splice(0)) w.reject(err as Error);
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#deadlines.stop();
  }
}
