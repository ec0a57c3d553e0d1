/**
 * The Cloud Storage adapters in one place: the client, the archive store
 * and the policy registry (each in its own module).
 */
export { CloudStorageError, CloudStorageErrorCode, createStorageClient } from "./gcs-client.ts";
export { createGcsArchiveStore, type GcsArchiveStoreOptions } from "./gcs-archive-store.ts";
export { createGcsPolicyRegistry, type GcsPolicyRegistryOptions } from "./gcs-policy-registry.ts";
