import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createDirectoryPolicySource } from "../../src/adapters/embedded/fs-policy-source.ts";
import { createMemoryPolicySource } from "../../src/adapters/memory/memory-policy-source.ts";
import { systemClock } from "../../src/ports/index.ts";
import { describePolicySourceContract } from "./policy-source.ts";

const directory = (files: Record<string, string>, options: { maxBytes?: number } = {}) => {
  const dir = mkdtempSync(join(tmpdir(), "governor-policies-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const source = createDirectoryPolicySource({ dir, maxBytes: options.maxBytes ?? 64 * 1024, watch: true, settleMs: 20, clock: systemClock });
  return { dir, source, write: (name: string, text: string) => writeFile(join(dir, name), text), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
};

describePolicySourceContract("memory", async (files) => {
  const source = createMemoryPolicySource(files);
  return { source, write: async (name, text) => source.write(name, text), cleanup: async () => {} };
});

describePolicySourceContract("a directory", async (files) => directory(files));

describe("the policies directory", () => {
  it("skips hidden and non-JSON files, and names the problem of a file too large or not UTF-8", async () => {
    const t = directory({ ".draft.json": "{}", "notes.txt": "x", "big.json": `"${"x".repeat(100)}"`, "latin1.json": "", "ok.json": "{}" }, { maxBytes: 50 });
    try {
      writeFileSync(join(t.dir, "latin1.json"), Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x7d]));
      const read = await t.source.readAll();
      expect(read.map((r) => r.file.slice(t.dir.length + 1))).toEqual(["big.json", "latin1.json", "ok.json"]);
      expect(read[0]).toMatchObject({ problem: expect.stringMatching(/102 bytes; a policy document is at most 50 bytes/) });
      expect(read[1]).toMatchObject({ problem: expect.stringMatching(/not valid UTF-8/) });
      expect(read[2]).toEqual({ file: join(t.dir, "ok.json"), text: "{}" });
    } finally {
      await t.cleanup();
    }
  });

  it("does not exist when the directory is missing, and reads nothing", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "governor-policies-")), "absent");
    const source = createDirectoryPolicySource({ dir, maxBytes: 1024, watch: false, clock: systemClock });
    expect(await source.exists()).toBe(false);
    expect(await source.readAll()).toEqual([]);
    expect("watch" in source).toBe(false);
    mkdirSync(dir);
    expect(await source.exists()).toBe(true);
  });
});
