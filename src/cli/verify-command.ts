/**
 * `governor verify <archive.tar.gz> [--key K]... [--keys-file F] [--json]`
 * Exit 0: valid; 1: invalid; 2: unusable input.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseVerifierKey, type Verifier } from "../ledger/checkpoint.ts";
import { ArchiveUnreadableError, verifyArchive, type VerifyReport } from "../ledger/verify.ts";

export const summary = "verify an exported ledger archive offline (exit 0 valid, 1 invalid, 2 unusable)";

const usage = "usage: governor verify <archive.tar.gz> [--key <verifier key>]... [--keys-file <file>] [--json]";

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { key: { type: "string", multiple: true }, "keys-file": { type: "string" }, json: { type: "boolean", default: false } },
    });
  } catch (err) {
    process.stderr.write(`governor verify: ${(err as Error).message}\n${usage}\n`);
    return 2;
  }
  const [archive, ...extra] = parsed.positionals;
  if (archive === undefined || extra.length > 0) {
    process.stderr.write(`governor verify: ${archive === undefined ? "name one archive" : "one archive at a time"}\n${usage}\n`);
    return 2;
  }
  const json = parsed.values.json ?? false;
  const keyStrings = [...(parsed.values.key ?? [])];
  if (parsed.values["keys-file"] !== undefined) {
    try {
      keyStrings.push(...readFileSync(parsed.values["keys-file"], "utf8").split("\n").filter((l) => l.trim() !== ""));
    } catch (err) {
      process.stderr.write(`governor verify: cannot read --keys-file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      return 2;
    }
  }
  let trusted: Verifier[] | "archive" = "archive";
  if (keyStrings.length > 0) {
    try {
      // A --key value may hold several keys, one per line (as /.well-known/governor/keys serves them).
      trusted = keyStrings.flatMap((k) => k.split("\n")).filter((k) => k.trim() !== "").map((k) => parseVerifierKey(k));
    } catch (err) {
      process.stderr.write(`governor verify: --key: ${(err as Error).message}\n`);
      return 2;
    }
  } else {
    process.stderr.write(
      "governor verify: warning: no --key given, so the archive's own keys are trusted: this proves the archive is intact, not who signed it. Pass the operator's published key with --key.\n",
    );
  }
  const progress = !json && process.stderr.isTTY ? progressLine() : undefined;
  let report: VerifyReport;
  try {
    report = await verifyArchive(archive, { trustedKeys: trusted, ...(progress ? { onProgress: progress.update } : {}) });
  } catch (err) {
    progress?.done();
    if (err instanceof ArchiveUnreadableError) {
      if (json) process.stdout.write(`${JSON.stringify({ valid: false, unusable: true, code: err.code, message: err.message })}\n`);
      else process.stderr.write(`governor verify: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`governor verify: ${(err as Error).message}\n`);
    return 2;
  }
  progress?.done();
  if (json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else if (report.valid) {
    process.stdout.write(
      `valid: ledger ${report.ledger}, ${report.receipts} receipts, root ${report.root}, signed by ${report.verifiedBy.join(", ")}${report.trust === "archive" ? " (a key from the archive itself)" : ""}\n`,
    );
    const billed = Object.entries(report.usage.billed).map(([metric, total]) => `${metric} ${total}`);
    if (report.usage.reports > 0) process.stdout.write(`usage: ${report.usage.reports} windows billed, recomputed from the receipts: ${billed.join(", ")}\n`);
  } else {
    const [first] = report.errors;
    process.stdout.write(`invalid: ${first?.message ?? "unknown problem"}\n`);
    if (report.errorCount > 1) process.stdout.write(`(${report.errorCount - 1} more problem${report.errorCount > 2 ? "s" : ""}; --json lists them)\n`);
  }
  return report.valid ? 0 : 1;
}

function progressLine() {
  let last = 0;
  return {
    update: (read: number, total: number) => {
      const now = Date.now();
      if (now - last < 200) return;
      last = now;
      process.stderr.write(`\rverifying… ${Math.floor((100 * read) / Math.max(1, total))}% of ${(total / 1048576).toFixed(1)} MiB`);
    },
    done: () => {
      if (last > 0) process.stderr.write("\r\x1b[K");
    },
  };
}
