import { describe, expect, it } from "vitest";
import { createMemoryPolicyRegistry, createMemoryPolicyStorage } from "../../src/adapters/memory/memory-policy-registry.ts";
import { policyRegistryCases } from "./policy-registry.ts";
import { checkPolicyKey, isPolicyVersion, isSkuId } from "../../src/ports/index.ts";
import { PolicyDocument } from "../../src/policy/schema.ts";

describe("policy registry: memory", () => {
  policyRegistryCases(async () => {
    const storage = createMemoryPolicyStorage();
    return () => createMemoryPolicyRegistry(storage);
  });
});

describe("policy registry keys", () => {
  // Registries check keys without the policy schema (adapters do not import it): both must agree.
  const skus = ["shop", "shop.eu-1", "a_b", "a".repeat(128), "", "..", "../x", "x/y", "Shop", "-a", "1a", "a".repeat(129), "a\u0000b", "a b", "é"];
  const versions = ["1.0.0", "0.0.1", "10.20.30", "", "1", "1.0", "01.0.0", "1.0.0-rc.1", "1.0.0/..", "v1.0.0", " 1.0.0"];

  it("a SKU id or a version is valid exactly when the policy schema accepts it", () => {
    for (const sku of skus) expect([sku, isSkuId(sku)]).toEqual([sku, PolicyDocument.shape.sku_id.safeParse(sku).success]);
    for (const v of versions) expect([v, isPolicyVersion(v)]).toEqual([v, PolicyDocument.shape.policy_version.safeParse(v).success]);
    expect(isSkuId(7)).toBe(false);
    expect(isPolicyVersion(null)).toBe(false);
  });

  it("checkPolicyKey names what is wrong", () => {
    expect(() => checkPolicyKey("shop", "1.0.0")).not.toThrow();
    expect(() => checkPolicyKey("../x", "1.0.0")).toThrow(/"\.\.\/x" is not a SKU id/);
    expect(() => checkPolicyKey("shop", "1.0")).toThrow(/"1\.0" is not a policy version/);
  });
});
