import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { receiptJsonSchemas, schemaDir } from "../../src/ledger/json-schema.ts";

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
