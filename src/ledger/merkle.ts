/**
 * The RFC 6962 / RFC 9162 §2.1 Merkle tree over receipt hashes (the leaves
 * are already leaf hashes: SHA-256(0x00 ‖ JCS(body))).
 *
 * Size-0 rule: the root of the empty tree is SHA-256 of the empty string
 * (RFC 6962 MTH({})). No inclusion proof exists in a tree of size 0, and no
 * consistency proof exists from size 0: every tree extends the empty one, so
 * such a check proves nothing and is rejected (RFC 9162 requires
 * 0 < first; the transparency-dev vectors reject it). From size n to the same
 * size n > 0 the proof is empty and verifies when the two roots are equal.
 *
 * Verification follows transparency-dev/merkle's proof/verify.go, which
 * implements RFC 9162 §2.1.3.2 and §2.1.4.2 and rejects a proof of the wrong
 * length (so extra or missing components fail, as the test vectors require).
 */
import { createHash, hash as oneShot } from "node:crypto";

const HASH_SIZE = 32;

/** SHA-256 of the empty string: the root of a tree of size 0. */
export const EMPTY_ROOT: Uint8Array = new Uint8Array(createHash("sha256").digest());

const nodeBuffer = Buffer.alloc(1 + 2 * HASH_SIZE);
nodeBuffer[0] = 0x01;

/** SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length === HASH_SIZE && right.length === HASH_SIZE) {
    nodeBuffer.set(left, 1);
    nodeBuffer.set(right, 1 + HASH_SIZE);
    return new Uint8Array(oneShot("sha256", nodeBuffer, "buffer"));
  }
  return new Uint8Array(createHash("sha256").update(Buffer.from([0x01])).update(left).update(right).digest());
}

/** MTH of leaves[from, to): iterative, pairs adjacent nodes and carries an odd last node up (same tree as RFC 6962). */
function rangeRoot(leaves: readonly Uint8Array[], from: number, to: number): Uint8Array {
  const n = to - from;
  if (n === 0) return EMPTY_ROOT;
  if (n === 1) return leaves[from]!;
  let level: Uint8Array[] = new Array<Uint8Array>(Math.ceil(n / 2));
  let count = 0;
  for (let i = from; i + 1 < to; i += 2) level[count++] = nodeHash(leaves[i]!, leaves[i + 1]!);
  if (n % 2 === 1) level[count++] = leaves[to - 1]!;
  let size = count;
  while (size > 1) {
    let out = 0;
    for (let i = 0; i + 1 < size; i += 2) level[out++] = nodeHash(level[i]!, level[i + 1]!);
    if (size % 2 === 1) level[out++] = level[size - 1]!;
    size = out;
  }
  return level[0]!;
}

/** The root over all leaves. */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  return rangeRoot(leaves, 0, leaves.length);
}

/** Largest power of two strictly below n (n > 1). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** RFC 6962 PATH(m, D[from:to]), leaf to root. */
function path(leaves: readonly Uint8Array[], m: number, from: number, to: number, out: Uint8Array[]): void {
  const n = to - from;
  if (n <= 1) return;
  const k = splitPoint(n);
  if (m < k) {
    path(leaves, m, from, from + k, out);
    out.push(rangeRoot(leaves, from + k, to));
  } else {
    path(leaves, m - k, from + k, to, out);
    out.push(rangeRoot(leaves, from, from + k));
  }
}

/** The inclusion proof (audit path) of leaf `index` in the tree of the first `size` leaves. */
export function inclusionProof(leaves: readonly Uint8Array[], index: number, size = leaves.length): Uint8Array[] {
  if (!Number.isSafeInteger(size) || size < 0 || size > leaves.length) throw new RangeError(`size ${size} is not within 0..${leaves.length}`);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new RangeError(`index ${index} is not in a tree of size ${size}`);
  const out: Uint8Array[] = [];
  path(leaves, index, 0, size, out);
  return out;
}

