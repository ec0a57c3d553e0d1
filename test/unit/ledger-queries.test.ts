/**
 * The auditor's reads: which ledgers exist, the size a page reports, and
 * inclusion proofs that verify against the tree they name (RFC 9162).
 */
import { describe, expect, it } from "vitest";
import { LedgerQueries } from "../../src/app/ledger-queries.ts";
import { hexToBytes, sha256Hex } from "../../src/ledger/hash.ts";
import { verifyInclusion } from "../../src/ledger/merkle.ts";
import type { LedgerId } from "../../src/ledger/receipt.ts";

const ledger = "acme" as LedgerId;
const hashes = Array.from({ length: 7 }, (_, i) => sha256Hex(`leaf ${i}`));

function queries(options: { written?: number; checkpoint?: { size: number; note: string } | null; tenants?: string[] } = {}) {
  return new LedgerQueries({
    store: {
      read: () => Promise.resolve([]),
      head: (l) => Promise.resolve({ size: l === ledger ? hashes.length : 0, lastHash: "", lastTimestamp: "" } as never),
      latestCheckpoint: () => Promise.resolve((options.checkpoint ?? null) as never),
      readHashes: (_l, from = 0, to = hashes.length) => Promise.resolve(hashes.slice(from, to)),
    },
    writtenSize: () => options.written,
    hasTenant: (account) => (options.tenants ?? []).includes(account),
    exportTo: () => Promise.reject(new Error("not used")),
  });
}

describe("LedgerQueries", () => {
  it("knows the platform ledger, a tenant here, and a ledger with receipts; nothing else", async () => {
    const q = queries({ tenants: ["globex"] });
    expect(await q.exists("_platform" as LedgerId)).toBe(true);
    expect(await q.exists("globex" as LedgerId)).toBe(true);
    expect(await q.exists(ledger)).toBe(true);
    expect(await q.exists("initech" as LedgerId)).toBe(false);
  });

  it("reports the size this process made durable over the store's", async () => {
    expect((await queries({ written: 5 }).receipts(ledger, 0, 10)).size).toBe(5);
    expect((await queries().receipts(ledger, 0, 10)).size).toBe(7);
  });

  it("proves a receipt in the checkpoint's tree by default, and the proof verifies against its root", async () => {
    const p = await queries({ checkpoint: { size: 6, note: "note of 6" } }).proof(ledger, 3);
    if (p.kind !== "proof") throw new Error(p.message);
    expect([p.tree_size, p.leaf_hash, p.checkpoint]).toEqual([6, hashes[3], "note of 6"]);
    const proof = p.hashes.map((h) => new Uint8Array(Buffer.from(h, "base64")));
    expect(verifyInclusion(3, 6, hexToBytes(hashes[3]!), proof, new Uint8Array(Buffer.from(p.root, "base64")))).toBe(true);
    expect(verifyInclusion(3, 6, hexToBytes(hashes[4]!), proof, new Uint8Array(Buffer.from(p.root, "base64")))).toBe(false);
  });

  it("proves in the durable tree when there is no checkpoint, with no checkpoint note for a size it does not sign", async () => {
    const p = await queries({ checkpoint: { size: 6, note: "note of 6" } }).proof(ledger, 6, 7);
    expect(p).toMatchObject({ kind: "proof", tree_size: 7, checkpoint: null });
    expect(await queries().proof(ledger, 0)).toMatchObject({ kind: "proof", tree_size: 7 });
  });

  it("refuses a size beyond the ledger and a seq outside the tree", async () => {
    expect(await queries().proof(ledger, 0, 8)).toEqual({ kind: "out_of_range", message: "size 8 is beyond the ledger (7 receipts)" });
    expect(await queries({ written: 4 }).proof(ledger, 4)).toEqual({ kind: "out_of_range", message: "seq 4 is not in a tree of size 4" });
  });
});
