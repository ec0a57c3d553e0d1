/**
 * Params schemas as a policy push checks them and as signals are validated
 * against them (src/policy/params-schema.ts): `$ref` cycles refused with the
 * path, patterns run on re2js (linear time, RE2 semantics) wherever zod
 * honours them, and the global RegExp left as it was.
 */
import { describe, expect, it } from "vitest";
import { checkParamsSchema, compileParamsSchema, MAX_SCHEMA_NODES, toRe2Syntax } from "../../src/policy/params-schema.ts";
import { parsePolicy } from "../../src/policy/schema.ts";

const evil = `${"a".repeat(100_000)}!`;
const NativeRegExp = RegExp;

describe("$ref cycles are refused with the path of the $ref", () => {
  it("a schema that refers to itself (the attack)", () => {
    const issues = checkParamsSchema({ $defs: { a: { $ref: "#/$defs/a" } }, $ref: "#/$defs/a" });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toEqual(["$defs", "a", "$ref"]);
    expect(issues[0]!.message).toMatch(/leads back to where it started \(#\/\$defs\/a → #\/\$defs\/a\)/);
  });

  it("an indirect cycle a → b → a, and a cycle through the root", () => {
    const ab = checkParamsSchema({ $defs: { a: { anyOf: [{ $ref: "#/$defs/b" }] }, b: { allOf: [{ $ref: "#/$defs/a" }] } }, $ref: "#/$defs/a" });
    expect(ab[0]!.path).toEqual(["$defs", "b", "allOf", 0, "$ref"]);
    expect(ab[0]!.message).toContain("#/$defs/a → #/$defs/a/anyOf/0 → #/$defs/b → #/$defs/b/allOf/0 → #/$defs/a");
    const root = checkParamsSchema({ type: "object", properties: { child: { $ref: "#" } } });
    expect(root[0]!.path).toEqual(["properties", "child", "$ref"]);
  });

  it("a cycle in a definition nothing uses is refused too; a definition used twice is not a cycle", () => {
    expect(checkParamsSchema({ type: "object", $defs: { a: { $ref: "#/$defs/a" } } })).toHaveLength(1);
    const shared = { $defs: { s: { type: "string" } }, type: "object", properties: { a: { $ref: "#/$defs/s" }, b: { $ref: "#/$defs/s" } } };
    expect(checkParamsSchema(shared)).toEqual([]);
    expect(compileParamsSchema(shared).safeParse({ a: "x", b: 1 }).success).toBe(false);
  });

  it("refuses a schema that refs multiply past the limit (validation cost doubling at each level)", () => {
    const defs: Record<string, unknown> = { l0: { type: "string" } };
    for (let i = 1; i <= 20; i++) defs[`l${i}`] = { type: "array", items: { anyOf: [{ $ref: `#/$defs/l${i - 1}` }, { $ref: `#/$defs/l${i - 1}` }] } };
    const issues = checkParamsSchema({ $defs: defs, $ref: "#/$defs/l20" });
    expect(issues).toEqual([{ path: [], message: expect.stringContaining(`more than ${MAX_SCHEMA_NODES} schemas`) as unknown }]);
  });

  it("in a policy document, the issue's path runs from the document", () => {
    const doc = {
      sku_id: "open",
      policy_version: "1.0.0",
      actions: { open: { handler: "noop", params_schema: { $defs: { a: { $ref: "#/$defs/a" } }, $ref: "#/$defs/a" } } },
      plans: { p: { monthly_actions: 10, concurrent_actions: 1, max_concurrency: 1, cost_per_slot_usd: "0", actions: ["open"] } },
    };
    const parsed = parsePolicy(doc);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.issues.map((i) => i.path)).toEqual(["actions.open.params_schema.$defs.a.$ref"]);
  });
});

describe("patterns run on re2js", () => {
  it("answers at once for ^(a+)+$ against 100,001 characters, in pattern, patternProperties and propertyNames", () => {
    const value = compileParamsSchema({ type: "object", properties: { s: { type: "string", pattern: "^(a+)+$" } } });
    expect(value.safeParse({ s: evil }).success).toBe(false);
    expect(value.safeParse({ s: "aaaa" }).success).toBe(true);

    const names = compileParamsSchema({ type: "object", patternProperties: { "^(a+)+$": { type: "number" } }, additionalProperties: false });
    expect(names.safeParse({ [evil]: 1 }).success).toBe(false); // matched by no pattern, and additionalProperties is false
    expect(names.safeParse({ aaa: 1 }).success).toBe(true);
    expect(names.safeParse({ aaa: "x" }).success).toBe(false);

    const keys = compileParamsSchema({ type: "object", propertyNames: { pattern: "^(a+)+$" } });
    expect(keys.safeParse({ [evil]: 1 }).success).toBe(false);
    expect(keys.safeParse({ aa: 1 }).success).toBe(true);
  });

  it("with RE2's semantics, which shows which engine ran: \\s is ASCII space only in RE2, Unicode space in JavaScript", () => {
    expect(/^\s$/.test("\u00a0")).toBe(true); // what a JavaScript RegExp would say
    const value = compileParamsSchema({ type: "object", properties: { s: { type: "string", pattern: "^\\s$" } } });
    expect(value.safeParse({ s: " " }).success).toBe(true);
    expect(value.safeParse({ s: "\u00a0" }).success).toBe(false);
    const names = compileParamsSchema({ type: "object", patternProperties: { "^\\s$": { type: "number" } }, additionalProperties: false });
    expect(names.safeParse({ " ": 1 }).success).toBe(true);
    expect(names.safeParse({ "\u00a0": 1 }).success).toBe(false);
  });

  it("refuses at push a pattern RE2 does not run, with its path; translates \\uXXXX", () => {
    const issues = checkParamsSchema({ type: "object", properties: { s: { type: "string", pattern: "^(a)\\1$" } }, patternProperties: { "(?=x)y": {} } });
    expect(issues.map((i) => i.path)).toEqual(expect.arrayContaining([["properties", "s", "pattern"], ["patternProperties", "(?=x)y"]]));
    expect(issues[0]!.message).toMatch(/not one RE2 runs/);
    expect(checkParamsSchema({ type: "string", pattern: "x".repeat(257) })[0]!.message).toMatch(/limit is 256/);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`p${i}`, { type: "string", pattern: "^a$" }]));
    expect(checkParamsSchema({ type: "object", properties: many })[0]!.message).toBe("the schema has 65 patterns; the limit is 64");
    expect(toRe2Syntax("^\\u0041\\\\u0042$")).toBe("^\\x{0041}\\\\u0042$");
    const unicode = compileParamsSchema({ type: "string", pattern: "^\\u00e9+$" });
    expect(unicode.safeParse("éé").success).toBe(true);
    expect(unicode.safeParse("e").success).toBe(false);
  });

  it("puts the global RegExp back, also when zod refuses the schema", () => {
    compileParamsSchema({ type: "string", pattern: "^a$" });
    expect(globalThis.RegExp).toBe(NativeRegExp);
    expect(() => compileParamsSchema({ type: "string", pattern: "^a$", if: { type: "string" } })).toThrow(/not supported/);
    expect(globalThis.RegExp).toBe(NativeRegExp);
    expect(new RegExp("a+").test("aa")).toBe(true);
  });
});