/** RFC 6962 SUBPROOF(m, D[from:to], b). */
function subproof(leaves: readonly Uint8Array[], m: number, from: number, to: number, whole: boolean, out: Uint8Array[]): void {
  const n = to - from;
  if (m === n) {
    if (!whole) out.push(rangeRoot(leaves, from, to));
    return;
  }
  const k = splitPoint(n);
  if (m <= k) {
    subproof(leaves, m, from, from + k, whole, out);
    out.push(rangeRoot(leaves, from + k, to));
  } else {
    subproof(leaves, m - k, from + k, to, false, out);
    out.push(rangeRoot(leaves, from, from + k));
  }
}

/** The consistency proof between the trees of the first `oldSize` and `newSize` leaves. */
export function consistencyProof(leaves: readonly Uint8Array[], oldSize: number, newSize = leaves.length): Uint8Array[] {
  if (!Number.isSafeInteger(newSize) || newSize < 0 || newSize > leaves.length) throw new RangeError(`size ${newSize} is not within 0..${leaves.length}`);
  if (!Number.isSafeInteger(oldSize) || oldSize < 0 || oldSize > newSize) throw new RangeError(`old size ${oldSize} is not within 0..${newSize}`);
  if (oldSize === 0) throw new RangeError("there is no consistency proof from the empty tree");
  if (oldSize === newSize) return [];
  const out: Uint8Array[] = [];
  subproof(leaves, oldSize, 0, newSize, true, out);
  return out;
}

const bitLength = (x: number): number => (x === 0 ? 0 : Math.floor(Math.log2(x)) + 1);
function popCount(x: number): number {
  let c = 0;
  while (x > 0) {
    c += x % 2;
    x = Math.floor(x / 2);
  }
  return c;
}
const bit = (x: number, i: number): number => Math.floor(x / 2 ** i) % 2;
const shiftRight = (x: number, s: number): number => Math.floor(x / 2 ** s);
function trailingZeros(x: number): number {
  let n = 0;
  while (x > 0 && x % 2 === 0) {
    x /= 2;
    n++;
  }
  return n;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** RFC 9162 proof shape: `inner` levels below the split from the right border, `border` levels along it. */
function decompose(index: number, size: number): { inner: number; border: number } {
  let inner: number;
  if (index < 2 ** 31 && size <= 2 ** 31) {
    inner = bitLength((index ^ (size - 1)) >>> 0);
  } else {
    const x = BigInt(index) ^ BigInt(size - 1);
    inner = x === 0n ? 0 : x.toString(2).length;
  }
  const border = popCount(shiftRight(index, inner));
  return { inner, border };
}

function chainInner(seed: Uint8Array, proof: readonly Uint8Array[], index: number): Uint8Array {
  let r = seed;
  for (let i = 0; i < proof.length; i++) r = bit(index, i) === 0 ? nodeHash(r, proof[i]!) : nodeHash(proof[i]!, r);
  return r;
}

function chainInnerRight(seed: Uint8Array, proof: readonly Uint8Array[], index: number): Uint8Array {
  let r = seed;
  for (let i = 0; i < proof.length; i++) if (bit(index, i) === 1) r = nodeHash(proof[i]!, r);
  return r;
}

function chainBorderRight(seed: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
  let r = seed;
  for (const p of proof) r = nodeHash(p, r);
  return r;
}

const validSize = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/** The root an inclusion proof leads to, or null when the proof cannot be right (RFC 9162 §2.1.3.2). */
export function rootFromInclusionProof(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[]): Uint8Array | null {
  if (!validSize(index) || !validSize(size) || index >= size) return null;
  if (leaf.length !== HASH_SIZE) return null;
  const { inner, border } = decompose(index, size);
  if (proof.length !== inner + border) return null;
  const r = chainInner(leaf, proof.slice(0, inner), index);
  return chainBorderRight(r, proof.slice(inner));
}

/** Whether `leaf` is at `index` in the tree of `size` with `root`. Never throws on attacker data. */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  const calc = rootFromInclusionProof(index, size, leaf, proof);
  return calc !== null && equalBytes(calc, root);
}

