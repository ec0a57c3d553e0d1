/**
 * The Cloud Storage policy registry. In a bucket, under an optional prefix:
 * - `{prefix}policies/{sku}/{version}.json`: every pushed version, created
 *   only if absent (`ifGenerationMatch: 0`): the bucket enforces
 *   immutability atomically, and a 412 means the version is there, so it is
 *   read and compared (same bytes: "unchanged", else "conflict");
 * - `{prefix}policies/{sku}/CURRENT`: the current version's text, replaced
 *   on every push.
 */
import type { Storage } from "@google-cloud/storage";
import { checkPolicyKey as checkKey, isPolicyVersion, isSkuId, type PolicyPutOutcome, type PolicyRegistry } from "../../ports/index.ts";
import { createObjectOnce, defaultTimeoutMs, listObjectNames, readObject, replaceObject } from "./gcs-client.ts";

/** Where the registry lives and how long one call may stall. */
export interface GcsPolicyRegistryOptions {
  readonly storage: Storage;
  readonly bucket: string;
  /** Prepended to `policies/`, e.g. "staging/" (default: none). */
  readonly prefix?: string;
  /** Deadline of every call (default 10 s). */
  readonly timeoutMs?: number;
}


/** A PolicyRegistry on a Cloud Storage bucket. */
export function createGcsPolicyRegistry(options: GcsPolicyRegistryOptions): PolicyRegistry {
  const bucket = options.storage.bucket(options.bucket);
  const root = `${options.prefix ?? ""}policies/`;
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const documentOf = (sku: string, version: string) => bucket.file(`${root}${sku}/${version}.json`);
  const currentOf = (sku: string) => bucket.file(`${root}${sku}/CURRENT`);
  const names = async () => (await listObjectNames(options.storage, options.bucket, root, timeoutMs)).map((n) => n.slice(root.length));

  return {
    async put(sku, version, document): Promise<PolicyPutOutcome> {
      checkKey(sku, version);
      const outcome = await createObjectOnce(documentOf(sku, version), Buffer.from(document, "utf8"), { contentType: "application/json", timeoutMs, compare: "bytes" });
      return outcome === "created" ? "created" : outcome === "same" ? "unchanged" : "conflict";
    },
    async get(sku, version) {
      checkKey(sku, version);
      const data = await readObject(documentOf(sku, version), timeoutMs);
      return data === null ? null : data.toString("utf8");
    },
    async list() {
      const out: { skuId: string; version: string }[] = [];
      for (const name of await names()) {
        const m = /^([^/]+)\/([^/]+)\.json$/.exec(name);
        if (m && isSkuId(m[1]) && isPolicyVersion(m[2])) out.push({ skuId: m[1]!, version: m[2]! });
      }
      return out;
    },
    async setCurrent(sku, version) {
      checkKey(sku, version);
      await replaceObject(currentOf(sku), Buffer.from(`${version}\n`, "utf8"), { contentType: "text/plain; charset=utf-8", timeoutMs });
    },
    async currentVersions() {
      const skus = (await names()).flatMap((name) => {
        const m = /^([^/]+)\/CURRENT$/.exec(name);
        return m && isSkuId(m[1]) ? [m[1]!] : [];
      });
      const read = await Promise.all(skus.map(async (sku) => [sku, (await readObject(currentOf(sku), timeoutMs))?.toString("utf8").trim()] as const));
      const out = new Map<string, string>();
      for (const [sku, version] of read) if (version !== undefined && isPolicyVersion(version)) out.set(sku, version);
      return out;
    },
  };
}
