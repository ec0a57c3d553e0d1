/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the byte-exact text every
 * receipt hash is computed over.
 */
import canonicalize from "canonicalize";

/**
 * The RFC 8785 canonical JSON text of `value`: object members sorted by their
 * UTF-16 code units, no whitespace, ECMAScript number formatting, minimal
 * string escaping.
 *
 * Values are read as `JSON.stringify` reads them, so that a value and its
 * JSON round trip (`JSON.parse(JSON.stringify(value))`) always have the same
 * canonical text: object members whose value is `undefined` are left out,
 * `undefined` array elements become `null`, and objects with a `toJSON`
 * method (such as `Date`) are replaced by what it returns.
 *
 * @throws {TypeError} for what JSON cannot represent, naming where it is
 *   (`$` is the value itself): `undefined` at the top level, `NaN`, `Infinity`,
 *   BigInt, functions, symbols, strings with a lone UTF-16 surrogate (no UTF-8
 *   encoding exists), cycles, and objects other than plain objects and arrays
 *   (a `Map`, a `Uint8Array`, a class instance without `toJSON`), which JSON
 *   would silently turn into `{}`.
 */
export function canonicalJson(value: unknown): string {
  if (inCanonicalOrder(value, 0)) {
    const text = JSON.stringify(value);
    // JSON.stringify writes a lone surrogate as an escape (\udXXX), which JCS refuses; a
    // literal backslash followed by "ud" looks the same here and just takes the longer way.
    if (!text.includes("\\ud")) return text;
  }
  const fast = fastCanonical(value, 0);
  if (fast !== undefined) return fast;
  // Anything the fast serializer does not take (toJSON, sparse or exotic
  // values, deep nesting, what JSON cannot represent) goes to the reference
  // implementation, which also says what is wrong.
  if (!plainJson(value, 0)) {
    const problem = findUnrepresentable(value, "$", new Set());
    if (problem !== null) throw new TypeError(`canonical JSON: ${problem}`);
  }
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (error) {
    const problem = findUnrepresentable(value, "$", new Set());
    throw new TypeError(`canonical JSON: ${problem ?? (error instanceof Error ? error.message : String(error))}`);
  }
  if (text === undefined) throw new TypeError(`canonical JSON: ${findUnrepresentable(value, "$", new Set()) ?? "the value has no JSON representation"}`);
  return text;
}

/**
 * RFC 8785 for the values a receipt is made of (JSON primitives, arrays and
 * plain objects), in one pass without the reference implementation's
 * per-call bookkeeping: every receipt hash goes through here, tens of
 * thousands a second. Strings and numbers are ECMAScript's JSON.stringify
 * forms, which RFC 8785 adopts (§3.2.2); members sorted by UTF-16 code units
 * (the default sort). Returns undefined for anything else, which the caller
 * then hands to `canonicalize`; a property test holds the two equal.
 */
function fastCanonical(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case "string":
      return value.isWellFormed() ? JSON.stringify(value) : undefined;
    case "number":
      // String(n) is JSON.stringify's form for every finite number (-0 included: "0").
      return Number.isFinite(value) ? String(value) : undefined;
    case "boolean":
      return value ? "true" : "false";
    case "object":
      return value === null ? "null" : depth > MAX_FAST_DEPTH ? undefined : Array.isArray(value) ? fastArray(value, depth) : fastObject(value, depth);
    default:
      return undefined;
  }
}

/**
 * True when `JSON.stringify(value)` is already its JCS text, lone surrogates
 * aside (the caller checks the text for those): JSON primitives with finite
 * numbers, arrays without holes or undefined elements, and plain objects
 * whose own keys, in the order JSON.stringify takes them, are already sorted
 * by UTF-16 code units. Receipts are built that way, so sealing one (and
 * verifying one read back) serializes it natively, in one pass.
 */
