/**
 * The Cloud Storage adapters with the real @google-cloud/storage client over
 * real HTTP. No Cloud Storage emulator exists on these machines, so the other
 * end is a small in-memory double of the Cloud Storage JSON API
 * (test/support/gcs-double.ts), not Google's service: what these tests prove
 * is that the adapters send the requests the JSON API defines (preconditions
 * included), read its answers and errors, and keep their deadlines.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGcsArchiveStore } from "../../src/adapters/gcp/gcs-archive-store.ts";
import { CloudStorageError, createStorageClient, resumableAboveBytes, storageEndpoint, toCloudStorageError } from "../../src/adapters/gcp/gcs-client.ts";
import { createGcsPolicyRegistry } from "../../src/adapters/gcp/gcs-policy-registry.ts";
import { startGcsDouble, type GcsDouble } from "../support/gcs-double.ts";
import { eventually } from "../support/service.ts";
import { policyRegistryCases } from "../contract/policy-registry.ts";

let double: GcsDouble;
beforeAll(async () => {
  double = await startGcsDouble();
});
afterAll(async () => {
  await double.close();
});

let n = 0;
const storage = () => createStorageClient({ projectId: "governor-test", apiEndpoint: double.url });
const requestsSince = (mark: number) => double.requests.slice(mark);
const rejection = async (p: Promise<unknown>): Promise<CloudStorageError> => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CloudStorageError);
  return err as CloudStorageError;
};

describe("policy registry: a Cloud Storage bucket", () => {
  policyRegistryCases(async () => {
    const bucket = `registry-${n++}`;
    return () => createGcsPolicyRegistry({ storage: storage(), bucket });
  });

  it("writes {prefix}policies/{sku}/{version}.json only if absent (ifGenerationMatch=0) and {prefix}policies/{sku}/CURRENT", async () => {
    const r = createGcsPolicyRegistry({ storage: storage(), bucket: "layout", prefix: "staging/" });
    const mark = double.requests.length;
    expect(await r.put("shop", "1.0.0", '{"v":1}')).toBe("created");
    await r.setCurrent("shop", "1.0.0");
    const objects = double.buckets.get("layout")!;
    expect([...objects.keys()].sort()).toEqual(["staging/policies/shop/1.0.0.json", "staging/policies/shop/CURRENT"]);
    expect(objects.get("staging/policies/shop/1.0.0.json")?.contentType).toBe("application/json");
    expect(objects.get("staging/policies/shop/CURRENT")?.data.toString()).toBe("1.0.0\n");
    const uploads = requestsSince(mark).filter((r) => r.startsWith("POST /upload/"));
    expect(uploads[0]).toMatch(/uploadType=multipart.*name=staging%2Fpolicies%2Fshop%2F1\.0\.0\.json.*ifGenerationMatch=0/);
    // CURRENT is replaced on the generation just read: 0 the first time, so two pushes never interleave.
    expect(uploads[1]).toMatch(/name=staging%2Fpolicies%2Fshop%2FCURRENT.*ifGenerationMatch=0/);
    const generation = objects.get("staging/policies/shop/CURRENT")!.generation;
    await r.put("shop", "1.1.0", "{}");
    await r.setCurrent("shop", "1.1.0");
    expect(double.requests.filter((q) => q.includes("CURRENT&") || q.endsWith("CURRENT")).at(-1)).toMatch(new RegExp(`ifGenerationMatch=${generation}$`));
    expect(objects.get("staging/policies/shop/CURRENT")?.data.toString()).toBe("1.1.0\n");
    // Another prefix in the same bucket is another registry.
    expect(await createGcsPolicyRegistry({ storage: storage(), bucket: "layout" }).list()).toEqual([]);
  });

  it("lists a registry larger than one page of the listing", async () => {
    const paged = await startGcsDouble({ pageSize: 2 });
    try {
      const r = createGcsPolicyRegistry({ storage: createStorageClient({ projectId: "p", apiEndpoint: paged.url }), bucket: "paged" });
      for (let i = 0; i < 5; i++) await r.put("shop", `1.${i}.0`, "{}");
      await r.setCurrent("shop", "1.4.0");
      await r.setCurrent("tools", "1.0.0");
      expect((await r.list()).map((v) => v.version).sort()).toEqual(["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"]);
      expect(Object.fromEntries(await r.currentVersions())).toEqual({ shop: "1.4.0", tools: "1.0.0" });
      expect(paged.requests.filter((q) => q.startsWith("GET /storage/v1/b/paged/o?") && q.includes("pageToken=")).length).toBeGreaterThanOrEqual(3);
      expect(paged.unknown).toEqual([]);
    } finally {
      await paged.close();
    }
  });
});

describe("archive store: a Cloud Storage bucket", () => {
  it("stores an archive once in one request and reads it back; the bucket refuses to overwrite it with other bytes", async () => {
    const archives = createGcsArchiveStore({ storage: storage(), bucket: "archives-test" });
    const data = randomBytes(200_000);
    const mark = double.requests.length;
    expect(await archives.put("acme-10.tar.gz", data)).toEqual({ uri: "gs://archives-test/archives/acme-10.tar.gz", bytes: 200_000 });
    expect(requestsSince(mark)).toEqual([expect.stringMatching(/^POST \/upload\/storage\/v1\/b\/archives-test\/o\?uploadType=multipart&name=archives%2Facme-10\.tar\.gz&ifGenerationMatch=0$/)]);
    expect(double.buckets.get("archives-test")?.get("archives/acme-10.tar.gz")?.contentType).toBe("application/gzip");
    expect(Buffer.from((await archives.get("acme-10.tar.gz"))!).equals(data)).toBe(true);
    expect(await archives.put("acme-10.tar.gz", data)).toEqual({ uri: "gs://archives-test/archives/acme-10.tar.gz", bytes: 200_000 });
    const err = await rejection(archives.put("acme-10.tar.gz", randomBytes(200_000)));
    expect(err.code).toBe("CLOUD_STORAGE_OBJECT_EXISTS");
    expect(err.message).toMatch(/gs:\/\/archives-test\/archives\/acme-10\.tar\.gz already exists with other content/);
    expect(Buffer.from((await archives.get("acme-10.tar.gz"))!).equals(data)).toBe(true);
    expect(await archives.get("missing.tar.gz")).toBeNull();
  });

  it("puts archives under {prefix}archives/ and refuses names that are not plain file names", async () => {
    const archives = createGcsArchiveStore({ storage: storage(), bucket: "archives-prefixed", prefix: "staging/" });
    expect((await archives.put("t-1.tar.gz", Buffer.from("x"))).uri).toBe("gs://archives-prefixed/staging/archives/t-1.tar.gz");
    const refusals = await Promise.all(
      ["../x.tar.gz", "a/b.tar.gz", "", ".hidden"].flatMap((name) => [archives.put(name, Buffer.from("x")), archives.get(name)]).map((p) => p.then(() => "accepted", (e: Error) => e.message)),
    );
    expect(refusals).toEqual(refusals.map(() => expect.stringMatching(/is not a plain file name/)));
    expect([...double.buckets.get("archives-prefixed")!.keys()]).toEqual(["staging/archives/t-1.tar.gz"]);
  });

  it("uploads a large archive resumably, only if absent, and tells the same bytes from others by their digests", async () => {
    const archives = createGcsArchiveStore({ storage: storage(), bucket: "archives-large" });
    const data = randomBytes(resumableAboveBytes + 1024 * 1024);
    let mark = double.requests.length;
    expect(await archives.put("big.tar.gz", data)).toEqual({ uri: "gs://archives-large/archives/big.tar.gz", bytes: data.length });
    const sent = requestsSince(mark);
    expect(sent[0]).toMatch(/^POST \/upload\/storage\/v1\/b\/archives-large\/o\?name=archives%2Fbig\.tar\.gz&uploadType=resumable&ifGenerationMatch=0$/);
    expect(sent.slice(1).every((r) => r.startsWith("PUT /upload/storage/v1/b/archives-large/o?uploadType=resumable"))).toBe(true);
    expect(double.buckets.get("archives-large")?.get("archives/big.tar.gz")?.data.equals(data)).toBe(true);
    expect(double.buckets.get("archives-large")?.get("archives/big.tar.gz")?.contentType).toBe("application/gzip");

    mark = double.requests.length;
    expect((await archives.put("big.tar.gz", data)).uri).toBe("gs://archives-large/archives/big.tar.gz");
    // Refused at the session's start (412), then compared by metadata: no download of the archive.
    expect(requestsSince(mark).some((r) => r.includes("alt=media"))).toBe(false);
    expect(requestsSince(mark).some((r) => r.startsWith("GET /storage/v1/b/archives-large/o/archives%2Fbig.tar.gz"))).toBe(true);

    const other = Buffer.from(data);
    other[12345] = other[12345]! ^ 1;
    expect((await rejection(archives.put("big.tar.gz", other))).code).toBe("CLOUD_STORAGE_OBJECT_EXISTS");
    expect(Buffer.from((await archives.get("big.tar.gz"))!).equals(data)).toBe(true);
  });

  it("a resumable upload whose connection drops goes on from what the service received", async () => {
    const archives = createGcsArchiveStore({ storage: storage(), bucket: "archives-cut" });
    const data = randomBytes(resumableAboveBytes + 3 * 1024 * 1024);
    double.cutNextResumableAt = 4 * 1024 * 1024;
    const mark = double.requests.length;
    expect((await archives.put("cut.tar.gz", data)).bytes).toBe(data.length);
    expect(double.cutNextResumableAt).toBeNull();
    // The client asked where the upload stood (a PUT with `bytes */…`) and sent the rest.
    expect(requestsSince(mark).some((r) => /^PUT .* range=bytes \*\//.test(r))).toBe(true);
    expect(double.buckets.get("archives-cut")?.get("archives/cut.tar.gz")?.data.equals(data)).toBe(true);
  });

  it("a download that does not match the service's hashes is an error, not data", async () => {
    const archives = createGcsArchiveStore({ storage: storage(), bucket: "archives-corrupt" });
    await archives.put("c.tar.gz", randomBytes(50_000));
    double.corruptNextDownload = true;
    const err = await rejection(archives.get("c.tar.gz"));
    expect(err.code).toBe("CLOUD_STORAGE_FAILED");
    expect(err.retryable).toBe(true);
    expect(double.corruptNextDownload).toBe(false);
  });

  it("a missing bucket is an error that names it, not an absent archive", async () => {
    const strict = await startGcsDouble({ buckets: ["exists"] });
    try {
      const archives = createGcsArchiveStore({ storage: createStorageClient({ projectId: "p", apiEndpoint: strict.url }), bucket: "no-such-bucket" });
      const err = await rejection(archives.get("a.tar.gz"));
      expect(err.status).toBe(404);
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/gs:\/\/no-such-bucket\/archives\/a\.tar\.gz.*bucket does not exist/);
      expect((await rejection(archives.put("a.tar.gz", Buffer.from("x")))).status).toBe(404);
      const registry = createGcsPolicyRegistry({ storage: createStorageClient({ projectId: "p", apiEndpoint: strict.url }), bucket: "no-such-bucket" });
      expect((await rejection(registry.list())).message).toMatch(/bucket does not exist/);
    } finally {
      await strict.close();
    }
  });
});

describe("the Storage client", () => {
  it("honours STORAGE_EMULATOR_HOST (a bare host:port is plain HTTP) and sends JSON API paths; apiEndpoint wins over it", async () => {
    const saved = process.env["STORAGE_EMULATOR_HOST"];
    process.env["STORAGE_EMULATOR_HOST"] = double.url.replace("http://", "");
    try {
      const viaEnv = createGcsPolicyRegistry({ storage: createStorageClient({ projectId: "p" }), bucket: "via-env" });
      const mark = double.requests.length;
      await viaEnv.put("shop", "1.0.0", "{}");
      expect(await viaEnv.list()).toEqual([{ skuId: "shop", version: "1.0.0" }]);
      expect(requestsSince(mark).every((r) => / \/(upload\/)?storage\/v1\/b\/via-env\/o/.test(r))).toBe(true);
      const elsewhere = createStorageClient({ projectId: "p", apiEndpoint: "http://127.0.0.1:9" });
      expect(elsewhere.apiEndpoint).toBe("http://127.0.0.1:9");
      expect(elsewhere.baseUrl).toBe("http://127.0.0.1:9/storage/v1");
    } finally {
      if (saved === undefined) delete process.env["STORAGE_EMULATOR_HOST"];
      else process.env["STORAGE_EMULATOR_HOST"] = saved;
    }
    expect(storageEndpoint(undefined, {})).toBeUndefined();
    expect(storageEndpoint(undefined, { STORAGE_EMULATOR_HOST: "https://gcs.example:4443/storage/v1/" })).toBe("https://gcs.example:4443");
  });

  it("errors say what failed and carry nothing of the request (its Authorization header included)", () => {
    const apiError = Object.assign(new Error("Forbidden\nmore"), {
      code: 403,
      response: { request: { headers: { Authorization: "Bearer ya29.secret-token" }, href: "https://storage.googleapis.com/x" } },
    });
    const err = toCloudStorageError("upload gs://b/o", apiError);
    expect(err.message).toBe("Cloud Storage could not upload gs://b/o: 403 Forbidden");
    expect(err.retryable).toBe(false);
    expect(JSON.stringify(err)).not.toContain("secret-token");
    expect(Object.keys(err).sort()).toEqual(["code", "name", "retryable", "status"]);
    expect(toCloudStorageError("x", Object.assign(new Error("Service Unavailable"), { code: 503 })).retryable).toBe(true);
    expect(toCloudStorageError("x", new Error("socket hang up")).retryable).toBe(true);
  });
});

describe("an endpoint that accepts connections and never answers", () => {
  let hole: Server;
  let endpoint: string;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    hole = createServer((s) => {
      // Read and drop what arrives, so a connection the client closes is seen closed.
      s.resume();
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    });
    await new Promise<void>((r) => hole.listen(0, "127.0.0.1", r));
    endpoint = `http://127.0.0.1:${(hole.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => hole.close(() => r()));
  });

  const timeoutMs = 700;
  const client = () => createStorageClient({ projectId: "p", apiEndpoint: endpoint, timeoutMs });
  /** How a call failed: its code, whether the message names the deadline, and whether it took about the deadline. */
  const failure = async (call: () => Promise<unknown>) => {
    const t0 = performance.now();
    const err = await call().then(
      () => null,
      (e: unknown) => e as CloudStorageError,
    );
    const elapsed = performance.now() - t0;
    return { code: err?.code, namesDeadline: err?.message.includes(`within ${timeoutMs} ms`), inTime: elapsed >= timeoutMs - 50 && elapsed < timeoutMs + 1500 };
  };

  it("fails every call within about its deadline and drops the connection", async () => {
    const archives = createGcsArchiveStore({ storage: client(), bucket: "b", timeoutMs });
    const registry = createGcsPolicyRegistry({ storage: client(), bucket: "b", timeoutMs });
    const calls: Record<string, () => Promise<unknown>> = {
      "small put": () => archives.put("x.tar.gz", randomBytes(10)),
      "large put": () => archives.put("y.tar.gz", randomBytes(resumableAboveBytes + 1)),
      get: () => archives.get("x.tar.gz"),
      "registry put": () => registry.put("shop", "1.0.0", "{}"),
      "registry list": () => registry.list(),
      "registry setCurrent": () => registry.setCurrent("shop", "1.0.0"),
    };
    const outcomes: Record<string, unknown> = {};
    for (const [what, call] of Object.entries(calls)) outcomes[what] = await failure(call);
    const expected = { code: "CLOUD_STORAGE_TIMEOUT", namesDeadline: true, inTime: true };
    expect(outcomes).toEqual(Object.fromEntries(Object.keys(calls).map((what) => [what, expected])));
    // Nothing stays connected to the hung endpoint once its calls have failed (the client may still make
    // one retry of its own after the deadline; that one times out too).
    await eventually(() => sockets.size === 0, "the connections to close", 3 * timeoutMs + 1000).catch(() => {});
    expect(sockets.size).toBe(0);
  });
});

describe("the double", () => {
  it("was sent only requests of the JSON API it implements, by every test above", () => {
    expect(double.requests.length).toBeGreaterThan(50);
    expect(double.unknown).toEqual([]);
  });
});
