import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { receiptJsonSchemas, schemaDir } from "../../src/ledger/json-schema.ts";
import { policyJsonSchema, policySchemaPath } from "../../src/policy/json-schema.ts";

const policiesDir = join(import.meta.dirname, "../../policies");

describe("receipts/schema", () => {
  const generated = receiptJsonSchemas();

  it("has exactly the generated files (regenerate: node src/ledger/json-schema.ts --write)", () => {
    const committed = readdirSync(schemaDir).filter((f) => f.endsWith(".schema.json")).sort();
    expect(committed).toEqual([...generated.keys()].sort());
  });

  for (const [file, text] of generated) {
    it(`${file} matches the zod schema (regenerate: node src/ledger/json-schema.ts --write)`, () => {
      expect(readFileSync(join(schemaDir, file), "utf8")).toBe(text);
    });
  }
});

describe("src/policy/policy.schema.json", () => {
  it("matches the zod schema of policy documents (regenerate: npm run schemas)", () => {
    expect(readFileSync(policySchemaPath, "utf8")).toBe(policyJsonSchema());
  });

  it("accepts the shipped policies", () => {
    const schema = z.fromJSONSchema(JSON.parse(policyJsonSchema()) as Parameters<typeof z.fromJSONSchema>[0]);
    for (const file of readdirSync(policiesDir).filter((f) => f.endsWith(".json"))) {
      expect({ file, ok: schema.safeParse(JSON.parse(readFileSync(join(policiesDir, file), "utf8"))).success }).toEqual({ file, ok: true });
    }
  });
});
