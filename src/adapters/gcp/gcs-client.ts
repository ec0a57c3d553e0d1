/**
 * Cloud Storage access shared by the archive store and the policy registry:
 * the client (Google Cloud, or a local endpoint), a deadline on every call,
 * and the few object operations Governor needs. Failures leave as
 * `CloudStorageError` with a stable code; the client's own error objects,
 * which carry the request and its Authorization header, never leave.
 */
import { createHash } from "node:crypto";
import { CRC32C, Storage, type File } from "@google-cloud/storage";

/** Stable codes of Cloud Storage failures. */
export const CloudStorageErrorCode = {
  /** No answer (or no progress) within the call's deadline. */
  timeout: "CLOUD_STORAGE_TIMEOUT",
  /** The service refused the call or could not be reached. */
  failed: "CLOUD_STORAGE_FAILED",
  /** An immutable object already exists under the name with other content. */
  exists: "CLOUD_STORAGE_OBJECT_EXISTS",
} as const;
export type CloudStorageErrorCode = (typeof CloudStorageErrorCode)[keyof typeof CloudStorageErrorCode];

/** A failed Cloud Storage call: what was asked, and the service's status and message (never the request). */
export class CloudStorageError extends Error {
  readonly code: CloudStorageErrorCode;
  /** HTTP status of the service's answer, when there was one. */
  readonly status: number | undefined;
  /** The same call may succeed later: a timeout, 408, 429, a 5xx or a lost connection. */
  readonly retryable: boolean;
  constructor(code: CloudStorageErrorCode, message: string, options: { status?: number; retryable: boolean }) {
    super(message);
    this.name = "CloudStorageError";
    this.code = code;
    this.status = options.status;
    this.retryable = options.retryable;
  }
}

/** Deadline of one call when none is given. */
export const defaultTimeoutMs = 10_000;

/** Larger objects are uploaded resumably; smaller ones in one request (the client's advice: simple uploads below 10 MB). */
export const resumableAboveBytes = 10 * 1024 * 1024;

/** Where a client points: `apiEndpoint`, else STORAGE_EMULATOR_HOST, else Google Cloud (undefined). */
export function storageEndpoint(apiEndpoint: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = apiEndpoint ?? env["STORAGE_EMULATOR_HOST"];
  if (raw === undefined || raw === "") return undefined;
  // A bare host:port is a local emulator, spoken to over plain HTTP as the other Cloud Storage clients do.
  const withScheme = /^https?:\/\//.test(raw) ? raw : `http://${raw}`;
  return withScheme.replace(/\/+$/, "").replace(/\/storage\/v1$/, "");
}

/**
 * A Storage client for Google Cloud (credentials from the environment, as
 * the client finds them), or for a local endpoint when `apiEndpoint` or
 * STORAGE_EMULATOR_HOST names one (then, as the client does for any custom
 * endpoint, without credentials). Each HTTP request of the client times out
 * after `timeoutMs` (default 10 s), and its retries stay within that time.
 */
export function createStorageClient(options: { projectId: string; apiEndpoint?: string; timeoutMs?: number }): Storage {
  const endpoint = storageEndpoint(options.apiEndpoint);
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const storage = new Storage({
    projectId: options.projectId,
    ...(endpoint === undefined ? {} : { apiEndpoint: endpoint }),
    timeout: timeoutMs,
    retryOptions: { maxRetries: 2, totalTimeout: Math.max(1, Math.ceil(timeoutMs / 1000)) },
  });
  // With STORAGE_EMULATOR_HOST set, the client sends JSON API calls to `{host}/b/…` instead of
  // `{host}/storage/v1/b/…`; the JSON API's own path is the one every endpoint serves.
  if (endpoint !== undefined) storage.baseUrl = `${endpoint}/storage/v1`;
  return storage;
}

/** The HTTP status in one of the client's errors, if it has one. */
export function statusOf(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { code?: unknown; status?: unknown; response?: { status?: unknown; statusCode?: unknown } };
  for (const v of [e.code, e.status, e.response?.status, e.response?.statusCode]) {
    if (typeof v === "number" && v >= 100 && v < 600) return v;
  }
  return undefined;
}

