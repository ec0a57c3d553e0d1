/**
 * JSON Schemas of the receipts, generated from the zod schemas (zod 4's
 * `z.toJSONSchema`). `receipts/schema/` holds them for auditors; a test fails
 * when they drift. Regenerate: `node src/ledger/json-schema.ts --write`.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { operations, Receipt, receiptSchemas } from "./receipt.ts";

const BASE = "https://governor.local/receipts/schema";

/** File name → JSON text, for every operation plus the union. */
export function receiptJsonSchemas(): Map<string, string> {
  const out = new Map<string, string>();
  const emit = (file: string, schema: z.ZodType, title: string) => {
    const json = { $id: `${BASE}/${file}`, title, ...z.toJSONSchema(schema, { target: "draft-2020-12" }) };
    out.set(file, `${JSON.stringify(json, null, 2)}\n`);
  };
  emit("receipt.schema.json", Receipt, "Governor receipt (any operation)");
  for (const op of operations) emit(`${op}.schema.json`, receiptSchemas[op], `Governor receipt: ${op}`);
  return out;
}

export const schemaDir = resolve(import.meta.dirname, "../../receipts/schema");

if (process.argv.includes("--write")) {
  mkdirSync(schemaDir, { recursive: true });
  for (const f of readdirSync(schemaDir)) if (f.endsWith(".schema.json")) rmSync(join(schemaDir, f));
  for (const [file, text] of receiptJsonSchemas()) writeFileSync(join(schemaDir, file), text);
  process.stdout.write(`wrote ${receiptJsonSchemas().size} schemas to ${schemaDir}\n`);
}