/** Whether the tree of `newSize` with `newRoot` extends the tree of `oldSize` with `oldRoot` (RFC 9162 §2.1.4.2). */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[] | null,
): boolean {
  const p = proof ?? [];
  if (!validSize(oldSize) || !validSize(newSize) || newSize < oldSize || oldSize === 0) return false;
  if (oldSize === newSize) return p.length === 0 && equalBytes(oldRoot, newRoot);
  if (p.length === 0) return false;
  const decomposed = decompose(oldSize - 1, newSize);
  const shift = trailingZeros(oldSize);
  const inner = decomposed.inner - shift;
  let seed: Uint8Array;
  let start: number;
  if (oldSize === 2 ** shift) {
    seed = oldRoot;
    start = 0;
  } else {
    seed = p[0]!;
    start = 1;
  }
  if (p.length !== start + inner + decomposed.border) return false;
  const rest = p.slice(start);
  const mask = shiftRight(oldSize - 1, shift);
  const h1 = chainBorderRight(chainInnerRight(seed, rest.slice(0, inner), mask), rest.slice(inner));
  if (!equalBytes(h1, oldRoot)) return false;
  const h2 = chainBorderRight(chainInner(seed, rest.slice(0, inner), mask), rest.slice(inner));
  return equalBytes(h2, newRoot);
}

/**
 * An incremental Merkle tree: the roots of the perfect subtrees that make up
 * the tree so far (a compact range), so appending is O(1) amortized and the
 * root O(log n), without keeping the leaves.
 */
export class MerkleFrontier {
  /** Perfect subtree roots, largest (leftmost) first. */
  #nodes: Uint8Array[] = [];
  /** Heights of those subtrees. */
  #heights: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(leaf: Uint8Array): void {
    let node = leaf;
    let height = 0;
    while (this.#heights.length > 0 && this.#heights[this.#heights.length - 1] === height) {
      node = nodeHash(this.#nodes.pop()!, node);
      this.#heights.pop();
      height++;
    }
    this.#nodes.push(node);
    this.#heights.push(height);
    this.#size++;
  }

  root(): Uint8Array {
    if (this.#nodes.length === 0) return EMPTY_ROOT;
    let r = this.#nodes[this.#nodes.length - 1]!;
    for (let i = this.#nodes.length - 2; i >= 0; i--) r = nodeHash(this.#nodes[i]!, r);
    return r;
  }

  clone(): MerkleFrontier {
    const c = new MerkleFrontier();
    c.#nodes = this.#nodes.slice();
    c.#heights = this.#heights.slice();
    c.#size = this.#size;
    return c;
  }

  static from(leaves: Iterable<Uint8Array>): MerkleFrontier {
    const f = new MerkleFrontier();
    for (const l of leaves) f.push(l);
    return f;
  }

  toJSON(): { size: number; nodes: string[] } {
    return { size: this.#size, nodes: this.#nodes.map((n) => Buffer.from(n).toString("hex")) };
  }

  static fromJSON(json: { size: number; nodes: string[] }): MerkleFrontier {
    const f = new MerkleFrontier();
    // The heights follow from the size: one perfect subtree per set bit, largest first.
    const heights: number[] = [];
    for (let h = 52; h >= 0; h--) if (bit(json.size, h) === 1) heights.push(h);
    if (heights.length !== json.nodes.length) throw new Error(`frontier of size ${json.size} needs ${heights.length} nodes, has ${json.nodes.length}`);
    f.#nodes = json.nodes.map((n) => new Uint8Array(Buffer.from(n, "hex")));
    f.#heights = heights;
    f.#size = json.size;
    return f;
  }
}