function inCanonicalOrder(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (value === null) return true;
      if (depth > MAX_FAST_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (item === undefined || !inCanonicalOrder(item, depth + 1)) return false;
        }
        return true;
      }
      if (!plainObject(value)) return false;
      let previous: string | null = null;
      for (const key in value) {
        if (previous !== null && previous >= key) return false;
        previous = key;
        const member: unknown = (value as Record<string, unknown>)[key];
        if (member !== undefined && !inCanonicalOrder(member, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/**
 * `value`, or, when some object in it has its members out of canonical
 * order, a copy whose objects have them in canonical order: then
 * `JSON.stringify` of the copy is its JCS text (see `inCanonicalOrder`).
 * Values that are not plain JSON are left as they are (`canonicalJson`
 * says what is wrong with them), and so are objects with integer-like
 * member names, which no insertion order puts in canonical order.
 */
export function inCanonicalMemberOrder<T>(value: T): T {
  return inCanonicalOrder(value, 0) ? value : (sortedCopy(value, 0) as T);
}

function sortedCopy(value: unknown, depth: number): unknown {
  if (typeof value !== "object" || value === null || depth > MAX_FAST_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item: unknown) => sortedCopy(item, depth + 1));
  if (!plainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of sortedKeys(value)) defineMember(out, key, sortedCopy((value as Record<string, unknown>)[key], depth + 1));
  return out;
}

/**
 * Sets an own, enumerable member, as JSON.parse makes them: a member named
 * "__proto__" stays a member instead of replacing the object's prototype.
 */
export function defineMember(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/** A plain object (its prototype Object.prototype or null) that JSON.stringify does not replace through a `toJSON`. */
function plainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && typeof (value as { toJSON?: unknown }).toJSON !== "function";
}

function fastArray(value: readonly unknown[], depth: number): string | undefined {
  let out = "[";
  for (let i = 0; i < value.length; i++) {
    // A hole or an undefined element is null in JSON: left to the reference implementation.
    const item = fastCanonical(value[i], depth + 1);
    if (item === undefined) return undefined;
    if (i > 0) out += ",";
    out += item;
  }
  return out + "]";
}

function fastObject(value: object, depth: number): string | undefined {
  if (!plainObject(value)) return undefined;
  const keys = sortedKeys(value);
  let out = "{";
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const member: unknown = (value as Record<string, unknown>)[key];
    if (member === undefined) continue;
    const text = fastCanonical(member, depth + 1);
    if (text === undefined || !key.isWellFormed()) return undefined;
    if (out.length > 1) out += ",";
    out += quotedKey(key);
    out += ":";
    out += text;
  }
  return out + "}";
}

/** Own keys in UTF-16 code unit order. */
function sortedKeys(value: object): string[] {
  return sortMemberNames(Object.keys(value));
}

/**
 * Sorts member names in place in UTF-16 code unit order (JCS's) and returns
 * them: an insertion sort, as objects here have a few dozen members at most,
 * often in an order that repeats from one receipt to the next.
 */
export function sortMemberNames(keys: string[]): string[] {
  if (keys.length > 32) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

/** Member names repeat from receipt to receipt: their JSON form is kept (a bounded set). */
const quotedKeys = new Map<string, string>();
function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (quotedKeys.size < 4096 && key.length <= 64) quotedKeys.set(key, quoted);
  }
  return quoted;
}

/** Nesting the fast check leaves to the full walk. */
const MAX_FAST_DEPTH = 64;
/** Nesting beyond this is refused rather than risking the call stack. */
export const MAX_JSON_DEPTH = 1000;

/**
 * Fast check that `value` is made of JSON primitives, arrays and plain
 * objects only. It finds what `canonicalize` would serialize wrongly rather
 * than throw on (a function becomes the text `undefined`, a `Map` becomes
 * `{}`); everything else canonicalize rejects itself. It runs on every
 * receipt hash, so it builds no paths: on false, `findUnrepresentable`
 * decides and describes.
 */
function plainJson(value: unknown, depth: number): boolean {
  if (typeof value === "function" || typeof value === "symbol") return false;
  if (typeof value !== "object" || value === null) return true;
  if (depth > MAX_FAST_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!plainJson(value[i], depth + 1)) return false;
    return true;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key in value) {
    if (!plainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

/** Describes the first part of `value` that has no JSON text, or returns null. */
function findUnrepresentable(value: unknown, path: string, ancestors: Set<object>): string | null {
  if (ancestors.size >= MAX_JSON_DEPTH) return `${path.slice(0, 60)}… is nested more than ${MAX_JSON_DEPTH} levels deep`;
  switch (typeof value) {
    case "string":
      return value.isWellFormed() ? null : `${path} is a string with a lone UTF-16 surrogate (not encodable as UTF-8)`;
    case "number":
      return Number.isFinite(value) ? null : `${path} is ${String(value)}, which JSON cannot represent`;
    case "boolean":
      return null;
    case "undefined":
      return `${path} is undefined, which JSON cannot represent`;
    case "bigint":
      return `${path} is a BigInt, which JSON cannot represent (use a decimal string)`;
    case "function":
      return `${path} is a function, which JSON cannot represent`;
    case "symbol":
      return `${path} is a symbol, which JSON cannot represent`;
    default:
      break;
  }
  if (value === null) return null;
  const obj = value as object;
  if (ancestors.has(obj)) return `${path} refers back to an enclosing object (a cycle)`;
  if (typeof (obj as { toJSON?: unknown }).toJSON === "function") {
    ancestors.add(obj);
    const replaced: unknown = (obj as { toJSON(): unknown }).toJSON();
    const problem = replaced === undefined ? null : findUnrepresentable(replaced, path, ancestors);
    ancestors.delete(obj);
    return problem;
  }
  ancestors.add(obj);
  let problem: string | null = null;
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length && problem === null; i++) {
      const item: unknown = obj[i];
      if (item !== undefined) problem = findUnrepresentable(item, `${path}[${i}]`, ancestors);
    }
  } else {
    const proto: unknown = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      const kind = (obj as { constructor?: { name?: unknown } }).constructor?.name;
      problem = `${path} is ${typeof kind === "string" && kind !== "" ? `a ${kind}` : "an object with a custom prototype"}, not a plain object or array`;
    } else {
      for (const key in obj) {
        if (!Object.hasOwn(obj, key)) continue;
        const member: unknown = (obj as Record<string, unknown>)[key];
        if (member === undefined) continue;
        problem = findUnrepresentable(key, `${path} key ${JSON.stringify(key.slice(0, 64))}`, ancestors)
          ?? findUnrepresentable(member, memberPath(path, key), ancestors);
        if (problem !== null) break;
      }
    }
  }
  ancestors.delete(obj);
  return problem;
}

function memberPath(path: string, key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}
