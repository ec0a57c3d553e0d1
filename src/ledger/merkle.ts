/**
 * The RFC 6962 / RFC 9162 §2.1 Merkle tree over a ledger's receipt hashes.
 *
 * The leaves are already leaf hashes (a receipt's `hash`, SHA-256(0x00 ‖
 * JCS(body))), so this module only ever hashes interior nodes:
 * SHA-256(0x01 ‖ left ‖ right). Hashes are 32-byte `Uint8Array`s here; the
 * hex form lives at the receipt boundary (`hash.ts`).
 *
 * The rules for size 0 and for equal sizes are written on `EMPTY_ROOT`.
 */
import { hash as oneShotHash } from "node:crypto";

/** Bytes in every hash of the tree. */
export const HASH_SIZE = 32;

function sha256(data: Uint8Array): Uint8Array {
  const digest = oneShotHash("sha256", data, "buffer");
  // A plain Uint8Array view of the digest's own 32-byte buffer (no copy).
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

/**
 * SHA-256 of the empty string (e3b0c442…b855): the root of the tree of size 0.
 * Shared: never mutate it; the functions here return copies.
 *
 * Size-0 and equal-size rules (RFC 6962 §2.1, RFC 9162 §2.1.1, §2.1.3 and
 * §2.1.4; where the RFCs are silent, as for equal sizes, the transparency-dev
 * test vectors decide):
 * - the root of the empty tree (size 0) is SHA-256 of the empty string,
 *   MTH({}) = SHA-256();
 * - no inclusion proof exists in a tree of size 0 (every index is out of
 *   range): `inclusionProof` throws and `verifyInclusion` returns false;
 * - no consistency proof exists from size 0 (RFC 9162 defines consistency
 *   proofs for 0 < first only; every tree extends the empty one, so such a
 *   check proves nothing): `consistencyProof` throws, and
 *   `verifyConsistency` returns false whenever the old size is 0, whatever
 *   the proof and roots, including from 0 to 0;
 * - between equal sizes n > 0 the consistency proof is empty, and it
 *   verifies exactly when the proof is empty and the two roots are the same
 *   bytes;
 * - an old size greater than the new size never verifies.
 */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

/** Reused input buffer for interior-node hashing: 0x01 ‖ left ‖ right. */
const nodeInput = Buffer.alloc(1 + 2 * HASH_SIZE);
nodeInput[0] = 0x01;

/**
 * Hashes `nodeInput` into `target` at `offset`. A "binary" (latin1) string digest is
 * copied byte by byte because allocating it is several times cheaper than
 * allocating a Buffer digest, and this runs once per interior node.
 */
function digestNodeInto(target: Uint8Array, offset: number): void {
  const digest = oneShotHash("sha256", nodeInput, "binary");
  for (let i = 0; i < HASH_SIZE; i++) target[offset + i] = digest.charCodeAt(i);
}

/** An interior node: SHA-256(0x01 ‖ left ‖ right). Returns a new array. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length === HASH_SIZE && right.length === HASH_SIZE) {
    nodeInput.set(left, 1);
    nodeInput.set(right, 1 + HASH_SIZE);
    const out = new Uint8Array(HASH_SIZE);
    digestNodeInto(out, 0);
    return out;
  }
  const input = new Uint8Array(1 + left.length + right.length);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return sha256(input);
}

function checkLeaf(leaf: Uint8Array | undefined, index: number): Uint8Array {
  if (!(leaf instanceof Uint8Array) || leaf.length !== HASH_SIZE) {
    const what = leaf instanceof Uint8Array ? `${leaf.length} bytes` : typeof leaf;
    throw new RangeError(`leaf ${index} is ${what}; leaves are ${HASH_SIZE}-byte hashes`);
  }
  return leaf;
}

/**
 * MTH(leaves[from:to]). Bottom-up, level by level in one flat buffer, an odd
 * last node carried up unhashed: this builds exactly RFC 6962's tree (whose
 * left subtree is always the largest power of two) without recursion.
 */
function rangeRoot(leaves: readonly Uint8Array[], from: number, to: number): Uint8Array {
  const n = to - from;
  if (n === 0) return EMPTY_ROOT.slice();
  if (n === 1) return checkLeaf(leaves[from], from).slice();
  let count = (n + 1) >>> 1;
  const level = Buffer.alloc(count * HASH_SIZE);
  let out = 0;
  let i = from;
  for (; i + 1 < to; i += 2, out += HASH_SIZE) {
    nodeInput.set(checkLeaf(leaves[i], i), 1);
    nodeInput.set(checkLeaf(leaves[i + 1], i + 1), 1 + HASH_SIZE);
    digestNodeInto(level, out);
  }
  if (i < to) level.set(checkLeaf(leaves[i], i), out);
  while (count > 1) {
    const pairs = count >>> 1;
    for (let p = 0; p < pairs; p++) {
      level.copy(nodeInput, 1, p * 2 * HASH_SIZE, (p + 1) * 2 * HASH_SIZE);
      digestNodeInto(level, p * HASH_SIZE);
    }
    if (count % 2 === 1) level.copyWithin(pairs * HASH_SIZE, (count - 1) * HASH_SIZE, count * HASH_SIZE);
    count = pairs + (count % 2);
  }
  return new Uint8Array(level.subarray(0, HASH_SIZE));
}

/**
 * The RFC 6962 Merkle tree hash (MTH) over `leaves`, which are 32-byte leaf
 * hashes; `EMPTY_ROOT` (a copy) for no leaves.
 * @throws {RangeError} when a leaf is not 32 bytes.
 */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  return rangeRoot(leaves, 0, leaves.length);
}

