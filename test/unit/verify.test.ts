import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseVerifierKey } from "../../src/ledger/checkpoint.ts";
import { verifyArchive } from "../../src/ledger/verify.ts";
import { fixturesDir } from "../fixtures/generate-archives.ts";

const expected = JSON.parse(readFileSync(join(fixturesDir, "expected.json"), "utf8")) as { archive: string; exit: number; first_error: string | null }[];
const trusted = readFileSync(join(fixturesDir, "trusted.keys"), "utf8").trim().split("\n").map(parseVerifierKey);

describe("golden fixtures: each archive gets its verdict", () => {
  it("lists every fixture", () => expect(expected.map((e) => e.archive)).toContain("valid.tar.gz"));
  for (const e of expected) {
    for (const workers of [0, 2]) {
      it(`${e.archive} → ${e.first_error ?? "valid"} (${workers === 0 ? "one thread" : `${workers} workers`})`, async () => {
        const report = await verifyArchive(join(fixturesDir, e.archive), { trustedKeys: trusted, workers });
        expect(report.valid).toBe(e.exit === 0);
        expect(report.errors[0]?.message ?? null).toBe(e.first_error);
        if (e.exit === 0) {
          expect(report.receipts).toBe(12);
          expect(report.verifiedBy).toEqual([trusted[0]!.verifierKey]);
        }
      });
    }
  }

  it("trusts the archive's own keys only when asked, and says so", async () => {
    const report = await verifyArchive(join(fixturesDir, "wrong-key.tar.gz"), { trustedKeys: "archive" });
    expect(report.valid).toBe(true);
    expect(report.trust).toBe("archive");
  });
});
