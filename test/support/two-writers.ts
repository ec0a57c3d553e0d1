/**
 * Two runtimes (each a ledger writer and a governor host) on one ledger
 * store, taking signals for the same tenant in turn: one wins each append,
 * the other is fenced and rebuilds from the store. The ledger never forks
 * and no accepted signal is lost or resolved twice. Used with every store
 * adapter that can be opened twice.
 */
import { pino } from "pino";
import { expect } from "vitest";
import { generateSignerKey } from "../../src/ledger/checkpoint.ts";
import { createUuidV7Source, genesisHash } from "../../src/ledger/hash.ts";
import type { LedgerId, Receipt } from "../../src/ledger/receipt.ts";
import { PolicyCatalog } from "../../src/policy/registry.ts";
import { PolicyDocument } from "../../src/policy/schema.ts";
import { systemClock, type LedgerStore } from "../../src/ports/index.ts";
import { Governors } from "../../src/app/governors.ts";
import { builtinHandlers } from "../../src/app/handlers.ts";
import { LedgerLog } from "../../src/log/ledger-log.ts";
import { endsAction } from "./ends.ts";
import { eventually } from "./service.ts";

const policy = PolicyDocument.parse({
  sku_id: "shared",
  policy_version: "1.0.0",
  actions: { noop: { handler: "noop", timeout_ms: 200 } },
  plans: { p: { monthly_actions: 100_000, concurrent_actions: 4, max_concurrency: 4, cost_per_slot_usd: "0.10", actions: ["noop"] } },
});

interface Runtime {
  readonly name: string;
  readonly host: Governors;
  readonly writer: LedgerLog;
  readonly fenced: string[];
  /** The code of each conflict that fenced a ledger. */
  readonly codes: string[];
}

function runtime(name: string, store: LedgerStore): Runtime {
  const logger = pino({ level: process.env["DEBUG_TW"] ? "warn" : "silent", base: { side: name } });
  const catalog = new PolicyCatalog();
  catalog.add(policy);
  const newId = createUuidV7Source(() => Date.now());
  const fenced: string[] = [];
  const codes: string[] = [];
  let host: Governors | undefined;
  const writer = new LedgerLog({
    store,
    signers: [generateSignerKey(name)],
    originPrefix: "two-writers",
    clock: systemClock,
    newId,
    logger,
    onFenced: (ledger, err) => {
      fenced.push(ledger);
      codes.push(err.code);
      host?.recoverFenced(ledger, err);
    },
  });
  host = new Governors({ store, log: writer, clock: systemClock, newId, handlers: builtinHandlers, resolvePolicy: catalog.resolve, alerts: { alert: () => {} }, logger });
  return { name, host, writer, fenced, codes };
}


/**
 * The store as one side sees it, its commits held back a random 0..maxMs
 * each (in flight together, as the writer keeps them): the other side's
 * commits land between them.
 */
export function withLaggingCommits(store: LedgerStore, maxMs: number): LedgerStore {
  const lag = () => new Promise((r) => setTimeout(r, Math.floor(Math.random() * maxMs)));
  return Object.assign(Object.create(store) as LedgerStore, {
    commitsInFlight: Math.max(3, store.commitsInFlight ?? 2),
    appendMany: async (batches: Parameters<LedgerStore["appendMany"]>[0]) => {
      await lag();
      return store.appendMany(batches);
    },
  });
}

export interface TwoWritersOptions {
  readonly signals?: number;
  /** Hold each side's commits back up to this long: their commits in flight interleave. */
  readonly interleaveMs?: number;
  /** Told what happened once every check passed. */
  readonly report?: (report: TwoWritersReport) => void;
}

/** What happened: how often each side lost and why (the conflicts' codes). */
export interface TwoWritersReport {
  readonly receipts: number;
  readonly fenced: Record<string, string[]>;
}

/** The whole ledger, in seq order. */
async function readAll(store: LedgerStore, ledger: LedgerId): Promise<Receipt[]> {
  const receipts: Receipt[] = [];
  for (let from = 0; ; from += 1000) {
    const page = await store.read(ledger, from, 1000);
    receipts.push(...page);
    if (page.length < 1000) return receipts;
  }
}

