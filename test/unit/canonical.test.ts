import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import canonicalize from "canonicalize";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson, inCanonicalMemberOrder, MAX_JSON_DEPTH } from "../../src/ledger/canonical.ts";

const anyString = fc.string({ unit: "binary", maxLength: 12 });
/** Any JSON value: strings of any code point, integer-like member names among others. */
const anyJsonValue = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    anyString,
    fc.array(tie("node"), { maxLength: 5 }),
    fc.dictionary(fc.oneof(anyString, fc.nat().map(String)), tie("node"), { maxKeys: 6 }),
  ),
})).node;

const dir = join(import.meta.dirname, "../vectors/jcs");
const inputs = readdirSync(join(dir, "input")).filter((n) => n.endsWith(".json")).sort();

describe("RFC 8785: every cyberphone test vector", () => {
  it("finds the six vectors, each with an expected output and hex", () => {
    expect(inputs).toEqual(["arrays.json", "french.json", "structures.json", "unicode.json", "values.json", "weird.json"]);
    expect(readdirSync(join(dir, "output")).sort()).toEqual(inputs);
    expect(readdirSync(join(dir, "outhex")).sort()).toEqual(inputs.map((n) => n.replace(/\.json$/, ".txt")));
  });

  for (const name of inputs) {
    it(`${name}: canonical bytes equal output/${name} and outhex`, () => {
      const input = JSON.parse(readFileSync(join(dir, "input", name), "utf8")) as unknown;
      const expected = readFileSync(join(dir, "output", name));
      const expectedHex = readFileSync(join(dir, "outhex", name.replace(/\.json$/, ".txt")), "utf8").replace(/\s+/g, "");
      const actual = Buffer.from(canonicalJson(input), "utf8");
      expect(actual.toString("hex")).toBe(expectedHex);
      expect(actual.equals(expected)).toBe(true);
    });
  }
});

