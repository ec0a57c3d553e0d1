/**
 * An action's params schema (JSON Schema, the subset `z.fromJSONSchema`
 * understands), checked when a policy is pushed and compiled into the
 * validator every signal's params go through. Two things would let a pushed
 * schema stop the process, and both are refused or defused here:
 *
 * - A `$ref` that leads back to itself (`{"$defs":{"a":{"$ref":"#/$defs/a"}},
 *   "$ref":"#/$defs/a"}`, or a → b → a): zod builds a lazy schema that calls
 *   itself until the stack overflows, on the first signal. Every `$ref`
 *   cycle is refused, with the path of the `$ref` that closes it; so is a
 *   schema that, refs written out, has more than MAX_SCHEMA_NODES schemas (a
 *   few refs used twice at each level multiply).
 *
 * - A `pattern` (or a `patternProperties` name) with nested quantifiers,
 *   `^(a+)+$`: JavaScript's backtracking RegExp takes exponential time on a
 *   string that almost matches. Patterns run on re2js instead, a maintained
 *   pure-JavaScript port of RE2 that matches in time linear in the input, with
 *   RE2's syntax and semantics (no backreferences or lookaround: a pattern
 *   RE2 does not compile is refused at push, with its path). re2js rather than
 *   a ReDoS checker such as recheck: an engine that cannot backtrack needs no
 *   verdict on each pattern, and a checker's "safe" is a judgement the next
 *   pattern may escape, where RE2's bound is a property of the engine.
 */
import { RE2JS } from "re2js";
import { z } from "zod";

/** Schemas in a params schema with its `$ref`s written out; beyond it validation cost is no longer bounded by the document's size. */
export const MAX_SCHEMA_NODES = 10_000;
/**
 * Longest `pattern` (and `patternProperties` name), in characters, and most
 * patterns in one params schema. RE2 matches in time linear in the input, but
 * with a factor that grows with the pattern: within these, compiling the
 * patterns of a push takes milliseconds, and matching a 64 KiB string a few.
 */
export const MAX_PATTERN_LENGTH = 256;
export const MAX_PATTERNS = 64;

export interface ParamsSchemaIssue {
  /** Path inside the params schema, e.g. `["$defs", "a", "$ref"]`. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

type Schema = Record<string, unknown>;
type Path = readonly (string | number)[];

const isObject = (v: unknown): v is Schema => typeof v === "object" && v !== null && !Array.isArray(v);

/** Keywords whose value is a schema or an array of schemas (as zod's converter reads them). */
const SCHEMA_KEYWORDS = new Set(["items", "prefixItems", "additionalItems", "additionalProperties", "contains", "propertyNames", "not", "if", "then", "else", "allOf", "anyOf", "oneOf", "unevaluatedItems", "unevaluatedProperties", "contentSchema"]);
/** Keywords whose value maps names to schemas. `$defs` and `definitions` are reached through `$ref`s. */
const SCHEMA_MAP_KEYWORDS = new Set(["properties", "patternProperties", "dependentSchemas", "dependencies"]);

/**
 * RE2 writes a UTF-16 escape `\x{…}`; JSON Schema patterns (ECMA-262) write
 * `\uXXXX`. Translated so such patterns keep their meaning; every other
 * escape is left to RE2 to take or refuse.
 */
export function toRe2Syntax(pattern: string): string {
  if (!pattern.includes("\\u")) return pattern;
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const next = pattern.slice(i + 1, i + 6);
    if (/^u[0-9A-Fa-f]{4}$/.test(next)) {
      out += `\\x{${next.slice(1)}}`;
      i += 5;
    } else {
      out += c + (pattern[i + 1] ?? "");
      i++;
    }
  }
  return out;
}

/** Compiles a pattern with RE2 semantics; the message says why RE2 refuses it. */
function compilePattern(pattern: string): RE2JS | string {
  if (pattern.length > MAX_PATTERN_LENGTH) return `the pattern is ${pattern.length} characters long; the limit is ${MAX_PATTERN_LENGTH}`;
  try {
    return RE2JS.compile(toRe2Syntax(pattern));
  } catch (err) {
    return `the pattern ${JSON.stringify(pattern.slice(0, 80))} is not one RE2 runs (patterns run in linear time with RE2 syntax: no backreferences, no lookaround): ${(err as Error).message}`;
  }
}

