import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  merkleRoot,
  MerkleFrontier,
  nodeHash,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from "../../src/ledger/merkle.ts";

const vectors = join(import.meta.dirname, "../vectors/merkle");
/** The vectors are Go JSON: []byte as base64, nil as null. */
const b64 = (s: string | null | undefined): Uint8Array => new Uint8Array(Buffer.from(s ?? "", "base64"));
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const fromHex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));

function jsonFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? jsonFiles(path) : path.endsWith(".json") ? [path] : [];
    });
}

interface InclusionCase { leafIdx: number; treeSize: number; root: string; leafHash: string; proof: string[] | null; desc: string; wantErr: boolean }
interface ConsistencyCase { size1: number; size2: number; root1: string; root2: string; proof: string[] | null; desc: string; wantErr: boolean }

// Not run: test/vectors/merkle/subtreeinclusion/ and subtreeconsistency/. They
// test proofs about an arbitrary subtree [start, end) of a tree (inclusion of
// a leaf in that subtree, and consistency of that subtree with a larger tree),
// as defined for Merkle Tree Certificates (draft-ietf-plants-merkle-tree-certs)
// and by transparency-dev's VerifySubtreeInclusion/VerifySubtreeConsistency.
// Those are different algorithms with different inputs (start, end, size) and
// edge rules from RFC 9162 §2.1.3–2.1.4's whole-tree proofs, which are the only
// proofs Governor issues and the auditors' contract names.
describe("RFC 9162 inclusion proofs: every transparency-dev vector", () => {
  const files = jsonFiles(join(vectors, "inclusion"));
  it("finds all 98 inclusion vectors", () => expect(files).toHaveLength(98));
  for (const file of files) {
    const c = JSON.parse(readFileSync(file, "utf8")) as InclusionCase;
    it(`${relative(vectors, file)} (${c.desc}) is ${c.wantErr ? "rejected" : "accepted"}`, () => {
      expect(verifyInclusion(c.leafIdx, c.treeSize, b64(c.leafHash), (c.proof ?? []).map(b64), b64(c.root))).toBe(!c.wantErr);
    });
  }
});

describe("RFC 9162 consistency proofs: every transparency-dev vector", () => {
  const files = jsonFiles(join(vectors, "consistency"));
  it("finds all 98 consistency vectors", () => expect(files).toHaveLength(98));
  for (const file of files) {
    const c = JSON.parse(readFileSync(file, "utf8")) as ConsistencyCase;
    it(`${relative(vectors, file)} (${c.desc}) is ${c.wantErr ? "rejected" : "accepted"}`, () => {
      expect(verifyConsistency(c.size1, c.size2, b64(c.root1), b64(c.root2), c.proof === null ? null : c.proof.map(b64))).toBe(!c.wantErr);
    });
  }
});

// The RFC 6962 reference tree of transparency-dev/merkle's proof tests: leaf
// data, and the roots of the trees of its first 1..8 leaves.
const referenceData = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
const referenceRoots = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
const referenceLeaves = referenceData.map((d) => new Uint8Array(createHash("sha256").update(Uint8Array.of(0)).update(fromHex(d)).digest()));

