/**
 * The JSON limits every edge applies (src/ledger/json-limits.ts): each bound
 * on its own, then a property test against a plain recursive reference over
 * generated documents (duplicate names, escapes, whitespace, big numbers).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { JSON_LIMITS, JsonLimitError, parseBoundedJson, parseBoundedJsonBytes, scanJson, type JsonLimits } from "../../src/ledger/json-limits.ts";

const nested = (depth: number, leaf = "1") => `${"[".repeat(depth)}${leaf}${"]".repeat(depth)}`;

describe("scanJson: each bound, with its kind and where", () => {
  it("refuses params nested 1,000 arrays deep (the attack), naming the path, without recursion", () => {
    const body = `{"signal_id":"s1","action":"open","params":{"x":${nested(1000)}}}`;
    expect(() => JSON.parse(body) as unknown).not.toThrow(); // parsing is not the problem: what comes after is
    const v = scanJson(body);
    expect(v?.kind).toBe("TOO_DEEP");
    expect(v?.message).toMatch(/^\$\.params\.x\[0\]\[0\].*is nested more than 32 levels deep$/);
  });

  it("takes exactly the limit and refuses one more level", () => {
    expect(scanJson(nested(32))).toBeNull();
    expect(scanJson(nested(33))?.kind).toBe("TOO_DEEP");
    expect(scanJson(`{"a":${nested(31)}}`)).toBeNull();
    expect(scanJson(`{"a":${nested(32)}}`)?.kind).toBe("TOO_DEEP");
  });

  it("counts object members and array elements over the whole text", () => {
    const limits: JsonLimits = { ...JSON_LIMITS, maxMembers: 5 };
    expect(scanJson(`{"a":[1,2],"b":{"c":3}}`, limits)).toBeNull(); // a, 1, 2, b, c
    const v = scanJson(`{"a":[1,2],"b":{"c":3,"d":4}}`, limits);
    expect(v).toMatchObject({ kind: "TOO_MANY_MEMBERS" });
    expect(v?.message).toContain("$.b");
    expect(scanJson(`[${Array.from({ length: 10_000 }, () => "0").join(",")}]`)).toBeNull();
    expect(scanJson(`[${Array.from({ length: 10_001 }, () => "0").join(",")}]`)?.kind).toBe("TOO_MANY_MEMBERS");
  });

  it("measures strings and member names with their escapes decoded", () => {
    const limits: JsonLimits = { ...JSON_LIMITS, maxStringLength: 4 };
    expect(scanJson(`{"k":"\\u0041\\u0042\\n\\""}`, limits)).toBeNull(); // 4 characters once decoded
    expect(scanJson(`{"k":"abcde"}`, limits)).toMatchObject({ kind: "STRING_TOO_LONG", message: expect.stringContaining("$.k is a string of 5") as unknown });
    expect(scanJson(`{"abcde":1}`, limits)).toMatchObject({ kind: "STRING_TOO_LONG", message: expect.stringContaining("member name of 5") as unknown });
    expect(scanJson(`["${"x".repeat(65_536)}"]`)).toBeNull();
    expect(scanJson(`["${"x".repeat(65_537)}"]`)?.kind).toBe("STRING_TOO_LONG");
  });

  it("refuses integers a double cannot hold exactly, and numbers that overflow to Infinity", () => {
    expect(scanJson(`{"n":9007199254740991,"m":-9007199254740991,"f":1.5e300,"g":0.1,"h":-0}`)).toBeNull();
    expect(scanJson(`{"n":9007199254740992}`)?.kind).toBe("NUMBER_OUT_OF_RANGE");
    expect(scanJson(`{"n":-12345678901234567890}`)?.kind).toBe("NUMBER_OUT_OF_RANGE");
    expect(scanJson(`{"n":1e400}`)?.kind).toBe("NUMBER_OUT_OF_RANGE");
    expect(scanJson(`{"n":-1${"0".repeat(400)}.5}`)?.kind).toBe("NUMBER_OUT_OF_RANGE");
  });

  it("refuses a member name twice in one object (I-JSON), however it is escaped, and only in the same object", () => {
    expect(scanJson(`{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}`)).toBeNull();
    expect(scanJson(`{"b":1,"a":2,"b":3}`)).toMatchObject({ kind: "DUPLICATE_MEMBER", message: '$ has the member "b" more than once' });
    expect(scanJson(`{"x":{"ab":1,"a\\u0062":2}}`)).toMatchObject({ kind: "DUPLICATE_MEMBER", message: '$.x has the member "ab" more than once' });
    expect(scanJson(`{"b":1,"a":2,"b":3}`, JSON_LIMITS, { duplicates: false })).toBeNull();
    // Many names out of order: the check moves to a Set and stays exact.
    const names = Array.from({ length: 200 }, (_, i) => `"k${(i * 7919) % 200}":${i}`);
    expect(scanJson(`{${names.join(",")}}`)).toBeNull();
    expect(scanJson(`{${names.join(",")},"k13":0}`)?.kind).toBe("DUPLICATE_MEMBER");
  });

  it("with canonicalNumbers, refuses numbers not written as ECMAScript writes them", () => {
    const canonical = { canonicalNumbers: true };
    expect(scanJson(`[0,1,-1,0.5,1e+21,1.5e-7,123456789012345]`, JSON_LIMITS, canonical)).toBeNull();
    for (const text of ["1.0", "1e2", "-0", "0.50", "1E+21", "1e21"]) expect(scanJson(`[${text}]`, JSON_LIMITS, canonical)?.kind).toBe("NUMBER_NOT_CANONICAL");
  });

  it("never throws or loops on text that is not JSON, and leaves it to JSON.parse", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => {
        scanJson(text);
      }),
      { numRuns: 2000, seed: 15 },
    );
    expect(scanJson(`{"a":"unterminated`)).toBeNull();
    expect(() => parseBoundedJson(`{"a":`)).toThrow(JsonLimitError);
  });
});

describe("parseBoundedJsonBytes", () => {
  it("refuses too many bytes, bytes that are not UTF-8, then any bound, then what is not JSON", () => {
    const kind = (bytes: Uint8Array, max = 1024) => {
      try {
        parseBoundedJsonBytes(bytes, max);
        return "ok";
      } catch (err) {
        return (err as JsonLimitError).kind;
      }
    };
    expect(kind(Buffer.from(`{"a":"é"}`))).toBe("ok");
    expect(kind(Buffer.from(`{"a":"${"x".repeat(2000)}"}`))).toBe("TOO_LARGE");
    expect(kind(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]))).toBe("INVALID_UTF8");
    expect(kind(Buffer.from([0x5b, 0xed, 0xa0, 0x80, 0x5d]))).toBe("INVALID_UTF8"); // an encoded surrogate
    expect(kind(Buffer.from(nested(40)))).toBe("TOO_DEEP");
    expect(kind(Buffer.from("{"))).toBe("INVALID_JSON");
  });
});

// ---- the property: the scanner agrees with a plain recursive reference ------------------

type Doc =
  | { readonly t: "obj"; readonly members: readonly (readonly [string, Doc])[] }
  | { readonly t: "arr"; readonly items: readonly Doc[] }
  | { readonly t: "str"; readonly s: string }
  | { readonly t: "num"; readonly text: string }
  | { readonly t: "lit"; readonly text: "true" | "false" | "null" };

const names = fc.constantFrom("a", "b", "ab", "é", '"', "\\", "k\u2028", "\ud83d\ude00");
const numberText = fc.oneof(
  fc.integer().map(String),
  fc.bigInt({ min: -(2n ** 60n), max: 2n ** 60n }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => String(d)),
  fc.constantFrom("1e400", "-1e309", "0.5", "1E2", "9007199254740992", "-9007199254740991"),
);
const doc: fc.Arbitrary<Doc> = fc.letrec<{ node: Doc }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.string({ maxLength: 7 }).map((s): Doc => ({ t: "str", s })),
    numberText.map((text): Doc => ({ t: "num", text })),
    fc.constantFrom("true", "false", "null").map((text): Doc => ({ t: "lit", text: text as "true" })),
    fc.array(tie("node"), { maxLength: 4 }).map((items): Doc => ({ t: "arr", items })),
    fc.array(fc.tuple(names, tie("node")), { maxLength: 4 }).map((members): Doc => ({ t: "obj", members })),
  ),
})).node;

/** Writes a document, escaping names fully or not (`\uXXXX` for every unit) and with or without whitespace. */
function write(d: Doc, escapeNames: boolean, space: string): string {
  switch (d.t) {
    case "str":
      return JSON.stringify(d.s);
    case "num":
    case "lit":
      return d.text;
    case "arr":
      return `[${space}${d.items.map((i) => write(i, escapeNames, space)).join(`,${space}`)}${space}]`;
    case "obj":
      return `{${space}${d.members
        .map(([k, v]) => `${escapeNames ? `"${Array.from({ length: k.length }, (_, i) => `\\u${k.charCodeAt(i).toString(16).padStart(4, "0")}`).join("")}"` : JSON.stringify(k)}${space}:${space}${write(v, escapeNames, space)}`)
        .join(`,${space}`)}${space}}`;
  }
}

