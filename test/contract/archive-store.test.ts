import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { createDirectoryArchiveStore } from "../../src/adapters/embedded/fs-archive-store.ts";
import { createGcsArchiveStore } from "../../src/adapters/gcp/gcs-archive-store.ts";
import { createStorageClient } from "../../src/adapters/gcp/gcs-client.ts";
import { createMemoryArchiveStore } from "../../src/adapters/memory/memory-archive-store.ts";
import { startGcsDouble, type GcsDouble } from "../support/gcs-double.ts";
import { describeArchiveStoreContract } from "./archive-store.ts";

const dirs: string[] = [];
let double: GcsDouble;
let n = 0;
beforeAll(async () => {
  double = await startGcsDouble();
});
afterAll(async () => {
  await double.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describeArchiveStoreContract("memory", async () => createMemoryArchiveStore());

describeArchiveStoreContract("a directory", async () => {
  const dir = mkdtempSync(join(tmpdir(), "governor-archives-"));
  dirs.push(dir);
  return createDirectoryArchiveStore(join(dir, "archives"));
});

// No Cloud Storage emulator exists here: the bucket is the JSON API double of test/integration/gcs.test.ts.
describeArchiveStoreContract("a Cloud Storage bucket (double)", async () =>
  createGcsArchiveStore({ storage: createStorageClient({ projectId: "governor-test", apiEndpoint: double.url }), bucket: `archives-${n++}` }),
);