describe("Merkle tree hash (known answers)", () => {
  it("the empty tree's root is SHA-256 of the empty string, returned as a copy", () => {
    expect(hex(EMPTY_ROOT)).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const root = merkleRoot([]);
    expect(root).toEqual(EMPTY_ROOT);
    root[0] = 0;
    expect(hex(merkleRoot([]))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(hex(new MerkleFrontier().root())).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("matches the RFC 6962 reference roots at sizes 1..8, batch and incremental", () => {
    const frontier = new MerkleFrontier();
    for (let n = 1; n <= 8; n++) {
      frontier.push(referenceLeaves[n - 1]!);
      expect(hex(merkleRoot(referenceLeaves.slice(0, n)))).toBe(referenceRoots[n - 1]);
      expect(hex(frontier.root())).toBe(referenceRoots[n - 1]);
    }
  });

  it("produces the reference proofs (inclusion of leaf 6 in 8, consistency 6 → 8)", () => {
    expect(inclusionProof(referenceLeaves, 5, 8).map(hex)).toEqual([
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]);
    expect(consistencyProof(referenceLeaves, 6, 8).map(hex)).toEqual([
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]);
    expect(consistencyProof(referenceLeaves, 2, 5).map(hex)).toEqual([
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]);
  });

  it("refuses leaves that are not 32-byte hashes, and never aliases its input", () => {
    expect(() => merkleRoot([new Uint8Array(32), new Uint8Array(31)])).toThrow("leaf 1 is 31 bytes; leaves are 32-byte hashes");
    expect(() => new MerkleFrontier().push(new Uint8Array(33))).toThrow(RangeError);
    const leaf = new Uint8Array(32).fill(9);
    const root = merkleRoot([leaf]);
    root[0] = 1;
    expect(leaf[0]).toBe(9);
    const f = new MerkleFrontier();
    f.push(leaf);
    leaf[0] = 2;
    expect(f.root()[0]).toBe(9);
  });
});

/** Distinct 32-byte leaves, as receipt hashes would be. */
const makeLeaves = (n: number): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => new Uint8Array(createHash("sha256").update(`leaf ${i}`).digest()));
const pool = makeLeaves(300);
const flip = (h: Uint8Array, at: number): Uint8Array => {
  const copy = h.slice();
  copy[at % copy.length]! ^= 1 << at % 8;
  return copy;
};

describe("proofs: properties over random trees", () => {
  it("a generated inclusion proof verifies; a flipped byte, another index, another size or a changed proof length fails", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 300 }), (size, i, at, otherSize) => {
        const leaves = pool.slice(0, size);
        const index = i % size;
        const leaf = leaves[index]!;
        const proof = inclusionProof(leaves, index);
        const root = merkleRoot(leaves);
        expect(verifyInclusion(index, size, leaf, proof, root)).toBe(true);
        expect(verifyInclusion(index, size, flip(leaf, at), proof, root)).toBe(false);
        expect(verifyInclusion(index, size, leaf, proof, flip(root, at))).toBe(false);
        proof.forEach((_, k) => {
          const bad = proof.map((p, j) => (j === k ? flip(p, at) : p));
          expect(verifyInclusion(index, size, leaf, bad, root)).toBe(false);
        });
        if (size > 1) {
          const wrongIndex = (index + 1 + (at % (size - 1))) % size;
          expect(verifyInclusion(wrongIndex, size, leaf, proof, root)).toBe(false);
        }
        if (otherSize !== size && index < otherSize) {
          // Claiming another size, with that tree's real root.
          expect(verifyInclusion(index, otherSize, leaf, proof, merkleRoot(pool.slice(0, otherSize)))).toBe(false);
        }
        expect(verifyInclusion(index, size, leaf, [...proof, root], root)).toBe(false);
        expect(verifyInclusion(index, size, leaf, [root, ...proof], root)).toBe(false);
        if (proof.length > 0) expect(verifyInclusion(index, size, leaf, proof.slice(0, -1), root)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("a proof for another size verifies against this size's root only when the audit paths coincide", () => {
    // RFC 9162 binds the tree size through the signed checkpoint, not the
    // proof: leaf 0's path in a 4-leaf tree has the same shape as in a
    // 3-leaf tree, so the pair (size 3, root of 4) passes; its own tree's
    // root never does.
    const leaves = pool.slice(0, 4);
    const proof4 = inclusionProof(leaves, 0);
    expect(verifyInclusion(0, 3, leaves[0]!, proof4, merkleRoot(leaves))).toBe(true);
    expect(verifyInclusion(0, 3, leaves[0]!, proof4, merkleRoot(leaves.slice(0, 3)))).toBe(false);
    expect(verifyInclusion(0, 8, leaves[0]!, proof4, merkleRoot(leaves))).toBe(false);
  });

  it("a generated consistency proof verifies; a flipped byte, swapped roots, other sizes or a changed proof fails", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 300 }), (size2, s, at, other) => {
        const size1 = 1 + (s % size2);
        const proof = consistencyProof(pool, size1, size2);
        const root1 = merkleRoot(pool.slice(0, size1));
        const root2 = merkleRoot(pool.slice(0, size2));
        expect(verifyConsistency(size1, size2, root1, root2, proof)).toBe(true);
        expect(verifyConsistency(size1, size2, flip(root1, at), root2, proof)).toBe(false);
        expect(verifyConsistency(size1, size2, root1, flip(root2, at), proof)).toBe(false);
        expect(verifyConsistency(size1, size2, root1, root2, [...proof, root1])).toBe(false);
        if (size1 === size2) {
          expect(proof).toEqual([]);
          return;
        }
        expect(verifyConsistency(size1, size2, root2, root1, proof)).toBe(false);
        proof.forEach((_, k) => {
          const bad = proof.map((p, j) => (j === k ? flip(p, at) : p));
          expect(verifyConsistency(size1, size2, root1, root2, bad)).toBe(false);
        });
        expect(verifyConsistency(size1, size2, root1, root2, proof.slice(0, -1))).toBe(false);
        expect(verifyConsistency(size1, size2, root1, root2, [root1, ...proof])).toBe(false);
        if (other !== size1 && other < size2) {
          expect(verifyConsistency(other, size2, merkleRoot(pool.slice(0, other)), root2, proof)).toBe(false);
        }
        if (other !== size2 && other > size1) {
          expect(verifyConsistency(size1, other, root1, merkleRoot(pool.slice(0, other)), proof)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("the frontier's root equals merkleRoot at every size, through clones and JSON snapshots", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.nat(), (size, cut) => {
        const leaves = pool.slice(0, size);
        const split = size === 0 ? 0 : cut % (size + 1);
        const first = MerkleFrontier.from(leaves.slice(0, split));
        expect(first.size).toBe(split);
        const restored = MerkleFrontier.fromJSON(JSON.parse(JSON.stringify(first)) as unknown);
        const copy = first.clone();
        for (const leaf of leaves.slice(split)) {
          restored.push(leaf);
          copy.push(leaf);
        }
        expect(first.size).toBe(split);
        expect(first.root()).toEqual(merkleRoot(leaves.slice(0, split)));
        expect(restored.root()).toEqual(merkleRoot(leaves));
        expect(copy.root()).toEqual(merkleRoot(leaves));
        expect(restored.size).toBe(size);
      }),
      { numRuns: 200 },
    );
    const f = new MerkleFrontier();
    for (let n = 1; n <= 300; n++) {
      f.push(pool[n - 1]!);
      expect(f.root()).toEqual(merkleRoot(pool.slice(0, n)));
    }
  });

  it("verification never throws on attacker data", () => {
    const anyValue = fc.oneof(fc.anything(), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.array(fc.uint8Array({ minLength: 31, maxLength: 33 })));
    fc.assert(
      fc.property(anyValue, anyValue, anyValue, anyValue, anyValue, (a, b, c, d, e) => {
        expect(typeof verifyInclusion(a as number, b as number, c as Uint8Array, d as Uint8Array[], e as Uint8Array)).toBe("boolean");
        expect(typeof verifyConsistency(a as number, b as number, c as Uint8Array, d as Uint8Array, e as Uint8Array[])).toBe("boolean");
        expect(verifyInclusion(0, 1, c as Uint8Array, d as Uint8Array[], e as Uint8Array)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe("size rules", () => {
  it("size 0: no inclusion proof, no consistency proof from it, nothing verifies", () => {
    expect(() => inclusionProof([], 0)).toThrow("leaf index 0 is not in a tree of size 0");
    expect(verifyInclusion(0, 0, pool[0]!, [], EMPTY_ROOT)).toBe(false);
    expect(() => consistencyProof(pool, 0, 5)).toThrow("no consistency proof exists from the empty tree");
    expect(verifyConsistency(0, 5, EMPTY_ROOT, merkleRoot(pool.slice(0, 5)), [])).toBe(false);
    expect(verifyConsistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])).toBe(false);
  });

  it("equal sizes: an empty proof, verifying exactly when the roots are equal", () => {
    const root = merkleRoot(pool.slice(0, 5));
    expect(consistencyProof(pool, 5, 5)).toEqual([]);
    expect(verifyConsistency(5, 5, root, root.slice(), [])).toBe(true);
    expect(verifyConsistency(5, 5, root, flip(root, 3), [])).toBe(false);
    expect(verifyConsistency(5, 5, root, root, [root])).toBe(false);
  });

  it("refuses out-of-range arguments when making proofs", () => {
    expect(() => inclusionProof(pool.slice(0, 4), 4)).toThrow(RangeError);
    expect(() => inclusionProof(pool.slice(0, 4), -1)).toThrow(RangeError);
    expect(() => inclusionProof(pool.slice(0, 4), 0, 5)).toThrow("tree size 5 is not an integer within 0..4");
    expect(() => consistencyProof(pool.slice(0, 4), 3, 2)).toThrow("old tree size 3 is not an integer within 0..2");
    expect(() => consistencyProof(pool.slice(0, 4), 1, 5)).toThrow(RangeError);
  });

  it("works past 2^32 leaves (sizes are not 32-bit integers)", () => {
    // A tree of 2^40 + 1 leaves: a perfect left subtree (any hash will do) and one more leaf.
    const left = pool[1]!;
    const last = pool[2]!;
    const big = 2 ** 40;
    const root = nodeHash(left, last);
    expect(verifyInclusion(big, big + 1, last, [left], root)).toBe(true);
    expect(verifyInclusion(big - 1, big + 1, last, [left], root)).toBe(false);
    expect(hex(rootFromInclusionProof(big, big + 1, last, [left])!)).toBe(hex(root));
    expect(verifyConsistency(big, big + 1, left, root, [last])).toBe(true);
    expect(verifyConsistency(big, 2 * big + 1, left, root, [last])).toBe(false);
    const frontier = MerkleFrontier.fromJSON({ size: big + 1, nodes: [hex(left), hex(last)] });
    expect(frontier.root()).toEqual(root);
    frontier.push(pool[3]!);
    expect(frontier.size).toBe(big + 2);
    expect(frontier.root()).toEqual(nodeHash(left, nodeHash(last, pool[3]!)));
  });
});

describe("MerkleFrontier snapshots", () => {
  it("serialise as { size, nodes } in hex, one node per set bit of the size", () => {
    const f = MerkleFrontier.from(pool.slice(0, 6));
    const json = f.toJSON();
    expect(json.size).toBe(6);
    expect(json.nodes).toEqual([hex(merkleRoot(pool.slice(0, 4))), hex(merkleRoot(pool.slice(4, 6)))]);
  });

  it.each<[string, unknown, string]>([
    ["not an object", "x", "expected an object { size, nodes }"],
    ["a negative size", { size: -1, nodes: [] }, "size -1 is not a non-negative integer"],
    ["a fractional size", { size: 1.5, nodes: [] }, "size 1.5 is not a non-negative integer"],
    ["nodes missing", { size: 1 }, "nodes is not an array"],
    ["too few nodes", { size: 3, nodes: ["00".repeat(32)] }, "a tree of size 3 has 2 subtree roots, found 1"],
    ["a node that is not hex", { size: 1, nodes: ["zz".repeat(32)] }, "node 0 is not 64 lowercase hex digits"],
    ["a short node", { size: 1, nodes: ["00".repeat(31)] }, "node 0 is not 64 lowercase hex digits"],
  ])("refuses %s with a precise TypeError", (_what, json, message) => {
    expect(() => MerkleFrontier.fromJSON(json)).toThrow(TypeError);
    expect(() => MerkleFrontier.fromJSON(json)).toThrow(message);
  });
});
