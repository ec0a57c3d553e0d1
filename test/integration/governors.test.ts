/**
 * The governor host on the real embedded store, with handlers that misbehave
 * the ways real ones do: throw, hang past their deadline, return garbage, and
 * fail their rollback. Every case ends in receipts, never in silence.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createSqliteLedgerStore } from "../../src/adapters/embedded/sqlite-ledger-store.ts";
import type { LedgerId, Receipt } from "../../src/ledger/receipt.ts";
import { PolicyDocument } from "../../src/policy/schema.ts";
import { systemClock, type Clock, type LedgerStore } from "../../src/ports/index.ts";
import { Governors } from "../../src/app/governors.ts";
import { builtinHandlers, HandlerError, type ActionHandler } from "../../src/app/handlers.ts";
import { startHost } from "../support/host-rig.ts";
import { ManualClock } from "../support/manual-clock.ts";
import { eventually } from "../support/service.ts";

const rollbacks: string[] = [];
/** Rollbacks of `slowrollback` under way: each ends when the test calls its entry. */
const heldRollbacks: (() => void)[] = [];
const handlers = new Map<string, ActionHandler>([
  ...builtinHandlers,
  ["throws", { name: "throws", run: () => { throw new Error("boom"); }, rollback: async (c) => void rollbacks.push(c.actionId) }],
  ["unrecoverable", { name: "unrecoverable", run: () => Promise.reject(new HandlerError("bad_request", "the request is wrong", false)), rollback: async () => {} }],
  ["hangs", { name: "hangs", run: () => new Promise(() => {}), rollback: async (c) => void rollbacks.push(c.actionId) }],
  ["garbage", { name: "garbage", run: () => Promise.resolve(42 as never), rollback: async (c) => void rollbacks.push(c.actionId) }],
  ["badrollback", { name: "badrollback", run: () => new Promise(() => {}), rollback: () => Promise.reject(new Error("rollback endpoint down")) }],
  ["slowrollback", { name: "slowrollback", run: () => new Promise(() => {}), rollback: () => new Promise<void>((res) => void heldRollbacks.push(res)) }],
  ["aborts", {
    name: "aborts",
    run: (c) => new Promise((_, reject) => c.signal.addEventListener("abort", () => reject(new HandlerError("deadline", "aborted", true)))),
    rollback: async (c) => void rollbacks.push(c.actionId),
  }],
]);

const actionNames = ["noop", "throws", "unrecoverable", "hangs", "garbage", "badrollback", "aborts", "slowrollback"];
/** Actions that hang, with deadlines 1 ms apart: a run of deadlines passing one after another. */
const staggered = Array.from({ length: 20 }, (_, i) => `stagger${i}`);
const policy = PolicyDocument.parse({
  sku_id: "faults",
  policy_version: "1.0.0",
  actions: {
    ...Object.fromEntries(actionNames.map((h) => [h, { handler: h, timeout_ms: 150 }])),
    ...Object.fromEntries(staggered.map((a, i) => [a, { handler: "hangs", timeout_ms: 100 + i }])),
  },
  plans: {
    p: { monthly_actions: 1000, concurrent_actions: 8, max_concurrency: 8, cost_per_slot_usd: "1.00", actions: actionNames },
    wide: { monthly_actions: 1000, concurrent_actions: 100, max_concurrency: 100, cost_per_slot_usd: "1.00", actions: staggered },
  },
});

interface Rig {
  host: Governors;
  store: LedgerStore;
  alerts: { code: string }[];
  dir: string;
}
const rigs: Rig[] = [];

async function rig(dir = mkdtempSync(join(tmpdir(), "governor-host-")), clock: Clock = systemClock, keepDir = false): Promise<Rig> {
  const store = createSqliteLedgerStore({ path: join(dir, "ledger.sqlite") });
  const alerts: { code: string }[] = [];
  const { host } = await startHost({ store, policy, clock, handlers, alerts: { alert: (a) => alerts.push(a) } });
  const r = { host, store, alerts, dir: keepDir ? "" : dir };
  rigs.push(r);
  return r;
}

afterEach(async () => {
  for (const release of heldRollbacks.splice(0)) release();
  for (const r of rigs.splice(0)) {
    await r.host.stop({ drainMs: 0 }).catch(() => {});
    await r.store.close().catch(() => {});
    if (r.dir !== "") rmSync(r.dir, { recursive: true, force: true });
  }
});

