/**
 * The auditor's CLI as a real process: every verdict and every kind of bad
 * input, with its exit code and message, and never a stack trace.
 */
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { fixtureReceipts, fixturesDir, members, pack, TRUSTED } from "../fixtures/generate-archives.ts";
import { cliPath, scratchDir } from "../support/service.ts";

const exec = promisify(execFile);

async function governor(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cliPath, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const key = readFileSync(join(fixturesDir, "trusted.keys"), "utf8").trim();
const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at .+:\d+:\d+/);

describe("governor verify", () => {
  const expected = JSON.parse(readFileSync(join(fixturesDir, "expected.json"), "utf8")) as { archive: string; exit: number; first_error: string | null }[];
  for (const e of expected) {
    it(`${e.archive}: exit ${e.exit}`, async () => {
      const r = await governor("verify", join(fixturesDir, e.archive), "--key", key);
      expect(r.code).toBe(e.exit);
      if (e.first_error === null) expect(r.stdout).toMatch(/^valid: ledger acme-corp, 12 receipts/);
      else expect(r.stdout).toContain(`invalid: ${e.first_error}`);
      noStack(r.stdout + r.stderr);
    });
  }

  it("--json prints a machine-readable report", async () => {
    const r = await governor("verify", join(fixturesDir, "truncated-tail.tar.gz"), "--key", key, "--json");
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { valid: boolean; errors: { code: string; message: string }[]; receipts: number };
    expect(report.valid).toBe(false);
    expect(report.receipts).toBe(10);
    expect(report.errors[0]).toMatchObject({ code: "CHECKPOINT_SIZE" });
  });

  it("without --key trusts the archive's keys and warns", async () => {
    const r = await governor("verify", join(fixturesDir, "valid.tar.gz"));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/no --key given/);
  });

  describe("bad input", () => {
    const dir = scratchDir("governor-bad-");
    const receipts = fixtureReceipts();
    const good = members(receipts);
    const lines = good.receipts.split("\n").slice(0, -1);
    const withLines = (ls: string[]) => ({ ...good, receipts: `${ls.join("\n")}\n` });
    const cases: [string, () => Promise<string>, number, RegExp][] = [
      ["a malformed JSON line", async () => arch("bad-json", withLines([...lines.slice(0, 2), "{not json", ...lines.slice(3)])), 1, /line 3: not valid JSON/],
      ["a missing field", async () => {
        const r = JSON.parse(lines[2]!) as Record<string, unknown>;
        delete r["status"];
        return arch("missing-field", withLines([...lines.slice(0, 2), JSON.stringify(r), ...lines.slice(3)]));
      }, 1, /seq 2: missing field "status"/],
      ["an unknown operation", async () => {
        const r = { ...(JSON.parse(lines[2]!) as Record<string, unknown>), operation: "frobnicate" };
        return arch("unknown-op", withLines([...lines.slice(0, 2), JSON.stringify(r), ...lines.slice(3)]));
      }, 1, /seq 2: unknown operation "frobnicate"/],
      ["a duplicate seq", async () => arch("dup-seq", withLines([...lines.slice(0, 3), lines[2]!, ...lines.slice(3)])), 1, /seq 2: duplicate or out of order/],
      ["a missing seq", async () => arch("missing-seq", withLines([...lines.slice(0, 4), ...lines.slice(5)])), 1, /seq 4: missing \(line 5 has seq 5: gap\)/],
      ["an oversized line", async () => arch("oversized", withLines([...lines.slice(0, 2), `{"pad":"${"x".repeat(1_100_000)}"}`, ...lines.slice(3)])), 1, /line 3: \d+ bytes is over the 1 MiB line limit/],
      ["a checkpoint in the wrong format", async () => arch("bad-checkpoint", { ...good, checkpoint: "this is not a note\n" }), 1, /checkpoint: signed note has no blank line/],
      ["a file that is not gzip", async () => file("plain.tar.gz", "hello, I am not an archive\n"), 2, /not a gzip file/],
      ["a gzip file that is not a tar", async () => file("notar.tar.gz", gzipSync(Buffer.alloc(2048, 0x41))), 2, /not a readable tar|truncated/],
      ["a truncated archive", async () => {
        const full = readFileSync(join(fixturesDir, "valid.tar.gz"));
        return file("cut.tar.gz", full.subarray(0, Math.floor(full.length / 2)));
      }, 2, /truncated/],
      ["a missing file", async () => join(dir, "does-not-exist.tar.gz"), 2, /cannot read .*ENOENT/],
    ];
    async function arch(name: string, m: ReturnType<typeof members>): Promise<string> {
      const p = join(dir, `${name}.tar.gz`);
      await pack(p, m);
      return p;
    }
    function file(name: string, data: string | Uint8Array): string {
      const p = join(dir, name);
      writeFileSync(p, data);
      return p;
    }
    for (const [what, make, code, message] of cases) {
      it(`${what}: exit ${code} with a precise message`, async () => {
        const r = await governor("verify", await make(), "--key", key);
        expect(r.code).toBe(code);
        expect(r.stdout + r.stderr).toMatch(message);
        noStack(r.stdout + r.stderr);
      });
    }

    it.each([
      ["three fields with a bad id", "governor-fixtures+zzzz+AYqI"],
      ["no fields", "garbage"],
    ])("an unparsable --key (%s): exit 2", async (_what, bad) => {
      const r = await governor("verify", join(fixturesDir, "valid.tar.gz"), "--key", bad);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--key: verifier key/);
      noStack(r.stderr);
    });

    it("no archive named: exit 2 with usage", async () => {
      const r = await governor("verify");
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/usage: governor verify/);
    });
  });
});

describe("governor proof", () => {
  let proofFile: string;
  beforeAll(() => {
    proofFile = join(scratchDir("governor-proof-"), "proof.json");
  });

  it("prints an inclusion proof that --check accepts, and rejects a tampered one", async () => {
    const r = await governor("proof", join(fixturesDir, "valid.tar.gz"), "--seq", "5");
    expect(r.code).toBe(0);
    const proof = JSON.parse(r.stdout) as { leaf_index: number; tree_size: number; hashes: string[]; checkpoint: string };
    expect(proof).toMatchObject({ leaf_index: 5, tree_size: 12 });
    expect(proof.checkpoint).toContain(TRUSTED.name);
    writeFileSync(proofFile, r.stdout);
    expect((await governor("proof", "--check", proofFile)).code).toBe(0);
    proof.hashes[0] = Buffer.alloc(32).toString("base64");
    writeFileSync(proofFile, JSON.stringify(proof));
    const bad = await governor("proof", "--check", proofFile);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/invalid/);
  });

  it("refuses a seq outside the tree: exit 2", async () => {
    const r = await governor("proof", join(fixturesDir, "valid.tar.gz"), "--seq", "12");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/seq 12 is not in a tree of size 12/);
  });
});
