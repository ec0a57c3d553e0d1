/**
 * A governor host on the real embedded store, for the runtime benchmarks.
 */
import { join } from "node:path";
import { pino } from "pino";
import { createSqliteLedgerStore } from "../src/adapters/embedded/sqlite-ledger-store.ts";
import { generateSignerKey } from "../src/ledger/checkpoint.ts";
import { settings } from "../src/config.ts";
import { createUuidV7Source } from "../src/ledger/hash.ts";
import type { LedgerId, Receipt } from "../src/ledger/receipt.ts";
import { PolicyCatalog } from "../src/policy/registry.ts";
import { PolicyDocument } from "../src/policy/schema.ts";
import { systemClock, type LedgerStore } from "../src/ports/index.ts";
import { Governors } from "../src/app/governors.ts";
import { builtinHandlers, type ActionHandler } from "../src/app/handlers.ts";
import { LedgerLog } from "../src/log/ledger-log.ts";
import { startMemoryReclaimer } from "../src/app/memory-reclaimer.ts";

export const benchPolicy = PolicyDocument.parse({
  sku_id: "bench",
  policy_version: "1.0.0",
  actions: {
    noop: { handler: "noop", timeout_ms: 500 },
    hang: { handler: "hang", timeout_ms: 500 },
  },
  plans: {
    wide: { monthly_actions: 1_000_000_000, concurrent_actions: 1024, max_concurrency: 4096, cost_per_slot_usd: "0.01", actions: ["noop", "hang"] },
  },
});

const hang: ActionHandler = { name: "hang", run: () => new Promise(() => {}), rollback: () => Promise.resolve() };

export interface Rig {
  readonly host: Governors;
  readonly catalog: PolicyCatalog;
  readonly store: LedgerStore;
  readonly writer: LedgerLog;
  /** Called with every committed receipt. */
  onCommitted: (receipts: readonly Receipt[]) => void;
  /** Memory-reducing collections the runtime's reclaimer has run (with `reclaimAfterMs`). */
  readonly reclaims: number;
  close(): Promise<void>;
}

export async function createRig(dir: string, options: { start?: boolean; snapshotEvery?: number; idleAfterMs?: number; reclaimAfterMs?: number } = {}): Promise<Rig> {
  const store = createSqliteLedgerStore({
    path: join(dir, "ledger.sqlite"),
    reclaimAfterMs: options.reclaimAfterMs ?? 0,
    ...(process.env["BENCH_SYNC"] === "normal" ? { synchronous: "normal" as const } : {}),
  });
  const logger = pino({ level: "silent" });
  const catalog = new PolicyCatalog();
  catalog.add(benchPolicy);
  const newId = createUuidV7Source(() => Date.now());
  const rig = {
    onCommitted: (_: readonly Receipt[]) => {},
  } as Rig;
  const writer = new LedgerLog({
    store,
    signers: [generateSignerKey("bench")],
    originPrefix: "bench",
    clock: systemClock,
    newId,
    logger,
    onCommitted: (rs) => rig.onCommitted(rs),
  });
  const host = new Governors({
    store,
    log: writer,
    clock: systemClock,
    newId,
    handlers: new Map([...builtinHandlers, ["hang", hang]]),
    resolvePolicy: catalog.resolve,
    alerts: { alert: () => {} },
    logger,
    ...(options.snapshotEvery === undefined ? {} : { snapshotEvery: options.snapshotEvery }),
    ...(options.idleAfterMs === undefined ? {} : { idleAfterMs: options.idleAfterMs }),
  });
  const started = options.start ?? true;
  if (started) await host.start();
  // As the service runs it (runtime.ts), with the service's default for the young generation; a rig that is
  // not started (it only seeds a store) runs none, or its loop would keep the process alive.
  const reclaimer = started
    ? startMemoryReclaimer({ clock: systemClock, quietMs: options.reclaimAfterMs ?? 0, youngQuietMs: settings.youngGcMs.default, activity: () => writer.sealedTotal, logger })
    : { stop() {}, reclaims: 0 };
  Object.assign(rig, {
    host,
    catalog,
    store,
    writer,
    async close() {
      reclaimer.stop();
      await host.stop({ drainMs: 2000 });
      await store.close();
    },
  });
  Object.defineProperty(rig, "reclaims", { get: () => reclaimer.reclaims });
  return rig;
}

export const tenant = (i: number) => `t${String(i).padStart(5, "0")}` as LedgerId;

export async function provision(rig: Rig, tenants: number, batch = 500): Promise<void> {
  for (let i = 0; i < tenants; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, tenants - i) }, (_, j) =>
        rig.host.provision(tenant(i + j), { eventId: `e${i + j}`, entitlementId: `ent${i + j}`, skuId: "bench", plan: "wide", policyVersion: "1.0.0", concurrency: 1024, channel: "c", durationMs: 0 }),
      ),
    );
  }
}