/** The largest power of two smaller than n (n > 1): RFC 6962's split point k. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function checkTreeSize(leaves: readonly Uint8Array[], size: number, what: string): void {
  if (!Number.isSafeInteger(size) || size < 0 || size > leaves.length) {
    throw new RangeError(`${what} ${String(size)} is not an integer within 0..${leaves.length} (the leaves given)`);
  }
}

/**
 * The RFC 9162 §2.1.3.1 inclusion proof (audit path) of leaf `index` in the
 * tree of the first `size` leaves, ordered from the leaf's sibling up to the
 * root's child.
 * @throws {RangeError} when `size` is beyond the leaves given or `index >= size`
 *   (in particular always for size 0, which has no leaves to prove).
 */
export function inclusionProof(leaves: readonly Uint8Array[], index: number, size: number = leaves.length): Uint8Array[] {
  checkTreeSize(leaves, size, "tree size");
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new RangeError(`leaf index ${String(index)} is not in a tree of size ${size}`);
  }
  // PATH(m, D[lo:hi]) descends towards the leaf; the siblings are collected root-first.
  const path: Uint8Array[] = [];
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      path.push(rangeRoot(leaves, lo + k, hi));
      hi = lo + k;
    } else {
      path.push(rangeRoot(leaves, lo, lo + k));
      lo += k;
    }
  }
  return path.reverse();
}

/**
 * The RFC 9162 §2.1.4.1 consistency proof that the tree of the first
 * `newSize` leaves extends the tree of the first `oldSize` leaves. Empty when
 * the sizes are equal.
 * @throws {RangeError} when `oldSize` is 0 (no proof exists from the empty
 *   tree), `oldSize > newSize`, or `newSize` is beyond the leaves given.
 */
