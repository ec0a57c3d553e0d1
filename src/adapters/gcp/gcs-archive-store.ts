/**
 * The Cloud Storage archive store: each archive of a cancelled tenant is one
 * object `{prefix}archives/{name}` in a bucket (beside the policy registry's
 * `{prefix}policies/`, should both share one), created only if absent
 * (`ifGenerationMatch: 0`), so the bucket itself refuses to change an
 * archive once written; the bucket's retention policy (infra/terraform)
 * keeps it from being deleted.
 */
import type { Storage } from "@google-cloud/storage";
import type { ArchiveStore } from "../../ports/index.ts";
import { CloudStorageError, CloudStorageErrorCode, createObjectOnce, defaultTimeoutMs, readObject } from "./gcs-client.ts";

/** Where archives go and how long one call may stall. */
export interface GcsArchiveStoreOptions {
  readonly storage: Storage;
  readonly bucket: string;
  /** Prepended to `archives/`, e.g. "staging/" (default: none). */
  readonly prefix?: string;
  /** Deadline of a call without progress (default 10 s): a large archive that keeps moving is not cut. */
  readonly timeoutMs?: number;
}

const safeName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

/**
 * An ArchiveStore on a Cloud Storage bucket. `put` of a name already there
 * with the same bytes resolves as if it had written them (a retried
 * decommission); with other bytes it rejects with
 * `CLOUD_STORAGE_OBJECT_EXISTS` and changes nothing. `get` resolves null
 * when there is no such archive.
 */
export function createGcsArchiveStore(options: GcsArchiveStoreOptions): ArchiveStore {
  const bucket = options.storage.bucket(options.bucket);
  const root = `${options.prefix ?? ""}archives/`;
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const objectOf = (name: string) => {
    if (!safeName.test(name)) throw new Error(`archive name ${JSON.stringify(name.slice(0, 64))} is not a plain file name (letters, digits, '.', '_', '-')`);
    return `${root}${name}`;
  };
  return {
    async put(name, data) {
      const object = objectOf(name);
      const uri = `gs://${options.bucket}/${object}`;
      const outcome = await createObjectOnce(bucket.file(object), data, { contentType: "application/gzip", timeoutMs, compare: "digests" });
      if (outcome === "different") {
        throw new CloudStorageError(CloudStorageErrorCode.exists, `archive ${uri} already exists with other content; archives are never overwritten`, { retryable: false });
      }
      return { uri, bytes: data.byteLength };
    },
    async get(name) {
      const data = await readObject(bucket.file(objectOf(name)), timeoutMs);
      return data === null ? null : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    },
  };
}
