/**
 * An in-memory LedgerStore for unit tests of one piece (the writer, the host).
 * Never the proof that a feature works: the contract suite and the fault
 * tests run against the real stores.
 */
import { genesisHash } from "../../src/ledger/hash.ts";
import type { LedgerId, Receipt } from "../../src/ledger/receipt.ts";
import { SeqConflictError, StoreUnavailableError, type AppendBatch, type LedgerHead, type LedgerStore, type StoredCheckpoint, type StoredSnapshot } from "../../src/ports.ts";

export interface MemoryLedgerStore extends LedgerStore {
  readonly ledgers: Map<string, Receipt[]>;
  readonly checkpoints: Map<string, StoredCheckpoint[]>;
  /** While set, every call fails as a dead store would. */
  failing: boolean;
  appendCalls: number;
}

export function createMemoryLedgerStore(): MemoryLedgerStore {
  const ledgers = new Map<string, Receipt[]>();
  const checkpoints = new Map<string, StoredCheckpoint[]>();
  const snapshots = new Map<string, StoredSnapshot>();
  const check = () => {
    if (store.failing) throw new StoreUnavailableError("memory store is failing (test)");
  };
  const one = (b: AppendBatch): SeqConflictError | null => {
    const list = ledgers.get(b.ledger) ?? [];
    if (b.expectedSeq !== list.length) return new SeqConflictError(b.ledger, b.expectedSeq, list.length);
    list.push(...b.receipts.map((r) => structuredClone(r)));
    ledgers.set(b.ledger, list);
    if (b.checkpoint) checkpoints.set(b.ledger, [...(checkpoints.get(b.ledger) ?? []), b.checkpoint]);
    return null;
  };
  const store: MemoryLedgerStore = {
    ledgers,
    checkpoints,
    failing: false,
    appendCalls: 0,
    async append(b) {
      check();
      const c = one(b);
      if (c) throw c;
    },
    async appendMany(batches) {
      check();
      store.appendCalls++;
      return batches.map(one);
    },
    async read(ledger, from, limit) {
      check();
      return (ledgers.get(ledger) ?? []).slice(from, from + limit).map((r) => structuredClone(r));
    },
    async readHashes(ledger, from = 0, to) {
      check();
      return (ledgers.get(ledger) ?? []).slice(from, to).map((r) => r.hash);
    },
    async head(ledger): Promise<LedgerHead> {
      check();
      const list = ledgers.get(ledger) ?? [];
      const last = list.at(-1);
      return { size: list.length, lastHash: last?.hash ?? genesisHash(ledger), lastTimestamp: last?.timestamp ?? null };
    },
    async latestCheckpoint(ledger) {
      check();
      return checkpoints.get(ledger)?.at(-1) ?? null;
    },
    async listLedgers() {
      check();
      return [...ledgers.keys()].filter((l) => (ledgers.get(l)?.length ?? 0) > 0) as LedgerId[];
    },
    async putSnapshot(ledger, s) {
      check();
      snapshots.set(ledger, structuredClone(s));
    },
    async getSnapshot(ledger) {
      check();
      return snapshots.get(ledger) ?? null;
    },
    async probe() {
      check();
    },
    async close() {},
  };
  return store;
}