const A = "tenant-x" as LedgerId;
async function provisioned(clock?: Clock): Promise<Rig> {
  const r = await rig(undefined, clock);
  await r.host.provision(A, { eventId: "e1", entitlementId: "ent", skuId: "faults", plan: "p", policyVersion: "1.0.0", concurrency: 8, channel: "c", durationMs: 0 });
  return r;
}

async function settle(r: Rig, signalId: string, terminal: string): Promise<Receipt[]> {
  let mine: Receipt[] = [];
  await eventually(async () => {
    await r.host.log.flush();
    mine = (await r.store.read(A, 0, 1000)).filter((x) => "signal_id" in x && x.signal_id === signalId);
    return mine.some((x) => x.operation === terminal);
  }, `${terminal} for ${signalId}`, 5000);
  return mine;
}

/** Takes a noop signal on the rig's host (retrying while a stale host rebuilds) and waits for its completion: everything decided before it is in the ledger. */
async function completeLater(r: Rig, signalId: string): Promise<void> {
  await eventually(async () => r.host.has(A) && (await r.host.signal(A, { signal_id: signalId, action: "noop", params: {} }, 2)).kind !== "unavailable", `${signalId} taken`, 5000);
  await settle(r, signalId, "action_complete");
}

/** Lets the event loop turn once: promises settled meanwhile have their reactions run. */
const turn = () => new Promise<void>((res) => setImmediate(res));

const opsOf = (rs: Receipt[]) => rs.map((r) => r.operation);

/** Everything sealed made durable, and turns of the event loop for quick handlers and rollbacks to end (the host's clock stands still), until the ledger stops growing. */
async function pause(r: Rig): Promise<void> {
  let size = -1;
  for (let same = 0; same < 3; ) {
    await r.host.log.flush();
    await turn();
    const now = (await r.store.read(A, 0, 10_000)).length;
    same = now === size ? same + 1 : 0;
    size = now;
  }
}

