/**
 * A ledger store in memory, for tests of one piece (the writer, the host,
 * an app service). It keeps the port's whole contract (all-or-nothing
 * batches, no forks, malformed batches refused), so what a test learns on
 * it holds on the real stores; it can be made to fail as a dead store does.
 */
import { genesisHash } from "../../ledger/hash.ts";
import type { LedgerId, Receipt } from "../../ledger/receipt.ts";
import {
  BatchInvalidError,
  ChainConflictError,
  SeqConflictError,
  StoreUnavailableError,
  type AppendBatch,
  type LedgerHead,
  type LedgerStore,
  type StoredCheckpoint,
  type StoredSnapshot,
} from "../../ports/index.ts";

/** What a memory store holds; two stores given the same one see the same ledgers (as two connections would). */
export interface MemoryLedgerStorage {
  readonly ledgers: Map<string, Receipt[]>;
  readonly checkpoints: Map<string, StoredCheckpoint[]>;
  readonly snapshots: Map<string, StoredSnapshot>;
}

export interface MemoryLedgerStore extends LedgerStore {
  readonly ledgers: Map<string, Receipt[]>;
  readonly checkpoints: Map<string, StoredCheckpoint[]>;
  /** While set, every call fails as a dead store would. */
  failing: boolean;
  appendCalls: number;
}

export function createMemoryLedgerStorage(): MemoryLedgerStorage {
  return { ledgers: new Map(), checkpoints: new Map(), snapshots: new Map() };
}

/** Throws when the batch is malformed, whatever the stored ledger holds. */
function validate(b: AppendBatch): void {
  if (!Number.isSafeInteger(b.expectedSeq) || b.expectedSeq < 0) throw new BatchInvalidError(`expectedSeq ${b.expectedSeq} is not a non-negative integer`);
  if (b.receipts.length === 0 && b.checkpoint === undefined) throw new BatchInvalidError("a batch needs receipts or a checkpoint");
  for (const [i, r] of b.receipts.entries()) {
    if (r.ledger !== b.ledger) throw new BatchInvalidError(`receipt ${i} belongs to ledger ${r.ledger}, not ${b.ledger}`);
    if (r.seq !== b.expectedSeq + i) throw new BatchInvalidError(`receipt ${i} has seq ${r.seq}; expected ${b.expectedSeq + i} (seqs must be contiguous)`);
  }
  if (b.texts !== undefined && b.texts.length !== b.receipts.length) throw new BatchInvalidError(`the batch has ${b.receipts.length} receipts but ${b.texts.length} texts`);
  if (b.checkpoint !== undefined && b.checkpoint.size !== b.expectedSeq + b.receipts.length) {
    throw new BatchInvalidError(`checkpoint covers ${b.checkpoint.size} receipts but the ledger will have ${b.expectedSeq + b.receipts.length}`);
  }
}

/** Why the batch does not link within itself or to the genesis hash, if it does not. */
function brokenInside(b: AppendBatch): string | undefined {
  const first = b.receipts[0]?.prev_hash ?? b.prevHash;
  if (b.receipts.length > 0 && b.prevHash !== undefined && b.prevHash !== first) return "its prevHash is not its first receipt's prev_hash";
  if (b.expectedSeq === 0 && first !== undefined && first !== genesisHash(b.ledger)) return "its first prev_hash is not the ledger's genesis hash";
  for (let i = 1; i < b.receipts.length; i++) {
    if (b.receipts[i]!.prev_hash !== b.receipts[i - 1]!.hash) return `receipt ${b.receipts[i]!.seq} does not link to receipt ${b.receipts[i - 1]!.seq}`;
  }
  return undefined;
}

export function createMemoryLedgerStore(storage: MemoryLedgerStorage = createMemoryLedgerStorage()): MemoryLedgerStore {
  const { ledgers, checkpoints, snapshots } = storage;
  const check = () => {
    if (store.failing) throw new StoreUnavailableError("memory store is failing (test)");
  };
  const one = (b: AppendBatch): SeqConflictError | null => {
    const list = ledgers.get(b.ledger) ?? [];
    const broken = brokenInside(b);
    if (broken !== undefined) return new ChainConflictError(b.ledger, b.expectedSeq, list.length, broken);
    if (b.expectedSeq !== list.length) return new SeqConflictError(b.ledger, b.expectedSeq, list.length);
    const linksTo = b.receipts[0]?.prev_hash ?? b.prevHash;
    const stored = list.at(-1)?.hash;
    if (b.expectedSeq > 0 && linksTo !== undefined && linksTo !== stored) {
      return new ChainConflictError(b.ledger, b.expectedSeq, list.length, `its prev_hash is not the hash of stored seq ${b.expectedSeq - 1}`);
    }
    if (b.receipts.length > 0) ledgers.set(b.ledger, [...list, ...b.receipts.map((r) => structuredClone(r))]);
    if (b.checkpoint) checkpoints.set(b.ledger, [...(checkpoints.get(b.ledger) ?? []), { ...b.checkpoint }]);
    return null;
  };
  const store: MemoryLedgerStore = {
    ledgers,
    checkpoints,
    failing: false,
    appendCalls: 0,
    async append(b) {
      check();
      validate(b);
      const c = one(b);
      if (c) throw c;
    },
    async appendMany(batches) {
      check();
      for (const b of batches) validate(b);
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
      const s = snapshots.get(ledger);
      return s === undefined ? null : structuredClone(s);
    },
    async probe() {
      check();
    },
    async close() {},
  };
  return store;
}