/** Every `pattern` string and `patternProperties` name anywhere in the schema, with its path (a superset of what zod reads). */
function findPatterns(schema: Schema): { pattern: string; path: Path }[] {
  const found: { pattern: string; path: Path }[] = [];
  const stack: { value: unknown; path: Path }[] = [{ value: schema, path: [] }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (Array.isArray(value)) {
      value.forEach((v, i) => stack.push({ value: v, path: [...path, i] }));
      continue;
    }
    if (!isObject(value)) continue;
    for (const [key, v] of Object.entries(value)) {
      if (key === "pattern" && typeof v === "string") found.push({ pattern: v, path: [...path, key] });
      if (key === "patternProperties" && isObject(v)) for (const name of Object.keys(v)) found.push({ pattern: name, path: [...path, key, name] });
      if (typeof v === "object" && v !== null) stack.push({ value: v, path: [...path, key] });
    }
  }
  return found;
}

/** The schemas a schema node leads to: its subschemas, and the target of its `$ref` (resolved as zod resolves it). */
function edges(node: Schema, path: Path, resolve: (ref: string) => { node: Schema; path: Path } | null): { node: Schema; path: Path; ref: Path | null }[] {
  const out: { node: Schema; path: Path; ref: Path | null }[] = [];
  const push = (v: unknown, p: Path) => {
    if (isObject(v)) out.push({ node: v, path: p, ref: null });
  };
  for (const [key, v] of Object.entries(node)) {
    if (key === "$ref" && typeof v === "string") {
      const target = resolve(v);
      if (target !== null) out.push({ node: target.node, path: target.path, ref: [...path, "$ref"] });
    } else if (SCHEMA_KEYWORDS.has(key)) {
      if (Array.isArray(v)) v.forEach((s, i) => push(s, [...path, key, i]));
      else push(v, [...path, key]);
    } else if (SCHEMA_MAP_KEYWORDS.has(key) && isObject(v)) {
      for (const [name, s] of Object.entries(v)) push(s, [...path, key, name]);
    }
  }
  return out;
}

/**
 * What would make validation with this schema crash or stall: a `$ref`
 * cycle, a pattern RE2 does not run, too many schemas once refs are written
 * out. Empty when the schema is safe to compile and run.
 */
export function checkParamsSchema(schema: Schema): ParamsSchemaIssue[] {
  const issues: ParamsSchemaIssue[] = [];
  const patterns = findPatterns(schema);
  if (patterns.length > MAX_PATTERNS) return [{ path: [], message: `the schema has ${patterns.length} patterns; the limit is ${MAX_PATTERNS}` }];
  for (const { pattern, path } of patterns) {
    const compiled = compilePattern(pattern);
    if (typeof compiled === "string") issues.push({ path, message: compiled });
  }

  // zod's reading of refs: "#" is the root, "#/$defs/<name>" (or "#/definitions/<name>" before
  // draft 2020-12) a definition of the root; anything else is not found (zod says so when compiling).
  const version = schema["$schema"] === "http://json-schema.org/draft-07/schema#" || schema["$schema"] === "http://json-schema.org/draft-04/schema#" ? "old" : "2020-12";
  const defsKey = version === "2020-12" ? "$defs" : "definitions";
  const defs = isObject(schema["$defs"]) ? schema["$defs"] : isObject(schema["definitions"]) ? schema["definitions"] : {};
  const defsPath = isObject(schema["$defs"]) ? "$defs" : "definitions";
  const resolve = (ref: string): { node: Schema; path: Path } | null => {
    if (!ref.startsWith("#")) return null;
    const parts = ref.slice(1).split("/").filter(Boolean);
    if (parts.length === 0) return { node: schema, path: [] };
    if (parts[0] !== defsKey || parts[1] === undefined) return null;
    const name = parts[1].replace(/~1/g, "/").replace(/~0/g, "~");
    const target = Object.hasOwn(defs, name) ? defs[name] : undefined;
    return isObject(target) ? { node: target, path: [defsPath, name] } : null;
  };

  // Depth-first over schemas, refs followed, without recursion: a ref to a schema still on the
  // stack closes a cycle. Each schema's size (refs written out) is summed once it is done.
  const GREY = -1;
  const size = new Map<Schema, number>();
  const roots: { node: Schema; path: Path }[] = [{ node: schema, path: [] }, ...Object.entries(defs).flatMap(([name, d]) => (isObject(d) ? [{ node: d, path: [defsPath, name] }] : []))];
  let tooLarge = false;
  for (const root of roots) {
    if (size.has(root.node)) continue;
    const frames: { node: Schema; path: Path; via: Path | null; next: ReturnType<typeof edges>; i: number; total: number }[] = [];
    const enter = (node: Schema, path: Path, via: Path | null) => {
      size.set(node, GREY);
      frames.push({ node, path, via, next: edges(node, path, resolve), i: 0, total: 1 });
    };
    enter(root.node, root.path, null);
    while (frames.length > 0) {
      const top = frames.at(-1)!;
      if (top.i < top.next.length) {
        const edge = top.next[top.i++]!;
        const known = size.get(edge.node);
        if (known === GREY) {
          // The cycle runs from the frame of edge.node to here; name a $ref on it.
          const start = frames.findIndex((f) => f.node === edge.node);
          const refs = [...frames.slice(start + 1).map((f) => f.via), edge.ref].filter((p): p is Path => p !== null);
          const chain = [...frames.slice(start).map((f) => pointer(f.path)), pointer(edge.path)].join(" → ");
          issues.push({ path: refs[refs.length - 1] ?? edge.path, message: `this $ref leads back to where it started (${chain}): a params schema cannot refer to itself, directly or through other $refs` });
          return issues;
        }
        if (known === undefined) enter(edge.node, edge.path, edge.ref);
        else top.total = Math.min(top.total + known, MAX_SCHEMA_NODES + 1);
        continue;
      }
      frames.pop();
      size.set(top.node, top.total);
      const parent = frames.at(-1);
      if (parent !== undefined) parent.total = Math.min(parent.total + top.total, MAX_SCHEMA_NODES + 1);
      if (top.total > MAX_SCHEMA_NODES) tooLarge = true;
    }
  }
  if (tooLarge) {
    issues.push({ path: [], message: `the schema holds more than ${MAX_SCHEMA_NODES} schemas once its $refs are written out; use fewer $refs per level, or a simpler schema` });
  }
  return issues;
}