/** Whether every accepted signal has a receipt that ends its action, once both sides made durable what they sealed. */
async function allEnded(a: Runtime, b: Runtime, store: LedgerStore, ledger: LedgerId, accepted: ReadonlySet<string>): Promise<boolean> {
  await a.writer.flush();
  await b.writer.flush();
  const ended = new Set<string>();
  for (const r of await readAll(store, ledger)) {
    const signalId = (r as { signal_id?: string }).signal_id;
    if (endsAction(r) && signalId !== undefined) ended.add(signalId);
  }
  return [...accepted].every((s) => ended.has(s));
}

/** Runs the scenario on two store instances opened on the same data; resolves once every check passed. */
export async function twoWritersNeverFork(storeA: LedgerStore, storeB: LedgerStore, ledger: LedgerId, options: TwoWritersOptions | number = {}): Promise<void> {
  const { signals = 40, interleaveMs, report } = typeof options === "number" ? { signals: options } : options;
  const a = runtime("a", interleaveMs === undefined ? storeA : withLaggingCommits(storeA, interleaveMs));
  const b = runtime("b", interleaveMs === undefined ? storeB : withLaggingCommits(storeB, interleaveMs));
  await a.host.start();
  await a.host.provision(ledger, { eventId: "e", entitlementId: "ent", skuId: "shared", plan: "p", policyVersion: "1.0.0", concurrency: 4, channel: "c", durationMs: 0 });
  await b.host.start();
  const accepted = new Set<string>();
  try {
    for (let i = 0; i < signals; i++) {
      // Mostly alternating, sometimes twice in a row: each side is often stale.
      const side = i % 3 === 2 ? a : i % 2 === 0 ? a : b;
      const signalId = `sig-${i}`;
      // A side that lost a race rebuilds first: keep trying for a while (a slow store makes that take seconds).
      await eventually(async () => {
        const reply = side.host.has(ledger) ? await side.host.signal(ledger, { signal_id: signalId, action: "noop", params: {} }, 2) : null;
        return reply !== null && (reply.kind === "accepted" || reply.kind === "duplicate");
      }, `${side.name} to take ${signalId}`).then(
        () => accepted.add(signalId),
        () => {},
      );
    }
    // Completions land, and deadlines of completions that lost a race pass: every accepted signal has ended.
    await eventually(() => allEnded(a, b, storeA, ledger, accepted), "every accepted signal to end");
    // A side that has not written since it went stale finds out with its next write.
    for (const side of [a, b, a]) {
      const signalId = `final-${side.name}`;
      await eventually(async () => {
        const reply = side.host.has(ledger) ? await side.host.signal(ledger, { signal_id: signalId, action: "noop", params: {} }, 2) : null;
        return reply !== null && reply.kind !== "unavailable";
      }, `${side.name} to take ${signalId}`).then(
        () => accepted.add(signalId),
        () => {},
      );
    }
    await eventually(() => allEnded(a, b, storeA, ledger, accepted), "every accepted signal to end");

    const receipts = await readAll(storeA, ledger);
    // One chain: contiguous seqs, each receipt linked to the one before.
    let prev = genesisHash(ledger);
    for (const [i, r] of receipts.entries()) {
      expect({ seq: r.seq, prev: r.prev_hash }).toEqual({ seq: i, prev });
      prev = r.hash;
    }
    // Both sides lost at least one race and recovered from it.
    expect(a.fenced.length).toBeGreaterThan(0);
    expect(b.fenced.length).toBeGreaterThan(0);
    // The tenant's ledger says when it was out of service, scope tenant only.
    const outages = receipts.filter((r) => r.operation === "degraded_mode" || r.operation === "degraded_mode_cleared");
    expect(outages.length).toBeGreaterThan(0);
    expect(outages.every((r) => "scope" in r && r.scope === "tenant")).toBe(true);
    // Every accepted signal started once and ended once.
    const started = new Map<string, number>();
    const ended = new Map<string, number>();
    for (const r of receipts) {
      if (r.operation === "action_started") started.set(r.signal_id, (started.get(r.signal_id) ?? 0) + 1);
      const signalId = (r as { signal_id?: string }).signal_id;
      if (endsAction(r) && signalId !== undefined) ended.set(signalId, (ended.get(signalId) ?? 0) + 1);
    }
    for (const s of accepted) expect({ signal: s, started: started.get(s), ended: ended.get(s) }).toEqual({ signal: s, started: 1, ended: 1 });
    report?.({ receipts: receipts.length, fenced: { a: a.codes, b: b.codes } });
  } finally {
    await a.host.stop({ drainMs: 0 });
    await b.host.stop({ drainMs: 0 });
  }
}