export function consistencyProof(leaves: readonly Uint8Array[], oldSize: number, newSize: number = leaves.length): Uint8Array[] {
  checkTreeSize(leaves, newSize, "new tree size");
  if (!Number.isSafeInteger(oldSize) || oldSize < 0 || oldSize > newSize) {
    throw new RangeError(`old tree size ${String(oldSize)} is not an integer within 0..${newSize} (the new size)`);
  }
  if (oldSize === 0) throw new RangeError("no consistency proof exists from the empty tree (old tree size 0)");
  // SUBPROOF(m, D[lo:hi], b), unrolled: nodes are collected root-first.
  const proof: Uint8Array[] = [];
  let lo = 0;
  let hi = newSize;
  let whole = true;
  while (oldSize !== hi) {
    const k = splitPoint(hi - lo);
    if (oldSize - lo <= k) {
      proof.push(rangeRoot(leaves, lo + k, hi));
      hi = lo + k;
    } else {
      proof.push(rangeRoot(leaves, lo, lo + k));
      lo += k;
      whole = false;
    }
  }
  if (!whole) proof.push(rangeRoot(leaves, lo, hi));
  return proof.reverse();
}

const isHash = (h: unknown): h is Uint8Array => h instanceof Uint8Array && h.length === HASH_SIZE;
const isSize = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
const isProof = (p: unknown): p is readonly Uint8Array[] => Array.isArray(p) && p.every(isHash);
// Tree sizes go beyond 2^32, so bits are taken arithmetically rather than with 32-bit operators.
const lsb = (x: number): boolean => x % 2 === 1;
const half = (x: number): number => Math.floor(x / 2);

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The root an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1–4), or
 * null when the proof cannot be right: index out of range, a hash that is
 * not 32 bytes, or a proof of the wrong length for the index and size.
 */
