/** What every PolicyRegistry must do, written once and run against each adapter. */
import { expect, it } from "vitest";
import type { PolicyRegistry } from "../../src/ports.ts";

export function policyRegistryCases(make: () => Promise<PolicyRegistry>): void {
  it("stores a version once: the same bytes again are unchanged, other bytes a conflict that writes nothing", async () => {
    const r = await make();
    expect(await r.put("shop", "1.0.0", '{"v":1}')).toBe("created");
    expect(await r.put("shop", "1.0.0", '{"v":1}')).toBe("unchanged");
    expect(await r.put("shop", "1.0.0", '{"v":2}')).toBe("conflict");
    expect(await r.get("shop", "1.0.0")).toBe('{"v":1}');
    expect(await r.get("shop", "9.9.9")).toBeNull();
  });

  it("lists every version and keeps a current version per SKU, which may move down", async () => {
    const r = await make();
    await r.put("a", "1.0.0", "{}");
    await r.put("a", "1.1.0", '{"x":1}');
    await r.put("b", "2.0.0", "{}");
    await r.setCurrent("a", "1.1.0");
    await r.setCurrent("b", "2.0.0");
    await r.setCurrent("a", "1.0.0");
    const listed = (await r.list()).map((v) => `${v.skuId}@${v.version}`).sort();
    expect(listed).toEqual(["a@1.0.0", "a@1.1.0", "b@2.0.0"]);
    expect(Object.fromEntries(await r.currentVersions())).toEqual({ a: "1.0.0", b: "2.0.0" });
  });

  it("refuses names that are not a SKU and a version (no path tricks)", async () => {
    const r = await make();
    await expect(r.put("../x", "1.0.0", "{}")).rejects.toThrow(/not a SKU id/);
    await expect(r.put("shop", "1.0.0/../../x", "{}")).rejects.toThrow(/not a policy version/);
  });
}