/** Turns whatever a call threw into a CloudStorageError that says what failed and carries nothing of the request. */
export function toCloudStorageError(what: string, err: unknown): CloudStorageError {
  if (err instanceof CloudStorageError) return err;
  const status = statusOf(err);
  const raw = err instanceof Error ? err.message : String(err);
  const message = (raw.split("\n")[0] ?? "").slice(0, 300);
  const retryable = status === undefined || status === 408 || status === 429 || status >= 500;
  return new CloudStorageError(CloudStorageErrorCode.failed, `Cloud Storage could not ${what}: ${status === undefined ? "" : `${status} `}${message}`, {
    ...(status === undefined ? {} : { status }),
    retryable,
  });
}

/** A 404 about the object (a 404 about the bucket is a misconfiguration, not an absent object). */
function isMissingObject(err: unknown): boolean {
  return err instanceof CloudStorageError && err.status === 404 && !/bucket does not exist/i.test(err.message);
}

/**
 * Runs one call under a deadline of `ms` without progress. `touch`, called as
 * bytes move, starts the deadline again, so a large transfer that keeps
 * moving is not cut while one that stalls fails `ms` after its last byte; a
 * call that reports no progress has `ms` in all. At the deadline `signal`
 * aborts, so the call can drop its connection.
 */
export function underDeadline<T>(what: string, ms: number, run: (touch: () => void, signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const expire = () => {
      if (settled) return;
      settled = true;
      const err = new CloudStorageError(CloudStorageErrorCode.timeout, `Cloud Storage did not answer ${what} within ${ms} ms`, { retryable: true });
      controller.abort(err);
      reject(err);
    };
    let timer = setTimeout(expire, ms);
    const touch = () => {
      if (settled) return;
      clearTimeout(timer);
      timer = setTimeout(expire, ms);
    };
    let started: Promise<T>;
    try {
      started = run(touch, controller.signal);
    } catch (err) {
      started = Promise.reject(err);
    }
    started.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(toCloudStorageError(what, err));
      },
    );
  });
}

type Interceptor = File["interceptors"][number];

const uriOf = (file: File) => `gs://${file.bucket.name}/${file.name}`;
const asBuffer = (data: Uint8Array) => (Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));

/**
 * Uploads `data` as `file`: in one request up to `resumableAboveBytes`, else
 * as a resumable upload (which survives a dropped connection). The client
 * checks the service's CRC32C of what it stored against the bytes sent. With
 * `ifGenerationMatch` the service writes only if the object's generation is
 * that (0: only if there is no object), else answers 412.
 */
export async function uploadObject(file: File, data: Uint8Array, options: { contentType: string; timeoutMs: number; ifGenerationMatch?: number }): Promise<void> {
  const buffer = asBuffer(data);
  const preconditionOpts = options.ifGenerationMatch === undefined ? {} : { preconditionOpts: { ifGenerationMatch: options.ifGenerationMatch } };
  const what = `upload ${uriOf(file)}`;
  if (buffer.byteLength <= resumableAboveBytes) {
    await underDeadline(what, options.timeoutMs, (touch) =>
      file.save(buffer, { resumable: false, contentType: options.contentType, timeout: options.timeoutMs, onUploadProgress: touch, ...preconditionOpts }),
    );
    return;
  }
  await underDeadline(
    what,
    options.timeoutMs,
    (touch, signal) =>
      new Promise<void>((resolve, reject) => {
        // The client aborts its upload request when the stream is destroyed, but not the request that opens the
        // session: that one gets the deadline's signal through an interceptor on a File of its own.
        const upload = file.bucket.file(file.name);
        upload.interceptors.push({ request: (reqOpts) => Object.assign(reqOpts, { signal }) as unknown as ReturnType<Interceptor["request"]> });
        const stream = upload.createWriteStream({ resumable: true, contentType: options.contentType, ...preconditionOpts });
        stream.on("progress", touch);
        stream.on("error", reject);
        stream.on("finish", resolve);
        signal.addEventListener("abort", () => stream.destroy(), { once: true });
        stream.end(buffer);
      }),
  );
}

/** The object's bytes (checked by the client against the service's hashes), or null if there is none. */
export async function readObject(file: File, timeoutMs: number): Promise<Buffer | null> {
  try {
    return await underDeadline(
      `download ${uriOf(file)}`,
      timeoutMs,
      (touch, signal) =>
        new Promise<Buffer>((resolve, reject) => {
          const chunks: Buffer[] = [];
          const stream = file.createReadStream();
          stream.on("data", (chunk: Buffer) => {
            chunks.push(chunk);
            touch();
          });
          stream.on("error", reject);
          stream.on("end", () => resolve(Buffer.concat(chunks)));
          signal.addEventListener("abort", () => stream.destroy(), { once: true });
        }),
    );
  } catch (err) {
    if (isMissingObject(err)) return null;
    throw err;
  }
}

