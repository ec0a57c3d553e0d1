/**
 * Workflow 3 on the real embedded store with a clock the test moves: lag
 * over the policy's threshold scales up within the plan's maximum, nothing
 * is decided inside a window, lag that does not fall is reverted with a
 * receipt, and over the maximum `quota_exceeded` is written once a window.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createSqliteLedgerStore } from "../../src/adapters/embedded/sqlite-ledger-store.ts";
import { generateSignerKey } from "../../src/ledger/checkpoint.ts";
import { createUuidV7Source } from "../../src/ledger/hash.ts";
import type { LedgerId, Receipt } from "../../src/ledger/receipt.ts";
import { PolicyCatalog } from "../../src/policy/registry.ts";
import { PolicyDocument } from "../../src/policy/schema.ts";
import type { LedgerStore } from "../../src/ports/index.ts";
import { Governors } from "../../src/app/governors.ts";
import { builtinHandlers, type ActionHandler } from "../../src/app/handlers.ts";
import { LedgerLog } from "../../src/log/ledger-log.ts";
import { ManualClock } from "../support/manual-clock.ts";

const WINDOW = 60_000;
const policy = PolicyDocument.parse({
  sku_id: "lagging",
  policy_version: "1.0.0",
  actions: { wait: { handler: "hang", timeout_ms: 300_000 } },
  plans: { p: { monthly_actions: 1000, concurrent_actions: 1, max_concurrency: 3, cost_per_slot_usd: "0.25", actions: ["wait"] } },
  scaling: { queue_depth_threshold: 3, oldest_wait_ms_threshold: 600_000, window_ms: WINDOW, step: 1 },
});
const hang: ActionHandler = { name: "hang", run: () => new Promise(() => {}), rollback: () => Promise.resolve() };
const A = "lag-1" as LedgerId;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function rig() {
  const dir = mkdtempSync(join(tmpdir(), "governor-scaler-"));
  const store: LedgerStore = createSqliteLedgerStore({ path: join(dir, "ledger.sqlite") });
  const clock = new ManualClock(Date.parse("2026-11-24T12:00:00Z"));
  const catalog = new PolicyCatalog();
  catalog.add(policy);
  const logger = pino({ level: "silent" });
  const newId = createUuidV7Source(() => clock.now());
  const writer = new LedgerLog({ store, signers: [generateSignerKey("test")], originPrefix: "test", clock, newId, logger });
  const host = new Governors({ store, log: writer, clock, newId, handlers: new Map([...builtinHandlers, ["hang", hang]]), resolvePolicy: catalog.resolve, alerts: { alert: () => {} }, logger });
  await host.start();
  await host.provision(A, { eventId: "e", entitlementId: "ent", skuId: "lagging", plan: "p", policyVersion: "1.0.0", concurrency: 1, channel: "c", durationMs: 0 });
  cleanups.push(async () => {
    await host.stop({ drainMs: 0 });
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let n = 0;
  const signals = async (count: number) => {
    for (let i = 0; i < count; i++) await host.signal(A, { signal_id: `s${n++}`, action: "wait", params: {} }, 2);
  };
  const receipts = async (): Promise<readonly Receipt[]> => {
    await writer.flush();
    return store.read(A, 0, 10_000);
  };
  const tick = async () => {
    const out = host.scaleTick();
    await writer.flush();
    return out;
  };
  return { host, clock, signals, receipts, tick };
}

const scaledOf = (rs: readonly Receipt[]) => rs.filter((r) => r.operation === "governor_scaled" || r.operation === "quota_exceeded");

describe("the scaler", () => {
  it("scales up on lag, waits out its window, keeps a change that helped, and stops at the plan's maximum", async () => {
    const r = await rig();
    await r.signals(5); // 1 running, 4 waiting
    expect(r.host.status(A)).toMatchObject({ concurrency: 1, in_flight: 1, queue_depth: 4 });

    expect(await r.tick()).toEqual({ scaled: 1, reverted: 0, refused: 0 });
    let scaled = scaledOf(await r.receipts());
    expect(scaled.at(-1)).toMatchObject({ operation: "governor_scaled", previous_concurrency: 1, concurrency: 2, cost_delta_usd: "0.25", reason: "lag", queue_depth: 4 });
    expect(r.host.status(A)).toMatchObject({ concurrency: 2, in_flight: 2, queue_depth: 3 });

    // Inside the window nothing is decided, however long the queue.
    r.clock.advance(WINDOW - 1);
    expect(await r.tick()).toEqual({ scaled: 0, reverted: 0, refused: 0 });

    // The window is over: lag fell (4 → 3), the change stays; lag is still at the threshold, so one more slot.
    r.clock.advance(1);
    expect(await r.tick()).toEqual({ scaled: 1, reverted: 0, refused: 0 });
    scaled = scaledOf(await r.receipts());
    expect(scaled.map((x) => x.operation)).toEqual(["governor_scaled", "governor_scaled"]);
    expect(r.host.status(A)).toMatchObject({ concurrency: 3, queue_depth: 2 });

    // The window is over: lag fell (3 → 2) and is under the threshold: nothing to do.
    r.clock.advance(WINDOW);
    expect(await r.tick()).toEqual({ scaled: 0, reverted: 0, refused: 0 });
    // Past the window that judges the last scale-up: at the maximum with lag over the threshold,
    // quota_exceeded, once a window. (Inside it, lag back over 3 would revert that scale-up instead.)
    r.clock.advance(WINDOW);
    await r.signals(2);
    expect(await r.tick()).toEqual({ scaled: 0, reverted: 0, refused: 1 });
    expect(await r.tick()).toEqual({ scaled: 0, reverted: 0, refused: 0 });
    scaled = scaledOf(await r.receipts());
    expect(scaled.at(-1)).toMatchObject({ operation: "quota_exceeded", quota: "max_concurrency", requested: 4, limit: 3, reason: "lag" });
    expect(r.host.status(A)).toMatchObject({ concurrency: 3 });
  });

  it("restores the previous concurrency, with a receipt, when lag rose instead of falling", async () => {
    const r = await rig();
    await r.signals(4); // 1 running, 3 waiting
    await r.tick(); // 1 → 2: 2 running, 2 waiting
    await r.signals(3); // lag rises to 5
    r.clock.advance(WINDOW);
    expect(await r.tick()).toEqual({ scaled: 0, reverted: 1, refused: 0 });
    const last = scaledOf(await r.receipts()).at(-1);
    expect(last).toMatchObject({ operation: "governor_scaled", previous_concurrency: 2, concurrency: 1, cost_delta_usd: "-0.25", reason: "revert", queue_depth: 5 });
    expect(r.host.status(A)).toMatchObject({ concurrency: 1 });
    // A revert opens a window of its own.
    expect(await r.tick()).toEqual({ scaled: 0, reverted: 0, refused: 0 });
  });

  it("an operator's scale follows the same checks and receipts", async () => {
    const r = await rig();
    const up = await r.host.scale(A, 3, "operator");
    expect(up.receipt).toMatchObject({ operation: "governor_scaled", previous_concurrency: 1, concurrency: 3, reason: "operator", cost_delta_usd: "0.50" });
    const over = await r.host.scale(A, 4, "operator");
    expect(over.receipt).toMatchObject({ operation: "quota_exceeded", requested: 4, limit: 3, reason: "operator" });
    expect((await r.host.scale(A, 3, "operator")).receipt).toBeNull();
    expect(r.host.status(A)?.concurrency).toBe(3);
  });
});
