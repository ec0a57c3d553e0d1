/**
 * The JSON Schema of policy documents, generated from the zod schema (the
 * input side: fields with defaults may be left out) and kept beside it as
 * `policy.schema.json` for editors and pipelines; a test fails when it
 * drifts. Regenerate: `npm run schemas`.
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { PolicyDocument } from "./schema.ts";

export const policySchemaPath = resolve(import.meta.dirname, "policy.schema.json");

export function policyJsonSchema(): string {
  const json = {
    $id: "https://governor.local/policies/schema/policy.schema.json",
    title: "Governor policy document (one per SKU)",
    ...z.toJSONSchema(PolicyDocument, { target: "draft-2020-12", io: "input" }),
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}

if (process.argv.includes("--write")) {
  writeFileSync(policySchemaPath, policyJsonSchema());
  process.stdout.write(`wrote ${policySchemaPath}\n`);
}
