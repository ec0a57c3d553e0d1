/**
 * The Cloud Storage adapters with the real @google-cloud/storage client over
 * real HTTP. No Cloud Storage emulator exists on these machines, so the
 * other end is a small double of the JSON API (test/support/gcs-double.ts),
 * not Google's service: what it proves is that the adapters send the requests
 * the JSON API defines (preconditions included) and read its answers.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGcsArchiveStore, createGcsPolicyRegistry, createStorageClient } from "../../src/adapters/gcp/gcs.ts";
import { startGcsDouble, type GcsDouble } from "../support/gcs-double.ts";
import { policyRegistryCases } from "../support/policy-registry-cases.ts";

let double: GcsDouble;
beforeAll(async () => {
  double = await startGcsDouble();
});
afterAll(async () => {
  await double.close();
});

let n = 0;
const storage = () => createStorageClient({ projectId: "governor-test", apiEndpoint: double.url });

describe("policy registry: a Cloud Storage bucket", () => {
  policyRegistryCases(async () => createGcsPolicyRegistry({ storage: storage(), bucket: `registry-${n++}` }));

  it("sent only requests the double knows", () => {
    expect(double.unknown).toEqual([]);
  });
});

describe("archive store: a Cloud Storage bucket", () => {
  it("stores an archive once and reads it back; the bucket refuses to overwrite it with other bytes", async () => {
    const archives = createGcsArchiveStore({ storage: storage(), bucket: "archives-test" });
    const data = randomBytes(200_000);
    expect(await archives.put("acme-10.tar.gz", data)).toEqual({ uri: "gs://archives-test/archives/acme-10.tar.gz", bytes: 200_000 });
    expect(Buffer.from((await archives.get("acme-10.tar.gz"))!)).toEqual(data);
    expect(double.buckets.get("archives-test")?.get("archives/acme-10.tar.gz")?.contentType).toBe("application/gzip");
    expect((await archives.put("acme-10.tar.gz", data)).uri).toBe("gs://archives-test/archives/acme-10.tar.gz");
    await expect(archives.put("acme-10.tar.gz", randomBytes(10))).rejects.toThrow(/already exists .* never overwritten/);
    expect(await archives.get("missing.tar.gz")).toBeNull();
    expect(double.unknown).toEqual([]);
  });

  it("fails within its deadline against an endpoint that never answers", async () => {
    const hole = createServer((s) => s.on("error", () => {}));
    await new Promise<void>((r) => hole.listen(0, "127.0.0.1", r));
    const endpoint = `http://127.0.0.1:${(hole.address() as { port: number }).port}`;
    const archives = createGcsArchiveStore({ storage: createStorageClient({ projectId: "p", apiEndpoint: endpoint, timeoutMs: 800 }), bucket: "b", timeoutMs: 800 });
    const t0 = performance.now();
    await expect(archives.put("x.tar.gz", randomBytes(10))).rejects.toThrow(/did not answer .* within 800 ms/);
    expect(performance.now() - t0).toBeLessThan(2000);
    hole.close();
  });
});
