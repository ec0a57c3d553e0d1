/**
 * A small in-memory double of the Cloud Storage JSON API, served over real
 * HTTP on 127.0.0.1. No Cloud Storage emulator exists on these machines, so
 * the storage adapters are tested against this with the real
 * @google-cloud/storage client.
 *
 * It answers the requests that client sends for what Governor does, as they
 * were logged from it (`requests` keeps them):
 * - `POST /upload/storage/v1/b/{bucket}/o?uploadType=multipart|media&name=…`
 *   with `ifGenerationMatch` (objects up to the resumable threshold);
 * - `POST /upload/storage/v1/b/{bucket}/o?uploadType=resumable&name=…`
 *   (the session: 200 and a `Location`), then `PUT` on that location with a
 *   `Content-Range` of bytes sent, or of none (a status query, answered 308
 *   with the `Range` received), the precondition checked at the session's
 *   start and again when the object is finalized;
 * - `GET /storage/v1/b/{bucket}/o/{name}?alt=media` (with `x-goog-hash`, which
 *   the client checks), `GET /storage/v1/b/{bucket}/o/{name}` (metadata),
 *   `GET /storage/v1/b/{bucket}/o?prefix=&pageToken=` (pages of `pageSize`),
 *   `DELETE /storage/v1/b/{bucket}/o/{name}`.
 *
 * Errors have the JSON API's shape (`{error: {code, message, errors: [{reason}]}}`):
 * 404 `notFound`, 412 `conditionNotMet`, 400 `invalid`. A request it does
 * not know is answered 501 and recorded in `unknown`, so a test can insist
 * that the client sent nothing unexpected.
 */
import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/** One stored object. */
export interface StoredObject {
  readonly data: Buffer;
  readonly generation: number;
  readonly contentType: string;
  readonly updated: string;
}

/** How the double behaves where the service may differ. */
export interface GcsDoubleOptions {
  /** The buckets that exist; others answer 404. Without it every bucket exists. */
  readonly buckets?: readonly string[];
  /** Objects per page of a listing (the service's default is 1000). */
  readonly pageSize?: number;
}

/** A running double: its address, its state for tests to look at, its faults to switch on. */
export interface GcsDouble {
  /** `http://127.0.0.1:PORT`: the client's `apiEndpoint` or STORAGE_EMULATOR_HOST. */
  readonly url: string;
  /** bucket → object name → object. */
  readonly buckets: Map<string, Map<string, StoredObject>>;
  /** Every request received, as `METHOD /path?query` (plus ` range=…` when it had a Content-Range). */
  readonly requests: string[];
  /** Requests the double does not implement. */
  readonly unknown: string[];
  /** When true, every request is read and never answered (a hung endpoint). */
  hang: boolean;
  /** The next resumable upload request loses its connection once it has sent this many bytes (the bytes received are kept, as the service keeps them). */
  cutNextResumableAt: number | null;
  /** The next download sends its bytes with one of them changed (and the stored object's hashes). */
  corruptNextDownload: boolean;
  close(): Promise<void>;
}

/** CRC32C (Castagnoli), base64 of the big-endian value, as the JSON API reports it. */
function crc32c(buf: Buffer): string {
  let crc = 0xffffffff;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out.toString("base64");
}

const md5 = (buf: Buffer) => createHash("md5").update(buf).digest("base64");

function metadata(bucket: string, name: string, o: StoredObject) {
  return {
    kind: "storage#object",
    id: `${bucket}/${name}/${o.generation}`,
    name,
    bucket,
    generation: String(o.generation),
    metageneration: "1",
    contentType: o.contentType,
    size: String(o.data.length),
    md5Hash: md5(o.data),
    crc32c: crc32c(o.data),
    updated: o.updated,
    timeCreated: o.updated,
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, status: number, reason: string, message: string): void {
  sendJson(res, status, { error: { code: status, message, errors: [{ message, domain: "global", reason }] } });
}

const preconditionFailed = (res: ServerResponse) => sendError(res, 412, "conditionNotMet", "At least one of the pre-conditions you specified did not hold.");

/** Splits a multipart/related body into its parts' bodies. */
function multipartParts(body: Buffer, contentType: string): Buffer[] {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (boundary === undefined) return [];
  const parts: Buffer[] = [];
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === "--") break;
    const next = body.indexOf(delimiter, start);
    if (next === -1) break;
    const part = body.subarray(start, next);
    const headerEnd = part.indexOf("\r\n\r\n");
    // The part's content ends before the CRLF that precedes the next delimiter.
    const content = part.subarray(headerEnd + 4, part.length - 2);
    parts.push(Buffer.from(content));
    at = next;
  }
  return parts;
}

interface Session {
  readonly bucket: string;
  readonly name: string;
  readonly contentType: string;
  readonly ifGenerationMatch: string | null;
  readonly chunks: Buffer[];
  received: number;
  done: StoredObject | null;
}

