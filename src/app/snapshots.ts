/**
 * Snapshots of governors: taken when a governor has applied enough receipts
 * since its last one (and on stop), stored beside its ledger once the
 * receipts it covers are durable, and read back by a rebuild instead of
 * replaying from seq 0.
 */
import type { Logger } from "pino";
import { encodeSnapshotState, SNAPSHOT_VERSION } from "../../governors/snapshot.ts";
import type { LedgerLog } from "../log/ledger-log.ts";
import type { LedgerStore } from "../ports/index.ts";
import type { Governor } from "./governor-record.ts";

export class Snapshots {
  readonly #store: LedgerStore;
  readonly #log: LedgerLog;
  readonly #logger: Logger;
  /** Receipts between two snapshots of a governor (at least; grows with the ledger). */
  readonly every: number;
  readonly #writes = new Set<Promise<void>>();

  constructor(options: { store: LedgerStore; log: LedgerLog; logger: Logger; every?: number }) {
    this.#store = options.store;
    this.#log = options.log;
    this.#logger = options.logger;
    this.every = options.every ?? 10_000;
  }

  /** Takes a snapshot of the governor if one is due (or `force`, if it applied anything since the last). */
  maybe(g: Governor, force: boolean): void {
    if (g.snapshotting) return;
    const gov = g.state;
    const size = gov.lastSeq + 1;
    const since = size - g.lastSnapshotSeq;
    const due = force ? since > 0 : since >= Math.max(this.every, Math.floor(g.lastSnapshotSeq / 10));
    if (!due || this.#log.sealedSize(g.account) !== size) return;
    // Taken now, when the state covers exactly the sealed receipts; stored once they are durable.
    // A drain is not durable (see governors/statechart.ts): a governor restored from this snapshot is active again.
    const saved = { value: gov.phase === "draining" ? "active" : gov.phase, gov: encodeSnapshotState(gov), frontier: this.#log.frontier(g.account).toJSON() };
    const lastHash = gov.lastHash ?? "";
    g.snapshotting = true;
    g.lastSnapshotSeq = size;
    let release!: () => void;
    const written = new Promise<void>((resolve) => (release = resolve));
    this.#writes.add(written);
    const done = () => {
      g.snapshotting = false;
      this.#writes.delete(written);
      release();
    };
    this.#log.afterDurable(
      g.account,
      () => {
        this.#store
          .putSnapshot(g.account, { seq: size, lastHash, version: SNAPSHOT_VERSION, state: saved })
          .catch((err: unknown) => this.#logger.warn({ ledger: g.account, err }, "snapshot not stored; replay will read more receipts"))
          .finally(done);
      },
      done,
    );
  }

  /** Resolves once every snapshot being written is stored (or failed). */
  async settled(): Promise<void> {
    await Promise.all(this.#writes);
  }
}