/** The bounds a document breaks, found the plain way. */
function reference(d: Doc, limits: JsonLimits): Set<string> {
  const broken = new Set<string>();
  let members = 0;
  const walk = (node: Doc, depth: number) => {
    switch (node.t) {
      case "str":
        if (node.s.length > limits.maxStringLength) broken.add("STRING_TOO_LONG");
        return;
      case "num": {
        const value = Number(node.text);
        if (!Number.isFinite(value) || (/^-?\d+$/.test(node.text) && Math.abs(value) > Number.MAX_SAFE_INTEGER)) broken.add("NUMBER_OUT_OF_RANGE");
        return;
      }
      case "lit":
        return;
      case "arr":
        if (depth + 1 > limits.maxDepth) broken.add("TOO_DEEP");
        members += node.items.length;
        for (const i of node.items) walk(i, depth + 1);
        return;
      case "obj": {
        if (depth + 1 > limits.maxDepth) broken.add("TOO_DEEP");
        members += node.members.length;
        const seen = new Set<string>();
        for (const [k, v] of node.members) {
          if (seen.has(k)) broken.add("DUPLICATE_MEMBER");
          seen.add(k);
          if (k.length > limits.maxStringLength) broken.add("STRING_TOO_LONG");
          walk(v, depth + 1);
        }
        return;
      }
    }
  };
  walk(d, 0);
  if (members > limits.maxMembers) broken.add("TOO_MANY_MEMBERS");
  return broken;
}

describe("scanJson agrees with a recursive reference", () => {
  it("finds a broken bound exactly when the reference does, and one the reference found", () => {
    const limits: JsonLimits = { maxDepth: 3, maxMembers: 9, maxStringLength: 4 };
    fc.assert(
      fc.property(doc, fc.boolean(), fc.constantFrom("", " ", "\n\t "), (d, escapeNames, space) => {
        const text = write(d, escapeNames, space);
        const expected = reference(d, limits);
        const found = scanJson(text, limits);
        if (expected.size === 0) expect(found).toBeNull();
        else expect([...expected]).toContain(found?.kind);
        // Within bounds, the text parses, and the parsed value is what was written.
        if (found === null) expect(() => JSON.parse(text) as unknown).not.toThrow();
      }),
      { numRuns: 3000, seed: 15 },
    );
  });
});
