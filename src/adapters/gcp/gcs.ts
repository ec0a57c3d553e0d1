/**
 * Cloud Storage adapters: the archive store (archives of cancelled tenants)
 * and the policy registry (every pushed policy version), each under a prefix
 * in a bucket. Objects are created with the precondition `ifGenerationMatch:
 * 0`: the bucket itself refuses to overwrite, so an archive or a policy
 * version, once written, never changes. Every call has a deadline.
 */
import { Storage, type Bucket } from "@google-cloud/storage";
import type { ArchiveStore, PolicyPutOutcome, PolicyRegistry } from "../../ports.ts";

/** A Storage client: STORAGE_EMULATOR_HOST or `apiEndpoint` for a local endpoint (no credentials then), else Google Cloud. */
export function createStorageClient(options: { projectId?: string; apiEndpoint?: string; timeoutMs?: number } = {}): Storage {
  return new Storage({
    ...(options.projectId === undefined ? {} : { projectId: options.projectId }),
    ...(options.apiEndpoint === undefined ? {} : { apiEndpoint: options.apiEndpoint }),
    // The client's own retries stay within our deadline.
    retryOptions: { totalTimeout: Math.ceil((options.timeoutMs ?? 10_000) / 1000), maxRetries: 2 },
  });
}

const statusOf = (err: unknown): number | undefined => {
  const code = (err as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
};

/** Runs a Storage call under a deadline. */
function deadline<T>(what: string, ms: number, run: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Cloud Storage did not answer ${what} within ${ms} ms`)), ms);
    run().then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

interface GcsOptions {
  readonly storage: Storage;
  readonly bucket: string;
  /** Object name prefix, e.g. "archives/". */
  readonly prefix?: string;
  readonly timeoutMs?: number;
}

/** Creates `name` only if absent: "created", "unchanged" (same bytes there), or "conflict". */
async function createOnce(bucket: Bucket, name: string, data: Buffer, contentType: string, ms: number): Promise<PolicyPutOutcome> {
  try {
    await deadline(`upload ${name}`, ms, () =>
      bucket.file(name).save(data, { resumable: false, contentType, preconditionOpts: { ifGenerationMatch: 0 }, validation: "md5" }),
    );
    return "created";
  } catch (err) {
    if (statusOf(err) !== 412) throw err;
    const [existing] = await deadline(`download ${name}`, ms, () => bucket.file(name).download());
    return Buffer.compare(existing, data) === 0 ? "unchanged" : "conflict";
  }
}

async function downloadOrNull(bucket: Bucket, name: string, ms: number): Promise<Buffer | null> {
  try {
    const [data] = await deadline(`download ${name}`, ms, () => bucket.file(name).download());
    return data;
  } catch (err) {
    if (statusOf(err) === 404) return null;
    throw err;
  }
}

export function createGcsArchiveStore(options: GcsOptions): ArchiveStore {
  const bucket = options.storage.bucket(options.bucket);
  const prefix = options.prefix ?? "archives/";
  const ms = options.timeoutMs ?? 30_000;
  return {
    async put(name, data) {
      const object = `${prefix}${name}`;
      const outcome = await createOnce(bucket, object, Buffer.from(data), "application/gzip", ms);
      if (outcome === "conflict") throw new Error(`archive ${object} already exists in gs://${options.bucket} with other content; archives are never overwritten`);
      return { uri: `gs://${options.bucket}/${object}`, bytes: data.byteLength };
    },
    async get(name) {
      const data = await downloadOrNull(bucket, `${prefix}${name}`, ms);
      return data === null ? null : new Uint8Array(data);
    },
  };
}

const skuPattern = /^[a-z][a-z0-9_.-]{0,63}$/;
const versionPattern = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

export function createGcsPolicyRegistry(options: GcsOptions): PolicyRegistry {
  const bucket = options.storage.bucket(options.bucket);
  const prefix = options.prefix ?? "policies/";
  const ms = options.timeoutMs ?? 10_000;
  const check = (sku: string, version: string) => {
    if (!skuPattern.test(sku)) throw new Error(`"${sku.slice(0, 64)}" is not a SKU id`);
    if (!versionPattern.test(version)) throw new Error(`"${version.slice(0, 64)}" is not a policy version`);
  };
  const listNames = async () => {
    const [files] = await deadline("list policies", ms, () => bucket.getFiles({ prefix }));
    return files.map((f) => f.name.slice(prefix.length));
  };
  return {
    async put(skuId, version, document) {
      check(skuId, version);
      return createOnce(bucket, `${prefix}${skuId}/${version}.json`, Buffer.from(document, "utf8"), "application/json", ms);
    },
    async get(skuId, version) {
      check(skuId, version);
      const data = await downloadOrNull(bucket, `${prefix}${skuId}/${version}.json`, ms);
      return data === null ? null : data.toString("utf8");
    },
    async list() {
      const out: { skuId: string; version: string }[] = [];
      for (const name of await listNames()) {
        const m = /^([^/]+)\/([^/]+)\.json$/.exec(name);
        if (m && skuPattern.test(m[1]!) && versionPattern.test(m[2]!)) out.push({ skuId: m[1]!, version: m[2]! });
      }
      return out;
    },
    async setCurrent(skuId, version) {
      check(skuId, version);
      // The one object here that is rewritten: once per push, far from any write-rate limit.
      await deadline(`upload ${skuId}/CURRENT`, ms, () =>
        bucket.file(`${prefix}${skuId}/CURRENT`).save(`${version}\n`, { resumable: false, contentType: "text/plain" }),
      );
    },
    async currentVersions() {
      const out = new Map<string, string>();
      for (const name of await listNames()) {
        const m = /^([^/]+)\/CURRENT$/.exec(name);
        if (m === null || !skuPattern.test(m[1]!)) continue;
        const text = await downloadOrNull(bucket, `${prefix}${name}`, ms);
        const version = text?.toString("utf8").trim();
        if (version !== undefined && versionPattern.test(version)) out.set(m[1]!, version);
      }
      return out;
    },
  };
}
