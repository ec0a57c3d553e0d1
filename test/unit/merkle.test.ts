import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  merkleRoot,
  MerkleFrontier,
  nodeHash,
  verifyConsistency,
  verifyInclusion,
} from "../../src/ledger/merkle.ts";

const vectors = join(import.meta.dirname, "../vectors/merkle");
const b64 = (s: string | null | undefined) => new Uint8Array(Buffer.from(s ?? "", "base64"));

/** Every *.json below a directory, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".json") ? [p] : [];
  });
}

interface InclusionCase { leafIdx: number; treeSize: number; root: string; leafHash: string; proof: string[] | null; desc: string; wantErr: boolean }
interface ConsistencyCase { size1: number; size2: number; root1: string; root2: string; proof: string[] | null; desc: string; wantErr: boolean }

// The subtreeinclusion/ and subtreeconsistency/ vectors are for proofs over a
// subtree range [start, end), a different proof type than RFC 9162's: Governor
// issues and verifies only whole-tree proofs, so those vectors do not apply.
describe("RFC 9162 inclusion proofs: transparency-dev vectors", () => {
  const cases = files(join(vectors, "inclusion"));
  it("has the vectors", () => expect(cases.length).toBeGreaterThan(50));
  for (const file of cases) {
    const c = JSON.parse(readFileSync(file, "utf8")) as InclusionCase;
    it(`${file.slice(vectors.length + 1)}: ${c.desc} → ${c.wantErr ? "rejected" : "accepted"}`, () => {
      const ok = verifyInclusion(c.leafIdx, c.treeSize, b64(c.leafHash), (c.proof ?? []).map(b64), b64(c.root));
      expect(ok).toBe(!c.wantErr);
    });
  }
});

describe("RFC 9162 consistency proofs: transparency-dev vectors", () => {
  const cases = files(join(vectors, "consistency"));
  it("has the vectors", () => expect(cases.length).toBeGreaterThan(50));
  for (const file of cases) {
    const c = JSON.parse(readFileSync(file, "utf8")) as ConsistencyCase;
    it(`${file.slice(vectors.length + 1)}: ${c.desc} → ${c.wantErr ? "rejected" : "accepted"}`, () => {
      const ok = verifyConsistency(c.size1, c.size2, b64(c.root1), b64(c.root2), (c.proof ?? []).map(b64));
      expect(ok).toBe(!c.wantErr);
    });
  }
});

const leaf = (i: number) => {
  const b = new Uint8Array(32);
  new DataView(b.buffer).setUint32(0, i);
  b[31] = 0xaa;
  return b;
};
const leaves = (n: number) => Array.from({ length: n }, (_, i) => leaf(i));

describe("Merkle tree", () => {
  it("roots the empty tree at SHA-256 of the empty string", () => {
    expect(Buffer.from(merkleRoot([])).toString("hex")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(new MerkleFrontier().root()).toEqual(EMPTY_ROOT);
  });

  it("is RFC 6962's MTH: a 3-leaf tree is H(H(l0,l1), l2)", () => {
    const l = leaves(3);
    expect(merkleRoot(l)).toEqual(nodeHash(nodeHash(l[0]!, l[1]!), l[2]!));
  });

  it("frontier root equals the batch root at every size, also through JSON", () => {
    const l = leaves(300);
    const f = new MerkleFrontier();
    for (let n = 1; n <= l.length; n++) {
      f.push(l[n - 1]!);
      expect(f.root()).toEqual(merkleRoot(l.slice(0, n)));
    }
    const again = MerkleFrontier.fromJSON(JSON.parse(JSON.stringify(f.toJSON())) as { size: number; nodes: string[] });
    expect(again.root()).toEqual(f.root());
    again.push(leaf(999));
    f.push(leaf(999));
    expect(again.root()).toEqual(f.root());
  });

  it("generated inclusion proofs verify, and fail for a wrong index, size, leaf or flipped byte", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.nat(), fc.nat(), (size, i, flip) => {
        const l = leaves(size);
        const index = i % size;
        const proof = inclusionProof(l, index);
        const root = merkleRoot(l);
        expect(verifyInclusion(index, size, l[index]!, proof, root)).toBe(true);
        if (proof.length > 0) expect(verifyInclusion(index, size, l[index]!, proof.slice(1), root)).toBe(false);
        expect(verifyInclusion(index, size, l[index]!, [...proof, l[0]!], root)).toBe(false);
        if (size > 1) expect(verifyInclusion((index + 1) % size, size, l[index]!, proof, root)).toBe(false);
        expect(verifyInclusion(index, size, leaf(10_000), proof, root)).toBe(false);
        if (proof.length > 0) {
          const bad = proof.map((p) => p.slice());
          const which = flip % bad.length;
          bad[which]![flip % 32]! ^= 1;
          expect(verifyInclusion(index, size, l[index]!, bad, root)).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("generated consistency proofs verify, and fail for a wrong size, root or flipped byte", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 150 }), fc.nat(), fc.nat(), (size2, s, flip) => {
        const l = leaves(size2);
        const size1 = 1 + (s % size2);
        const proof = consistencyProof(l, size1, size2);
        const r1 = merkleRoot(l.slice(0, size1));
        const r2 = merkleRoot(l);
        expect(verifyConsistency(size1, size2, r1, r2, proof)).toBe(true);
        if (size1 < size2) {
          expect(verifyConsistency(size1, size2, r2, r1, proof)).toBe(false);
          const bad = proof.map((p) => p.slice());
          bad[flip % bad.length]![flip % 32]! ^= 1;
          expect(verifyConsistency(size1, size2, r1, r2, bad)).toBe(false);
          if (size1 > 1) expect(verifyConsistency(size1 - 1, size2, r1, r2, proof)).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("has no inclusion proof in an empty tree and no consistency proof from size 0", () => {
    expect(() => inclusionProof([], 0)).toThrow(RangeError);
    expect(verifyInclusion(0, 0, leaf(0), [], EMPTY_ROOT)).toBe(false);
    expect(() => consistencyProof(leaves(5), 0)).toThrow(RangeError);
    expect(verifyConsistency(0, 5, EMPTY_ROOT, merkleRoot(leaves(5)), [])).toBe(false);
    expect(verifyConsistency(5, 5, merkleRoot(leaves(5)), merkleRoot(leaves(5)), [])).toBe(true);
  });
});