describe("canonicalJson", () => {
  it("sorts members by UTF-16 code units, drops whitespace, formats numbers as ECMAScript does", () => {
    expect(canonicalJson({ b: 1, a: [true, null, "x"], "\u00e9": 0, A: { z: 1e21, y: 1e-7, x: -0, w: 0.1 } })).toBe(
      '{"A":{"w":0.1,"x":0,"y":1e-7,"z":1e+21},"a":[true,null,"x"],"b":1,"é":0}',
    );
    // UTF-16 order puts U+1F600 (0xD83D 0xDE00) before U+FB33, unlike code point order.
    expect(canonicalJson({ "\ufb33": 2, "\ud83d\ude00": 1 })).toBe('{"\ud83d\ude00":1,"\ufb33":2}');
  });

  it("reads values as JSON.stringify does: undefined members dropped, undefined items null, toJSON applied", () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson([undefined, 1])).toBe("[null,1]");
    expect(canonicalJson({ at: new Date(Date.UTC(2026, 10, 24, 10, 0, 0, 5)) })).toBe('{"at":"2026-11-24T10:00:00.005Z"}');
    expect(canonicalJson(Object.assign(Object.create(null) as object, { z: 1, a: 2 }))).toBe('{"a":2,"z":1}');
  });

  it.each<[string, unknown, RegExp]>([
    ["undefined at the top level", undefined, /\$ is undefined/],
    ["NaN", { a: [1, Number.NaN] }, /\$\.a\[1\] is NaN/],
    ["Infinity", { a: { b: Number.POSITIVE_INFINITY } }, /\$\.a\.b is Infinity/],
    ["-Infinity", Number.NEGATIVE_INFINITY, /\$ is -Infinity/],
    ["a BigInt", { amount: 10n }, /\$\.amount is a BigInt/],
    ["a function", { f: () => 1 }, /\$\.f is a function/],
    ["a function in an array", [1, () => 1], /\$\[1\] is a function/],
    ["a symbol", { s: Symbol("x") }, /\$\.s is a symbol/],
    ["a lone surrogate in a value", { s: "a\ud800b" }, /\$\.s is a string with a lone UTF-16 surrogate/],
    ["a lone surrogate in a key", { "k\udc00": 1 }, /key "k\\udc00" is a string with a lone UTF-16 surrogate/],
    ["a Map", { m: new Map([["a", 1]]) }, /\$\.m is a Map, not a plain object or array/],
    ["a Uint8Array", { b: new Uint8Array(2) }, /\$\.b is a Uint8Array/],
    ["a class instance", { c: new (class Point { x = 1 })() }, /\$\.c is a Point/],
    ["an odd key", { "my key": { x: Number.NaN } }, /\$\["my key"\]\.x is NaN/],
  ])("refuses %s with a TypeError naming where it is", (_what, value, message) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
    expect(() => canonicalJson(value)).toThrow(message);
  });

  it("refuses cycles and excessive nesting with a TypeError", () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic["self"] = { back: cyclic };
    expect(() => canonicalJson(cyclic)).toThrow(/\$\.self\.back refers back to an enclosing object/);
    let deep: unknown = 1;
    for (let i = 0; i < MAX_JSON_DEPTH + 5; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(/nested more than 1000 levels/);
    let fine: unknown = 1;
    for (let i = 0; i < 200; i++) fine = { v: fine };
    expect(canonicalJson(fine)).toBe(`${'{"v":'.repeat(200)}1${"}".repeat(200)}`);
  });

  it("gives a value and its JSON round trip the same text, whatever the member order", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(JSON.parse(JSON.stringify(value)))).toBe(text);
        expect(JSON.parse(text)).toStrictEqual(JSON.parse(JSON.stringify(value)));
        if (typeof value === "object" && value !== null && !Array.isArray(value)) {
          const reversed = Object.fromEntries(Object.entries(value).reverse());
          expect(canonicalJson(reversed)).toBe(text);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("writes the same text as the reference implementation (canonicalize) for any JSON value, strings of any code point included", () => {
    fc.assert(
      fc.property(anyJsonValue, (v) => {
        expect(canonicalJson(v)).toBe(canonicalize(v));
      }),
      { numRuns: 2000 },
    );
  });

  it("gives the reference's text for values whose members are already in canonical order (serialized natively), and still refuses lone surrogates there", () => {
    const sortedCopy = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(sortedCopy);
      if (typeof v !== "object" || v === null) return v;
      const out: Record<string, unknown> = {};
      // defineProperty: a member named "__proto__" (JSON.parse makes one) stays a member.
      for (const key of Object.keys(v).sort()) Object.defineProperty(out, key, { value: sortedCopy((v as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true });
      return out;
    };
    fc.assert(
      fc.property(anyJsonValue, (v) => {
        const sorted = sortedCopy(v);
        expect(canonicalJson(sorted)).toBe(canonicalize(v));
      }),
      { numRuns: 2000 },
    );
    // A member named "__proto__" (as JSON.parse makes it) is a member like any other, in a sorted copy too.
    const parsed = JSON.parse('{"b":1,"__proto__":{"y":2,"x":1},"a":[{"d":1,"c":2}]}') as unknown;
    const copy = inCanonicalMemberOrder(parsed);
    expect(copy).not.toBe(parsed);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(JSON.stringify(copy)).toBe(canonicalize(parsed));
    expect(canonicalJson(copy)).toBe(canonicalize(parsed));
    const inOrder = { a: 1, b: { c: [1, { d: 2 }] } };
    expect(inCanonicalMemberOrder(inOrder)).toBe(inOrder);
    expect(() => canonicalJson({ a: "ok", b: "lone \ud800 surrogate" })).toThrow(/\$\.b is a string with a lone UTF-16 surrogate/);
    expect(() => canonicalJson({ "\udc00": 1 })).toThrow(TypeError);
    expect(canonicalJson({ a: "back\\ud800slash" })).toBe(canonicalize({ a: "back\\ud800slash" }));
    expect(() => canonicalJson({ a: 1, b: Number.POSITIVE_INFINITY })).toThrow(/\$\.b is Infinity/);
    expect(() => canonicalJson({ a: 1, b: 10n })).toThrow(/\$\.b is a BigInt/);
    expect(canonicalJson({ a: [1, undefined], b: undefined })).toBe('{"a":[1,null]}');
  });
});
