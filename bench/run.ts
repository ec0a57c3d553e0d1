/**
 * `npm run bench [-- --quick] [-- --only NAME]`: runs every bench/*.bench.ts
 * module and prints each figure beside the goal it was measured against.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { BenchModule, Figure } from "./harness.ts";

const { values } = parseArgs({
  options: { quick: { type: "boolean", default: false }, only: { type: "string", multiple: true } },
});

const here = import.meta.dirname;
const modules = readdirSync(here)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => !values.only || values.only.some((o) => f.includes(o)))
  .sort();

const all: Figure[] = [];
for (const file of modules) {
  const scratch = mkdtempSync(join(tmpdir(), "governor-bench-"));
  try {
    const mod = (await import(join(here, file))) as BenchModule;
    process.stdout.write(`\n## ${file}\n`);
    const figures = await mod.run({ quick: values.quick ?? false, scratch });
    for (const f of figures) {
      all.push(f);
      process.stdout.write(
        `${f.pass ? "PASS" : "FAIL"}  ${f.name}: ${format(f.value)} ${f.unit}  (goal ${f.goal}; ratio ${f.ratio.toFixed(2)})\n`,
      );
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const failed = all.filter((f) => !f.pass);
process.stdout.write(`\n${all.length - failed.length} of ${all.length} figures meet their goals${values.quick ? " (quick sizes: not comparable)" : ""}\n`);
process.exitCode = failed.length > 0 && !values.quick ? 1 : 0;

function format(n: number): string {
  return Math.abs(n) >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2);
}
