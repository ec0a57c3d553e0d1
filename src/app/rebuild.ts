/**
 * Rebuilding a governor from the store: its snapshot, if it still matches
 * the ledger, and the receipts after it, each checked to link to the one
 * before it. What it returns is all the ledger log needs to go on appending.
 */
import type { Logger } from "pino";
import { replay } from "../../governors/replay.ts";
import { decodeSnapshotState, SNAPSHOT_VERSION, type StoredGovernorState } from "../../governors/snapshot.ts";
import { initialGovernorState, type GovernorState } from "../../governors/state.ts";
import type { Phase } from "../../governors/statechart.ts";
import { ChainBrokenError, ChainLink } from "../ledger/chain-link.ts";
import { hexToBytes } from "../ledger/hash.ts";
import { MerkleFrontier } from "../ledger/merkle.ts";
import type { LedgerId } from "../ledger/receipt.ts";
import type { LedgerStore } from "../ports/index.ts";

export interface Rebuilt {
  readonly state: GovernorState;
  /** The seq the replay started from (the snapshot's size; 0 without one). */
  readonly from: number;
  readonly replayed: number;
  /** Where the ledger log resumes appending. */
  readonly resume: { size: number; lastHash: string; lastTimestamp: string | null; frontier: MerkleFrontier; checkpointed: number };
}

const PAGE = 10_000;

/**
 * Reads a governor back from the store.
 * @throws {ChainBrokenError} when a stored receipt does not link to the one before it.
 * @throws {ReplayDivergenceError} when a receipt is not a legal next step.
 */
export async function rebuildFromStore(store: LedgerStore, ledger: LedgerId, logger: Logger): Promise<Rebuilt> {
  const [head, snap, checkpoint] = await Promise.all([store.head(ledger), store.getSnapshot(ledger), store.latestCheckpoint(ledger)]);
  let from = 0;
  let state: GovernorState | undefined;
  let frontier = new MerkleFrontier();
  if (snap !== null && snap.version === SNAPSHOT_VERSION && snap.seq <= head.size && snap.seq > 0) {
    // The snapshot must still describe this ledger: the receipt it ends at has the hash it recorded.
    const lastHash = snap.seq === head.size ? head.lastHash : (await store.read(ledger, snap.seq - 1, 1))[0]?.hash;
    if (lastHash === snap.lastHash) {
      const saved = snap.state as { value: Phase; gov: StoredGovernorState; frontier: unknown };
      try {
        state = decodeSnapshotState(saved.gov, saved.value);
        frontier = MerkleFrontier.fromJSON(saved.frontier as never);
        from = snap.seq;
      } catch (err) {
        state = undefined;
        frontier = new MerkleFrontier();
        logger.warn({ ledger, err }, "snapshot cannot be read; replaying from seq 0");
      }
    } else {
      logger.warn({ ledger }, "snapshot does not match the ledger; replaying from seq 0");
    }
  }
  state ??= initialGovernorState(ledger);
  let replayed = 0;
  // Every receipt read must link to the one before it: a chain that does not is never continued.
  const link = from === 0 ? new ChainLink(ledger) : new ChainLink(ledger, { seq: from - 1, hash: state.lastHash ?? "" });
  for (let seq = from; seq < head.size; seq += PAGE) {
    // Never past the head read above: another writer may be appending, and the log resumes at that head.
    const receipts = await store.read(ledger, seq, Math.min(PAGE, head.size - seq));
    for (const r of receipts) link.next(r);
    replay(state, receipts);
    for (const r of receipts) frontier.push(hexToBytes(r.hash));
    replayed += receipts.length;
  }
  if (head.size > from && link.lastHash !== head.lastHash) throw new ChainBrokenError(ledger, head.size - 1, `ledger ${ledger}: its head hash is not the hash of its last receipt`);
  return {
    state,
    from,
    replayed,
    resume: { size: head.size, lastHash: head.lastHash, lastTimestamp: head.lastTimestamp, frontier, checkpointed: checkpoint?.size ?? 0 },
  };
}