/** Starts the double on 127.0.0.1 and a port of the system's choosing. */
export async function startGcsDouble(options: GcsDoubleOptions = {}): Promise<GcsDouble> {
  const buckets = new Map<string, Map<string, StoredObject>>();
  for (const name of options.buckets ?? []) buckets.set(name, new Map());
  const pageSize = options.pageSize ?? 1000;
  const sessions = new Map<string, Session>();
  let generation = 1;

  const bucketOf = (name: string): Map<string, StoredObject> | undefined => {
    let b = buckets.get(name);
    if (b === undefined && options.buckets === undefined) {
      b = new Map();
      buckets.set(name, b);
    }
    return b;
  };
  const noBucket = (res: ServerResponse) => sendError(res, 404, "notFound", "The specified bucket does not exist.");
  const holds = (bucket: Map<string, StoredObject>, name: string, ifGen: string | null) => ifGen === null || String(bucket.get(name)?.generation ?? 0) === ifGen;
  const store = (bucket: Map<string, StoredObject>, name: string, data: Buffer, contentType: string): StoredObject => {
    const o: StoredObject = { data, generation: generation++, contentType, updated: new Date().toISOString() };
    bucket.set(name, o);
    return o;
  };

  const double: GcsDouble = {
    url: "",
    buckets,
    requests: [],
    unknown: [],
    hang: false,
    cutNextResumableAt: null,
    corruptNextDownload: false,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const simpleUpload = (req: IncomingMessage, body: Buffer, res: ServerResponse, bucketName: string, q: URLSearchParams) => {
    const bucket = bucketOf(bucketName);
    if (bucket === undefined) return noBucket(res);
    let name = q.get("name");
    let data = body;
    let contentType = req.headers["content-type"] ?? "application/octet-stream";
    if (q.get("uploadType") === "multipart") {
      const [meta, media] = multipartParts(body, contentType);
      if (meta === undefined || media === undefined) return sendError(res, 400, "invalid", "Multipart upload needs a metadata part and a media part.");
      const parsed = JSON.parse(meta.toString("utf8")) as { name?: string; contentType?: string; md5Hash?: string; crc32c?: string };
      name = parsed.name ?? name;
      contentType = parsed.contentType ?? "application/octet-stream";
      data = media;
      if (parsed.md5Hash !== undefined && parsed.md5Hash !== md5(data)) return sendError(res, 400, "invalid", "Provided MD5 hash doesn't match calculated MD5 hash.");
      if (parsed.crc32c !== undefined && parsed.crc32c !== crc32c(data)) return sendError(res, 400, "invalid", "Provided CRC32C doesn't match calculated CRC32C.");
    }
    if (name === null || name === "") return sendError(res, 400, "required", "Required parameter: name");
    if (!holds(bucket, name, q.get("ifGenerationMatch"))) return preconditionFailed(res);
    return sendJson(res, 200, metadata(bucketName, name, store(bucket, name, data, contentType)));
  };

  const startSession = (req: IncomingMessage, body: Buffer, res: ServerResponse, bucketName: string, q: URLSearchParams) => {
    const bucket = bucketOf(bucketName);
    if (bucket === undefined) return noBucket(res);
    const meta = body.length > 0 ? (JSON.parse(body.toString("utf8")) as { name?: string; contentType?: string }) : {};
    const name = q.get("name") ?? meta.name ?? null;
    if (name === null || name === "") return sendError(res, 400, "required", "Required parameter: name");
    const ifGen = q.get("ifGenerationMatch");
    if (!holds(bucket, name, ifGen)) return preconditionFailed(res);
    const header = req.headers["x-upload-content-type"];
    const id = randomUUID();
    sessions.set(id, { bucket: bucketName, name, contentType: (typeof header === "string" ? header : meta.contentType) ?? "application/octet-stream", ifGenerationMatch: ifGen, chunks: [], received: 0, done: null });
    res.writeHead(200, { location: `${double.url}/upload/storage/v1/b/${encodeURIComponent(bucketName)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`, "content-length": "0" });
    return res.end();
  };

  const incomplete = (res: ServerResponse, s: Session) => {
    res.writeHead(308, s.received > 0 ? { range: `bytes=0-${s.received - 1}`, "content-length": "0" } : { "content-length": "0" });
    res.end();
  };

  const finalize = (res: ServerResponse, s: Session) => {
    const bucket = bucketOf(s.bucket);
    if (bucket === undefined) return noBucket(res);
    if (s.done === null) {
      if (!holds(bucket, s.name, s.ifGenerationMatch)) return preconditionFailed(res);
      s.done = store(bucket, s.name, Buffer.concat(s.chunks), s.contentType);
    }
    return sendJson(res, 200, metadata(s.bucket, s.name, s.done));
  };

  /** A chunk of a resumable upload; its bytes were already appended as they arrived. */
  const resumableChunk = (req: IncomingMessage, res: ServerResponse, s: Session) => {
    const range = req.headers["content-range"];
    if (range === undefined) return finalize(res, s);
    const status = /^bytes \*\/(\d+|\*)$/.exec(range);
    if (status) return s.done !== null ? sendJson(res, 200, metadata(s.bucket, s.name, s.done)) : incomplete(res, s);
    const m = /^bytes (\d+)-(\d+|\*)\/(\d+|\*)$/.exec(range);
    if (m === null) return sendError(res, 400, "invalid", `Bad Content-Range: ${range}`);
    const total = m[3] === "*" ? null : Number(m[3]);
    if ((total !== null && s.received === total) || (total === null && m[2] === "*")) return finalize(res, s);
    return incomplete(res, s);
  };

  const download = (res: ServerResponse, o: StoredObject) => {
    let data = o.data;
    if (double.corruptNextDownload && data.length > 0) {
      double.corruptNextDownload = false;
      data = Buffer.from(data);
      data[data.length >> 1] = (data[data.length >> 1] ?? 0) ^ 0xff;
    }
    res.writeHead(200, {
      "content-type": o.contentType,
      "content-length": String(data.length),
      "x-goog-hash": `crc32c=${crc32c(o.data)},md5=${md5(o.data)}`,
      "x-goog-generation": String(o.generation),
      "x-goog-stored-content-encoding": "identity",
    });
    res.end(data);
  };

  const list = (res: ServerResponse, bucketName: string, q: URLSearchParams) => {
    const bucket = bucketOf(bucketName);
    if (bucket === undefined) return noBucket(res);
    const prefix = q.get("prefix") ?? "";
    const after = q.get("pageToken") === null ? null : Buffer.from(q.get("pageToken")!, "base64url").toString("utf8");
    const max = Math.min(Number(q.get("maxResults") ?? pageSize) || pageSize, pageSize);
    const names = [...bucket.keys()].filter((n) => n.startsWith(prefix) && (after === null || n > after)).sort();
    const page = names.slice(0, max);
    const last = page.at(-1);
    return sendJson(res, 200, {
      kind: "storage#objects",
      ...(names.length > max && last !== undefined ? { nextPageToken: Buffer.from(last, "utf8").toString("base64url") } : {}),
      items: page.map((n) => metadata(bucketName, n, bucket.get(n)!)),
    });
  };

  const handle = (req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://double");
    const path = url.pathname;
    const q = url.searchParams;
    let m: RegExpExecArray | null;
    if ((m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path))) {
      const bucketName = decodeURIComponent(m[1]!);
      const uploadType = q.get("uploadType");
      if (req.method === "POST" && (uploadType === "multipart" || uploadType === "media")) return simpleUpload(req, body, res, bucketName, q);
      if (req.method === "POST" && uploadType === "resumable") return startSession(req, body, res, bucketName, q);
      const session = sessions.get(q.get("upload_id") ?? "");
      if (req.method === "PUT" && uploadType === "resumable" && session !== undefined) return resumableChunk(req, res, session);
      if (req.method === "PUT" && uploadType === "resumable") return sendError(res, 404, "notFound", "No such upload session.");
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path))) {
      const bucketName = decodeURIComponent(m[1]!);
      const name = decodeURIComponent(m[2]!);
      const bucket = bucketOf(bucketName);
      if (bucket === undefined) return noBucket(res);
      const o = bucket.get(name);
      if (req.method === "GET" || req.method === "DELETE") {
        if (o === undefined) return sendError(res, 404, "notFound", `No such object: ${bucketName}/${name}`);
        if (req.method === "DELETE") {
          bucket.delete(name);
          res.writeHead(204);
          return res.end();
        }
        if (q.get("alt") === "media") return download(res, o);
        return sendJson(res, 200, metadata(bucketName, name, o));
      }
    }
    if (req.method === "GET" && (m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(path))) return list(res, decodeURIComponent(m[1]!), q);
    double.unknown.push(`${req.method} ${req.url}`);
    return sendError(res, 501, "notImplemented", `the test double does not implement ${req.method} ${path}`);
  };

  const server: Server = createServer((req, res) => {
    const range = req.headers["content-range"];
    double.requests.push(`${req.method} ${req.url}${range === undefined ? "" : ` range=${range}`}`);
    const url = new URL(req.url ?? "/", "http://double");
    const session = req.method === "PUT" ? sessions.get(url.searchParams.get("upload_id") ?? "") : undefined;
    const chunks: Buffer[] = [];
    let cutAt = session !== undefined ? double.cutNextResumableAt : null;
    if (cutAt !== null) double.cutNextResumableAt = null;
    req.on("data", (c: Buffer) => {
      if (session === undefined) return void chunks.push(c);
      // A resumable upload's bytes are kept as they arrive, so a cut connection loses none that arrived.
      let chunk = c;
      if (cutAt !== null && chunk.length >= cutAt) {
        chunk = chunk.subarray(0, cutAt);
        session.chunks.push(Buffer.from(chunk));
        session.received += chunk.length;
        cutAt = null;
        req.socket.destroy();
        return;
      }
      if (cutAt !== null) cutAt -= chunk.length;
      session.chunks.push(Buffer.from(chunk));
      session.received += chunk.length;
    });
    req.on("end", () => {
      if (double.hang) return;
      handle(req, Buffer.concat(chunks), res);
    });
    req.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (double as { url: string }).url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return double;
}
