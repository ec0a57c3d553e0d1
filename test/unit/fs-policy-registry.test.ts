import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createDirectoryPolicyRegistry } from "../../src/adapters/embedded/fs-policy-registry.ts";
import { policyRegistryCases } from "../contract/policy-registry.ts";

const dirs: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "governor-registry-"));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("policy registry: a directory", () => {
  policyRegistryCases(async () => {
    const dir = join(freshDir(), "registry");
    return () => createDirectoryPolicyRegistry(dir);
  });

  it("lays out {dir}/{sku}/{version}.json and {dir}/{sku}/CURRENT, and leaves no temp file behind", async () => {
    const dir = freshDir();
    const r = createDirectoryPolicyRegistry(dir);
    await r.put("shop", "1.0.0", '{"v":1}');
    await r.put("shop", "1.0.0", '{"v":2}');
    await r.setCurrent("shop", "1.0.0");
    await r.setCurrent("shop", "1.0.0");
    expect(readdirSync(dir)).toEqual(["shop"]);
    expect(readdirSync(join(dir, "shop")).sort()).toEqual(["1.0.0.json", "CURRENT"]);
    expect(readFileSync(join(dir, "shop", "1.0.0.json"), "utf8")).toBe('{"v":1}');
    expect(readFileSync(join(dir, "shop", "CURRENT"), "utf8")).toBe("1.0.0\n");
  });

  it("ignores what is not a version or a SKU: a temp file left by a crash, stray files, a bad CURRENT", async () => {
    const dir = freshDir();
    const r = createDirectoryPolicyRegistry(dir);
    await r.put("shop", "1.0.0", "{}");
    writeFileSync(join(dir, "shop", ".tmp-0123456789abcdef"), "{half");
    writeFileSync(join(dir, "shop", "notes.txt"), "x");
    writeFileSync(join(dir, "README"), "x");
    mkdirSync(join(dir, "Bad SKU"));
    writeFileSync(join(dir, "Bad SKU", "1.0.0.json"), "{}");
    mkdirSync(join(dir, "odd"));
    writeFileSync(join(dir, "odd", "CURRENT"), "not a version\n");
    expect(await r.list()).toEqual([{ skuId: "shop", version: "1.0.0" }]);
    expect((await r.currentVersions()).size).toBe(0);
  });

  it("a version file already in place is never replaced, even when a writer races it", async () => {
    const dir = freshDir();
    const r = createDirectoryPolicyRegistry(dir);
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => r.put("shop", "2.0.0", `{"w":${i}}`)));
    expect(outcomes.filter((o) => o === "created")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "conflict")).toHaveLength(7);
    const winner = outcomes.indexOf("created");
    expect(readFileSync(join(dir, "shop", "2.0.0.json"), "utf8")).toBe(`{"w":${winner}}`);
    expect(readdirSync(join(dir, "shop"))).toEqual(["2.0.0.json"]);
  });
});