function pointer(path: Path): string {
  return `#${path.map((p) => `/${String(p).replace(/~/g, "~0").replace(/\//g, "~1")}`).join("")}`;
}

/**
 * A compiled pattern as zod's regex check uses one (`lastIndex`, `test`,
 * `toString`), matching with re2js.
 */
class LinearPattern {
  lastIndex = 0;
  readonly source: string;
  readonly flags = "";
  readonly #re: RE2JS;
  constructor(source: string, re: RE2JS) {
    this.source = source;
    this.#re = re;
  }
  test(input: string): boolean {
    return this.#re.test(input);
  }
  toString(): string {
    return `/${this.source}/`;
  }
}

const NativeRegExp = globalThis.RegExp;

/**
 * Builds the zod validator of a params schema, every pattern in it matching
 * on re2js. Call `checkParamsSchema` first: it refuses what this would build
 * but could not run safely.
 *
 * zod's converter builds each `pattern` and `patternProperties` name into a
 * JavaScript RegExp (`new RegExp(pattern)`), some of them inside closures no
 * walk of the finished schema can reach. So while it runs (synchronously,
 * nothing else can run meanwhile) the global RegExp constructor is one that
 * returns a re2js-backed pattern for exactly the patterns this schema holds,
 * and a native RegExp for anything else (zod's own formats); it is put back
 * before this returns or throws. A unit test holds every pattern position to
 * RE2's semantics, so a zod upgrade that builds patterns another way fails it.
 */
export function compileParamsSchema(schema: Schema): z.ZodType {
  const linear = new Map<string, RE2JS>();
  for (const { pattern } of findPatterns(schema)) {
    const compiled = compilePattern(pattern);
    if (typeof compiled === "string") throw new Error(compiled);
    linear.set(pattern, compiled);
  }
  if (linear.size === 0) return z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  function PatternRegExp(this: unknown, pattern?: unknown, flags?: unknown): unknown {
    const re = typeof pattern === "string" && flags === undefined ? linear.get(pattern) : undefined;
    if (re !== undefined) return new LinearPattern(pattern as string, re);
    return Reflect.construct(NativeRegExp, [pattern, flags]);
  }
  PatternRegExp.prototype = NativeRegExp.prototype;
  Object.setPrototypeOf(PatternRegExp, NativeRegExp);
  globalThis.RegExp = PatternRegExp as unknown as RegExpConstructor;
  try {
    return z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  } finally {
    globalThis.RegExp = NativeRegExp;
  }
}