describe("governor host: two runtimes on one store", () => {
  it("a rollback that ends after another runtime's append made its governor be rebuilt still gets its outcome recorded, once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "governor-host-two-"));
    try {
      const a = await rig(dir, systemClock, true);
      await a.host.provision(A, { eventId: "e1", entitlementId: "ent", skuId: "faults", plan: "p", policyVersion: "1.0.0", concurrency: 8, channel: "c", durationMs: 0 });
      // b starts on the same data: its governor knows the ledger as it is now.
      const b = await rig(dir, systemClock, true);
      // On a: the handler hangs, times out at 150 ms, and its rollback is held until b has written.
      expect(await a.host.signal(A, { signal_id: "s-slow", action: "slowrollback", params: {} }, 2)).toMatchObject({ kind: "accepted" });
      await settle(a, "s-slow", "action_timeout");
      await eventually(() => heldRollbacks.length === 1, "the rollback to start", 5000);
      // Meanwhile b writes (it finds itself stale, rebuilds, and appends): a's next append, the rollback's outcome, loses.
      await eventually(async () => b.host.has(A) && (await b.host.signal(A, { signal_id: "s-b", action: "noop", params: {} }, 2)).kind === "accepted", "b to take a signal", 5000);
      heldRollbacks.shift()!();
      const rs = await settle(a, "s-slow", "action_rolled_back");
      // A second outcome, were there one, is decided before signals both sides take afterwards complete.
      await completeLater(a, "s-after-a");
      await completeLater(b, "s-after-b");
      await a.host.log.flush();
      await b.host.log.flush();
      const all = await a.store.read(A, 0, 10_000);
      const ends = all.filter((x) => "signal_id" in x && x.signal_id === "s-slow" && (x.operation === "action_rolled_back" || x.operation === "action_failed" || x.operation === "action_complete"));
      expect(opsOf(ends)).toEqual(["action_rolled_back"]);
      expect(opsOf(rs).slice(0, 2)).toEqual(["action_started", "action_timeout"]);
      expect(all.map((x) => x.seq)).toEqual(all.map((_, i) => i));
      expect([...a.alerts, ...b.alerts].map((x) => x.code)).toContain("ledger_fenced");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("governor host: actions that misbehave", () => {
  it("a handler that throws is failed as recoverable and rolled back", async () => {
    const r = await provisioned();
    expect(await r.host.signal(A, { signal_id: "s-throw", action: "throws", params: {} }, 2)).toMatchObject({ kind: "accepted" });
    const rs = await settle(r, "s-throw", "action_rolled_back");
    expect(opsOf(rs)).toEqual(["action_started", "action_failed", "action_rolled_back"]);
    expect(rs[1]).toMatchObject({ code: "handler_error", recoverable: true, error: "the handler threw: boom" });
  });

  it("an unrecoverable error fails without rollback and raises an alert", async () => {
    const r = await provisioned();
    await r.host.signal(A, { signal_id: "s-unrec", action: "unrecoverable", params: {} }, 2);
    const rs = await settle(r, "s-unrec", "action_failed");
    expect(rs.at(-1)).toMatchObject({ code: "bad_request", recoverable: false });
    // The alert is raised once the receipt is durable, which may be just after the store shows it.
    await eventually(() => r.alerts.length > 0, "an alert", 5000);
    expect(r.alerts.map((a) => a.code)).toContain("action_failed");
  });

  it("a handler that hangs is timed out at its deadline and rolled back", async () => {
    const r = await provisioned();
    const t0 = Date.now();
    await r.host.signal(A, { signal_id: "s-hang", action: "hangs", params: {} }, 2);
    const rs = await settle(r, "s-hang", "action_rolled_back");
    expect(opsOf(rs)).toEqual(["action_started", "action_timeout", "action_rolled_back"]);
    expect(Date.parse(rs[1]!.timestamp) - t0).toBeGreaterThanOrEqual(140);
    expect(rollbacks).toContain((rs[0] as { action_id: string }).action_id);
  });

  it("a deadline timer that fires early by the wall clock still times the action out", async () => {
    // Timers may fire before Date.now() reaches the deadline; this clock makes them 20 ms early.
    const early: Clock = {
      now: () => Date.now(),
      setTimeout: (fn, ms) => {
        const t = setTimeout(fn, Math.max(0, ms - 20));
        return { cancel: () => clearTimeout(t) };
      },
    };
    const r = await provisioned(early);
    await r.host.signal(A, { signal_id: "s-early", action: "hangs", params: {} }, 2);
    const rs = await settle(r, "s-early", "action_rolled_back");
    expect(opsOf(rs)).toEqual(["action_started", "action_timeout", "action_rolled_back"]);
    expect(Date.parse(rs[1]!.timestamp)).toBeGreaterThanOrEqual(Date.parse((rs[0] as { deadline: string }).deadline));
  });

  it("the handler's AbortSignal fires at the deadline", async () => {
    const r = await provisioned();
    await r.host.signal(A, { signal_id: "s-abort", action: "aborts", params: {} }, 2);
    const rs = await settle(r, "s-abort", "action_rolled_back");
    expect(opsOf(rs)).toEqual(["action_started", "action_timeout", "action_rolled_back"]);
  });

  it("a handler that returns garbage is failed and rolled back", async () => {
    const r = await provisioned();
    await r.host.signal(A, { signal_id: "s-garbage", action: "garbage", params: {} }, 2);
    const rs = await settle(r, "s-garbage", "action_rolled_back");
    expect(rs[1]).toMatchObject({ operation: "action_failed", code: "invalid_result", recoverable: true });
  });

  it("a rollback that fails escalates once and is not retried", async () => {
    const r = await provisioned();
    await r.host.signal(A, { signal_id: "s-badrb", action: "badrollback", params: {} }, 2);
    const rs = await settle(r, "s-badrb", "action_failed");
    expect(opsOf(rs)).toEqual(["action_started", "action_timeout", "escalation", "action_failed"]);
    expect(rs.at(-1)).toMatchObject({ code: "rollback_failed", recoverable: false });
    // A retried rollback, were there one, is decided before a later signal completes.
    await completeLater(r, "s-later");
    const after = (await r.store.read(A, 0, 1000)).filter((x) => "signal_id" in x && x.signal_id === "s-badrb");
    expect(after).toHaveLength(4);
    expect(r.alerts.filter((a) => a.code === "rollback_failed")).toHaveLength(1);
  });

  it("a rollback that ends after the host has stopped is not decided: no receipt, no crash", async () => {
    const r = await provisioned();
    await r.host.signal(A, { signal_id: "s-slowrb", action: "slowrollback", params: {} }, 2);
    const rs = await settle(r, "s-slowrb", "action_timeout");
    expect(opsOf(rs)).toEqual(["action_started", "action_timeout"]);
    await eventually(() => heldRollbacks.length === 1, "the rollback to start", 5000);
    await r.host.stop({ drainMs: 0 });
    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    process.on("uncaughtException", onError);
    process.on("unhandledRejection", onError);
    try {
      // The rollback ends now, and what the stopped host does with its end runs before the checks.
      heldRollbacks.shift()!();
      for (let i = 0; i < 3; i++) await turn();
    } finally {
      process.off("uncaughtException", onError);
      process.off("unhandledRejection", onError);
    }
    expect(errors).toEqual([]);
    const after = (await r.store.read(A, 0, 1000)).filter((x) => "signal_id" in x && x.signal_id === "s-slowrb");
    expect(opsOf(after)).toEqual(["action_started", "action_timeout"]);
  });

  it("deadlines that pass one after another are all decided before the rollbacks they cause", async () => {
    const clock = new ManualClock(Date.now());
    const r = await rig(undefined, clock);
    await r.host.provision(A, { eventId: "e1", entitlementId: "ent", skuId: "faults", plan: "wide", policyVersion: "1.0.0", concurrency: 100, channel: "c", durationMs: 0 });
    const replies = await Promise.all(staggered.map((action, i) => r.host.signal(A, { signal_id: `s-st${i}`, action, params: {} }, 2)));
    expect(replies.every((x) => x.kind === "accepted")).toBe(true);
    const ops = async () => opsOf((await r.store.read(A, 0, 1000)).filter((x) => x.operation === "action_timeout" || x.operation === "action_rolled_back"));
    // Deadlines at +100 .. +119 ms, one a millisecond: each passes while the next is at most 1 ms away.
    clock.advance(100);
    for (let i = 1; i < staggered.length; i++) {
      await pause(r);
      clock.advance(1);
    }
    // The last deadline has passed: nothing is near any more, the rollbacks are started and decided.
    for (let i = 0; i < 4; i++) {
      await pause(r);
      clock.advance(1);
    }
    await pause(r);
    expect(await ops()).toEqual([...staggered.map(() => "action_timeout"), ...staggered.map(() => "action_rolled_back")]);
  });

  it("a rollback waits for deadlines that keep coming due at most 50 ms", async () => {
    const clock = new ManualClock(Date.now());
    const r = await rig(undefined, clock);
    await r.host.provision(A, { eventId: "e1", entitlementId: "ent", skuId: "faults", plan: "wide", policyVersion: "1.0.0", concurrency: 100, channel: "c", durationMs: 0 });
    // 70 actions started a millisecond apart: from +100 ms on, a deadline passes every millisecond for 70 ms.
    for (let i = 0; i < 70; i++) {
      await r.host.signal(A, { signal_id: `s-w${i}`, action: "stagger0", params: {} }, 2);
      clock.advance(1);
    }
    const ops = async (signalId: string) => (await r.store.read(A, 0, 1000)).filter((x) => "signal_id" in x && x.signal_id === signalId).map((x) => x.operation);
    clock.advance(30); // now +100: the first deadline passes
    let rolledBackAt = 0;
    for (let ms = 100; ms < 169 && rolledBackAt === 0; ms++) {
      await pause(r);
      if ((await ops("s-w0")).includes("action_rolled_back")) rolledBackAt = ms;
      clock.advance(1);
    }
    // A stream of deadlines holds s-w0's rollback back, but not for ever: started and decided 50 ms on, before the stream ends.
    expect(rolledBackAt).toBeGreaterThanOrEqual(100 + 50);
    expect(rolledBackAt).toBeLessThan(160);
  });

  it("refuses an unknown tenant", async () => {
    const r = await rig();
    await expect(r.host.signal("nobody", { signal_id: "s", action: "noop", params: {} }, 2)).rejects.toMatchObject({ code: "GOVERNOR_UNKNOWN_TENANT" });
  });
});

describe("governor host: rebuilt from its ledger", () => {
  it("a restarted host has the same state, from a snapshot", async () => {
    const r = await provisioned();
    for (let i = 0; i < 30; i++) await r.host.signal(A, { signal_id: `s${i}`, action: "noop", params: {} }, 2);
    await r.host.signal(A, { signal_id: "s-bad", action: "nope", params: {} }, 2);
    await settle(r, "s29", "action_complete");
    const before = r.host.status(A);
    await r.host.stop({ drainMs: 1000 });
    await r.store.close();
    rigs.splice(rigs.indexOf(r), 1);

    const again = await rig(r.dir);
    expect((await again.store.getSnapshot(A))?.seq).toBe(before!.ledger_size);
    expect(again.host.status(A)).toEqual({ ...before, oldest_wait_ms: 0 });
    expect(await again.host.signal(A, { signal_id: "s3", action: "noop", params: {} }, 2)).toMatchObject({ kind: "duplicate", outcome: { state: "complete" } });
    expect(await again.host.signal(A, { signal_id: "s-bad", action: "nope", params: {} }, 2)).toMatchObject({ kind: "duplicate", outcome: { state: "refused", code: "unknown_action" } });
  });
});
