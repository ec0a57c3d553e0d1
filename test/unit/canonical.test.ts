import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/ledger/canonical.ts";

const dir = join(import.meta.dirname, "../vectors/jcs");

describe("RFC 8785 canonical JSON: cyberphone vectors", () => {
  const names = readdirSync(join(dir, "input")).filter((n) => n.endsWith(".json"));
  it("has the vectors", () => expect(names.length).toBeGreaterThanOrEqual(6));
  for (const name of names) {
    it(`${name} canonicalizes to the expected bytes`, () => {
      const input = JSON.parse(readFileSync(join(dir, "input", name), "utf8")) as unknown;
      const expected = readFileSync(join(dir, "output", name));
      const hex = readFileSync(join(dir, "outhex", name.replace(/\.json$/, ".txt")), "utf8").replace(/\s+/g, "");
      const out = Buffer.from(canonicalJson(input), "utf8");
      expect(out.equals(expected)).toBe(true);
      expect(out.toString("hex")).toBe(hex);
    });
  }

  it("refuses what JSON cannot represent", () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(/NaN/);
    expect(() => canonicalJson(Number.POSITIVE_INFINITY)).toThrow(/Infinity/);
    expect(() => canonicalJson(1n)).toThrow(/BigInt/);
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
  });
});