export function rootFromInclusionProof(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[]): Uint8Array | null {
  if (!isSize(index) || !isSize(size) || index >= size || !isHash(leaf) || !isProof(proof)) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return null;
    if (lsb(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!lsb(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 ? (r === leaf ? leaf.slice() : r) : null;
}

/**
 * Whether `proof` shows that `leaf` is at `index` in the tree of `size`
 * leaves whose root is `root` (RFC 9162 §2.1.3.2). Returns false, and never
 * throws, for anything malformed: index ≥ size (so always for size 0),
 * hashes that are not 32-byte `Uint8Array`s, or a proof with missing or
 * extra components.
 */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  const calculated = rootFromInclusionProof(index, size, leaf, proof);
  return calculated !== null && isHash(root) && equalBytes(calculated, root);
}

/**
 * Whether `proof` shows that the tree of `newSize` leaves with root
 * `newRoot` extends the tree of `oldSize` leaves with root `oldRoot`
 * (RFC 9162 §2.1.4.2). Returns false, and never throws, for anything
 * malformed. Edge rules (see `EMPTY_ROOT`): `oldSize` 0 never
 * verifies; `oldSize > newSize` never verifies; equal sizes verify exactly
 * when the proof is empty and the roots are equal bytes.
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[] | null,
): boolean {
  const path = proof ?? [];
  if (!isSize(oldSize) || !isSize(newSize) || oldSize === 0 || oldSize > newSize || !Array.isArray(path)) return false;
  if (!(oldRoot instanceof Uint8Array) || !(newRoot instanceof Uint8Array)) return false;
  if (oldSize === newSize) return path.length === 0 && equalBytes(oldRoot, newRoot);
  if (path.length === 0 || !isProof(path) || !isHash(oldRoot) || !isHash(newRoot)) return false;

  let fn = oldSize - 1;
  let sn = newSize - 1;
  // A power-of-two old tree is itself a node of the new tree: its root seeds the path.
  const nodes = isPowerOfTwo(oldSize) ? [oldRoot, ...path] : path;
  while (lsb(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = nodes[0]!;
  let sr = nodes[0]!;
  for (let i = 1; i < nodes.length; i++) {
    const c = nodes[i]!;
    if (sn === 0) return false;
    if (lsb(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!lsb(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equalBytes(fr, oldRoot) && equalBytes(sr, newRoot);
}

function isPowerOfTwo(n: number): boolean {
  let x = n;
  while (x > 1 && x % 2 === 0) x /= 2;
  return x === 1;
}

/** What `MerkleFrontier.toJSON()` returns: the size and the subtree roots in hex, largest subtree first. */
export interface MerkleFrontierJSON {
  readonly size: number;
  readonly nodes: readonly string[];
}

function popCount(n: number): number {
  let count = 0;
  for (let x = n; x > 0; x = half(x)) if (lsb(x)) count++;
  return count;
}

/**
 * An incremental Merkle tree (a compact range): the roots of the perfect
 * subtrees that make up the tree so far, one per set bit of its size,
 * largest (leftmost) first. Appending is O(1) amortized, `root()` is
 * O(log n), and the leaves themselves are not kept. Its roots equal
 * `merkleRoot` over the same leaves at every size.
 */
export class MerkleFrontier {
  /** Perfect-subtree roots, largest first; never mutated once stored, so clones may share them. */
  #nodes: Uint8Array[] = [];
  #size = 0;

  /** The number of leaves pushed. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends a leaf hash (copied).
   * @throws {RangeError} when the leaf is not 32 bytes.
   */
  push(leaf: Uint8Array): void {
    let node: Uint8Array = checkLeaf(leaf, this.#size).slice();
    for (let s = this.#size; lsb(s); s = half(s)) node = nodeHash(this.#nodes.pop()!, node);
    this.#nodes.push(node);
    this.#size++;
  }

  /** The RFC 6962 root of the leaves pushed so far (a new array; `EMPTY_ROOT` copy when none). */
  root(): Uint8Array {
    const n = this.#nodes.length;
    if (n === 0) return EMPTY_ROOT.slice();
    let r = this.#nodes[n - 1]!;
    if (n === 1) return r.slice();
    for (let i = n - 2; i >= 0; i--) r = nodeHash(this.#nodes[i]!, r);
    return r;
  }

  /** An independent copy: pushing to one does not change the other. */
  clone(): MerkleFrontier {
    const copy = new MerkleFrontier();
    copy.#nodes = this.#nodes.slice();
    copy.#size = this.#size;
    return copy;
  }

  /** A frontier over the given leaf hashes, in order. */
  static from(leaves: Iterable<Uint8Array>): MerkleFrontier {
    const frontier = new MerkleFrontier();
    for (const leaf of leaves) frontier.push(leaf);
    return frontier;
  }

  /** The frontier as JSON data (for snapshots): `{ size, nodes: [hex, …] }`. */
  toJSON(): MerkleFrontierJSON {
    return { size: this.#size, nodes: this.#nodes.map((n) => Buffer.from(n.buffer, n.byteOffset, n.byteLength).toString("hex")) };
  }

  /**
   * Restores a frontier from `toJSON()` output.
   * @throws {TypeError} with a precise message when the data is not a
   *   frontier: size not a non-negative integer, nodes not 64-digit
   *   lowercase hex, or not one node per set bit of the size.
   */
  static fromJSON(json: unknown): MerkleFrontier {
    if (typeof json !== "object" || json === null) throw new TypeError("Merkle frontier: expected an object { size, nodes }");
    const { size, nodes } = json as { size?: unknown; nodes?: unknown };
    if (!isSize(size)) throw new TypeError(`Merkle frontier: size ${JSON.stringify(size) ?? "undefined"} is not a non-negative integer`);
    if (!Array.isArray(nodes)) throw new TypeError("Merkle frontier: nodes is not an array");
    const expected = popCount(size);
    if (nodes.length !== expected) throw new TypeError(`Merkle frontier: a tree of size ${size} has ${expected} subtree roots, found ${nodes.length}`);
    const frontier = new MerkleFrontier();
    frontier.#nodes = nodes.map((n: unknown, i) => {
      if (typeof n !== "string" || !/^[0-9a-f]{64}$/.test(n)) throw new TypeError(`Merkle frontier: node ${i} is not 64 lowercase hex digits`);
      return new Uint8Array(Buffer.from(n, "hex"));
    });
    frontier.#size = size;
    return frontier;
  }
}
