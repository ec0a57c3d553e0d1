/** A policy registry in memory, for tests; registries opened on one storage see the same versions (two processes). */
import { checkPolicyKey, type PolicyRegistry } from "../../ports/index.ts";

/** What memory registries share. */
export interface MemoryPolicyStorage {
  readonly versions: Map<string, string>;
  readonly current: Map<string, string>;
}

export function createMemoryPolicyStorage(): MemoryPolicyStorage {
  return { versions: new Map(), current: new Map() };
}

export function createMemoryPolicyRegistry(storage: MemoryPolicyStorage = createMemoryPolicyStorage()): PolicyRegistry {
  const key = (sku: string, version: string) => `${sku}@${version}`;
  return {
    async put(sku, version, document) {
      checkPolicyKey(sku, version);
      const stored = storage.versions.get(key(sku, version));
      if (stored !== undefined) return stored === document ? "unchanged" : "conflict";
      storage.versions.set(key(sku, version), document);
      return "created";
    },
    async get(sku, version) {
      checkPolicyKey(sku, version);
      return storage.versions.get(key(sku, version)) ?? null;
    },
    async list() {
      return [...storage.versions.keys()].map((k) => {
        const at = k.indexOf("@");
        return { skuId: k.slice(0, at), version: k.slice(at + 1) };
      });
    },
    async setCurrent(sku, version) {
      checkPolicyKey(sku, version);
      storage.current.set(sku, version);
    },
    async currentVersions() {
      return new Map(storage.current);
    },
  };
}
