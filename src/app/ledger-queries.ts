/**
 * The auditor's reads of a ledger: a page of receipts, the latest checkpoint,
 * an inclusion proof, an archive. Proofs are computed here from the stored
 * leaf hashes, never by the ingress.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytesToHex, hexToBytes } from "../ledger/hash.ts";
import { inclusionProof, merkleRoot } from "../ledger/merkle.ts";
import { PLATFORM_LEDGER, type LedgerId } from "../ledger/receipt.ts";
import type { LedgerStore } from "../ports/index.ts";
import type { ArchiveExport, CheckpointView, ProofResult, ReceiptPage } from "./governor-service.ts";

export interface LedgerQueriesDeps {
  readonly store: Pick<LedgerStore, "read" | "head" | "latestCheckpoint" | "readHashes">;
  /** The durable size of a ledger this process writes, or undefined when it does not write it. */
  readonly writtenSize: (ledger: LedgerId) => number | undefined;
  /** A tenant has a governor here. */
  readonly hasTenant: (account: string) => boolean;
  /** Writes a fresh archive of a ledger to a file. */
  readonly exportTo: (ledger: LedgerId, destination: string) => Promise<{ readonly size: number; readonly sha256: string }>;
}

/** Reads of ledgers for auditors. */
export class LedgerQueries {
  readonly #d: LedgerQueriesDeps;

  constructor(deps: LedgerQueriesDeps) {
    this.#d = deps;
  }

  /** The platform ledger, a tenant's ledger, or any ledger that holds receipts (a decommissioned tenant's). */
  async exists(ledger: LedgerId): Promise<boolean> {
    if (ledger === PLATFORM_LEDGER || this.#d.hasTenant(ledger)) return true;
    return (await this.#d.store.head(ledger)).size > 0;
  }

  /** The durable size: what this process has made durable, else what the store holds. */
  async size(ledger: LedgerId): Promise<number> {
    return this.#d.writtenSize(ledger) ?? (await this.#d.store.head(ledger)).size;
  }

  async receipts(ledger: LedgerId, from: number, limit: number): Promise<ReceiptPage> {
    const receipts = await this.#d.store.read(ledger, from, limit);
    return { receipts, size: await this.size(ledger) };
  }

  async checkpoint(ledger: LedgerId): Promise<CheckpointView | null> {
    const cp = await this.#d.store.latestCheckpoint(ledger);
    return cp === null ? null : { size: cp.size, note: cp.note };
  }

  /** The inclusion proof of `seq` in the tree of `size` (default: the latest checkpoint's, else the durable size). */
  async proof(ledger: LedgerId, seq: number, size?: number): Promise<ProofResult> {
    const cp = await this.#d.store.latestCheckpoint(ledger);
    const durable = await this.size(ledger);
    const treeSize = size ?? cp?.size ?? durable;
    if (treeSize > durable) return { kind: "out_of_range", message: `size ${treeSize} is beyond the ledger (${durable} receipts)` };
    if (seq >= treeSize) return { kind: "out_of_range", message: `seq ${seq} is not in a tree of size ${treeSize}` };
    const hashes = (await this.#d.store.readHashes(ledger, 0, treeSize)).map(hexToBytes);
    return {
      kind: "proof",
      leaf_index: seq,
      tree_size: treeSize,
      leaf_hash: bytesToHex(hashes[seq]!),
      root: Buffer.from(merkleRoot(hashes)).toString("base64"),
      hashes: inclusionProof(hashes, seq, treeSize).map((h) => Buffer.from(h).toString("base64")),
      checkpoint: cp !== null && cp.size === treeSize ? cp.note : null,
    };
  }

  /** A fresh archive, written to a temporary file that is removed once its stream closes (or at once if it fails). */
  async exportArchive(ledger: LedgerId): Promise<ArchiveExport> {
    const dir = await mkdtemp(join(tmpdir(), "governor-export-"));
    try {
      const result = await this.#d.exportTo(ledger, join(dir, `${ledger}.tar.gz`));
      const stream = createReadStream(join(dir, `${ledger}.tar.gz`));
      stream.on("close", () => void rm(dir, { recursive: true, force: true }));
      return { stream, size: result.size, sha256: result.sha256 };
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }
}
