/**
 * The PolicyRegistry contract, written once and run against each adapter:
 * memory (test/contract/policy-registry.test.ts), the directory registry
 * (test/unit/fs-policy-registry.test.ts) and the Cloud Storage registry
 * (test/integration/gcs.test.ts, beside the checks of the requests it sends).
 *
 * `fresh()` makes an empty storage place and returns a function that opens
 * a registry on it; opening it twice gives two registries on the same place
 * (two processes, or one restarted).
 */
import { expect, it } from "vitest";
import type { PolicyRegistry } from "../../src/ports/index.ts";

export function policyRegistryCases(fresh: () => Promise<() => PolicyRegistry>): void {
  it("stores a version once: the same bytes again are unchanged, other bytes a conflict that writes nothing", async () => {
    const r = (await fresh())();
    expect(await r.put("shop", "1.0.0", '{"v":1}')).toBe("created");
    expect(await r.put("shop", "1.0.0", '{"v":1}')).toBe("unchanged");
    expect(await r.put("shop", "1.0.0", '{"v":2}')).toBe("conflict");
    expect(await r.get("shop", "1.0.0")).toBe('{"v":1}');
    expect(await r.get("shop", "9.9.9")).toBeNull();
    expect(await r.get("other", "1.0.0")).toBeNull();
  });

  it("an empty registry lists nothing and has no current versions", async () => {
    const r = (await fresh())();
    expect(await r.list()).toEqual([]);
    expect((await r.currentVersions()).size).toBe(0);
  });

  it("lists every version and keeps a current version per SKU, which may move down", async () => {
    const r = (await fresh())();
    await r.put("a", "1.0.0", "{}");
    await r.put("a", "1.1.0", '{"x":1}');
    await r.put("b", "2.0.0", "{}");
    await r.put("c", "0.1.0", "{}");
    await r.setCurrent("a", "1.1.0");
    await r.setCurrent("b", "2.0.0");
    await r.setCurrent("a", "1.0.0");
    const listed = (await r.list()).map((v) => `${v.skuId}@${v.version}`).sort();
    expect(listed).toEqual(["a@1.0.0", "a@1.1.0", "b@2.0.0", "c@0.1.0"]);
    expect(Object.fromEntries(await r.currentVersions())).toEqual({ a: "1.0.0", b: "2.0.0" });
  });

  it("keeps documents byte for byte, non-ASCII text included", async () => {
    const r = (await fresh())();
    const doc = '{"description":"Größe ≤ 10 — 東京","sku_id":"shop.eu-1"}';
    expect(await r.put("shop.eu-1", "10.20.30", doc)).toBe("created");
    expect(await r.get("shop.eu-1", "10.20.30")).toBe(doc);
    expect(await r.put("shop.eu-1", "10.20.30", doc)).toBe("unchanged");
    expect(await r.put("shop.eu-1", "10.20.30", doc.replace("≤", "<"))).toBe("conflict");
  });

  it("two writers of one version at once: exactly one creates it, the other is told of the conflict", async () => {
    const open = await fresh();
    const [first, second] = [open(), open()];
    const outcomes = await Promise.all([first.put("race", "1.0.0", '{"w":1}'), second.put("race", "1.0.0", '{"w":2}')]);
    expect([...outcomes].sort()).toEqual(["conflict", "created"]);
    const winner = outcomes[0] === "created" ? '{"w":1}' : '{"w":2}';
    expect(await first.get("race", "1.0.0")).toBe(winner);
  });

  it("what one registry stored, another opened on the same place sees", async () => {
    const open = await fresh();
    const writer = open();
    await writer.put("shop", "1.2.3", '{"k":true}');
    await writer.setCurrent("shop", "1.2.3");
    const reader = open();
    expect(await reader.get("shop", "1.2.3")).toBe('{"k":true}');
    expect(await reader.list()).toEqual([{ skuId: "shop", version: "1.2.3" }]);
    expect(Object.fromEntries(await reader.currentVersions())).toEqual({ shop: "1.2.3" });
    expect(await reader.put("shop", "1.2.3", '{"k":false}')).toBe("conflict");
  });

  it("refuses names that are not a SKU id and a version (no path tricks), and writes nothing", async () => {
    const r = (await fresh())();
    const refusal = (p: Promise<unknown>) => p.then(
      () => "accepted",
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    const badSkus = ["", "..", "../x", "x/y", "Shop", "-a", "a".repeat(129), "a\u0000b"];
    const skuRefusals = await Promise.all(badSkus.flatMap((sku) => [r.put(sku, "1.0.0", "{}"), r.get(sku, "1.0.0"), r.setCurrent(sku, "1.0.0")].map(refusal)));
    expect(skuRefusals).toEqual(skuRefusals.map(() => expect.stringMatching(/is not a SKU id/)));
    const badVersions = ["", "1.0", "01.0.0", "v1.0.0", "1.0.0/../../x", "1.0.0-rc.1", "../CURRENT"];
    const versionRefusals = await Promise.all(badVersions.flatMap((v) => [r.put("shop", v, "{}"), r.get("shop", v), r.setCurrent("shop", v)].map(refusal)));
    expect(versionRefusals).toEqual(versionRefusals.map(() => expect.stringMatching(/is not a policy version/)));
    expect(await r.list()).toEqual([]);
    expect((await r.currentVersions()).size).toBe(0);
  });
}