/** The object's size, hashes and generation, or null if there is none. */
export async function objectMetadata(file: File, timeoutMs: number): Promise<{ size: number; md5Hash?: string; crc32c?: string; generation: number } | null> {
  try {
    const [meta] = await underDeadline(`read the metadata of ${uriOf(file)}`, timeoutMs, () => file.getMetadata());
    return {
      size: Number(meta.size ?? 0),
      generation: Number(meta.generation ?? 0),
      ...(meta.md5Hash === undefined ? {} : { md5Hash: meta.md5Hash }),
      ...(meta.crc32c === undefined ? {} : { crc32c: meta.crc32c }),
    };
  } catch (err) {
    if (isMissingObject(err)) return null;
    throw err;
  }
}

/** What `createObjectOnce` found. */
export type CreateOnceOutcome = "created" | "same" | "different";

/**
 * Creates `file` with `data` only if no object has its name: the service
 * enforces it atomically (`ifGenerationMatch: 0`), so an object once written
 * never changes. When one is there (412) its content is compared with `data`:
 * byte for byte (`compare: "bytes"`), or by size, MD5 and CRC32C as the
 * service reports them (`"digests"`, for large objects; bytes when the
 * service has no MD5, as for composite objects).
 */
export async function createObjectOnce(file: File, data: Uint8Array, options: { contentType: string; timeoutMs: number; compare: "bytes" | "digests" }): Promise<CreateOnceOutcome> {
  const buffer = asBuffer(data);
  try {
    await uploadObject(file, buffer, { contentType: options.contentType, timeoutMs: options.timeoutMs, ifGenerationMatch: 0 });
    return "created";
  } catch (err) {
    if (!(err instanceof CloudStorageError) || err.status !== 412) throw err;
  }
  if (options.compare === "digests") {
    const meta = await objectMetadata(file, options.timeoutMs);
    if (meta === null) throw new CloudStorageError(CloudStorageErrorCode.failed, `Cloud Storage refused to create ${uriOf(file)} as existing, but it is not there`, { retryable: true });
    if (meta.size !== buffer.byteLength) return "different";
    if (meta.md5Hash !== undefined) {
      const crc = new CRC32C();
      crc.update(buffer);
      const md5 = createHash("md5").update(buffer).digest("base64");
      return md5 === meta.md5Hash && (meta.crc32c === undefined || crc.toString() === meta.crc32c) ? "same" : "different";
    }
  }
  const existing = await readObject(file, options.timeoutMs);
  if (existing === null) throw new CloudStorageError(CloudStorageErrorCode.failed, `Cloud Storage refused to create ${uriOf(file)} as existing, but it is not there`, { retryable: true });
  return existing.equals(buffer) ? "same" : "different";
}

/**
 * Replaces `file` with `data`. The write is conditional on the generation
 * just read, so two writers never interleave a read and a write, and the
 * client may retry it safely; a writer that lost the race reads again.
 * (An unconditional write would also make the client turn its retries off
 * for every later call of the same Storage object.)
 */
export async function replaceObject(file: File, data: Uint8Array, options: { contentType: string; timeoutMs: number }): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const meta = await objectMetadata(file, options.timeoutMs);
    try {
      await uploadObject(file, data, { ...options, ifGenerationMatch: meta?.generation ?? 0 });
      return;
    } catch (err) {
      if (!(err instanceof CloudStorageError) || err.status !== 412 || attempt >= 5) throw err;
    }
  }
}

/** Names of every object under `prefix`, page by page (each page under its own deadline). */
export async function listObjectNames(storage: Storage, bucket: string, prefix: string, timeoutMs: number): Promise<string[]> {
  const names: string[] = [];
  let pageToken: string | undefined;
  do {
    const [files, next] = await underDeadline(`list gs://${bucket}/${prefix}`, timeoutMs, () =>
      storage.bucket(bucket).getFiles({ prefix, autoPaginate: false, ...(pageToken === undefined ? {} : { pageToken }) }),
    );
    for (const f of files) names.push(f.name);
    pageToken = (next as { pageToken?: string } | null | undefined)?.pageToken;
  } while (pageToken !== undefined);
  return names;
}
