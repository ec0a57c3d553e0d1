/**
 * A small in-memory double of the Cloud Storage JSON API: no Cloud Storage
 * emulator exists on these machines, so the storage adapters are tested
 * against this, over real HTTP, with the real @google-cloud/storage client.
 * It answers the requests that client sends for what Governor does (simple
 * and multipart uploads with `ifGenerationMatch`, downloads, metadata,
 * listing by prefix, deletes), with the JSON API's error shapes (404, 412).
 * A request it does not know is answered 501 and recorded in `unknown`.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

interface StoredObject {
  readonly data: Buffer;
  readonly generation: number;
  readonly contentType: string;
  readonly updated: string;
}

export interface GcsDouble {
  /** `http://127.0.0.1:PORT`: the client's `apiEndpoint`. */
  readonly url: string;
  readonly buckets: Map<string, Map<string, StoredObject>>;
  readonly unknown: string[];
  /** When true, every request hangs (a hung endpoint). */
  hang: boolean;
  close(): Promise<void>;
}

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
    md5Hash: createHash("md5").update(o.data).digest("base64"),
    crc32c: crc32c(o.data),
    updated: o.updated,
    timeCreated: o.updated,
  };
}

function sendError(res: ServerResponse, status: number, reason: string, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { code: status, message, errors: [{ domain: "global", reason, message }] } }));
}

/** Splits a multipart/related body into its parts' bodies. */
function multipartParts(body: Buffer, contentType: string): Buffer[] {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (boundary === undefined) return [];
  const text = body.toString("latin1");
  return text
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((part) => {
      const start = part.indexOf("\r\n\r\n");
      const content = part.slice(start + 4, part.endsWith("\r\n") ? -2 : undefined);
      return Buffer.from(content, "latin1");
    });
}

export async function startGcsDouble(): Promise<GcsDouble> {
  const buckets = new Map<string, Map<string, StoredObject>>();
  const unknown: string[] = [];
  let generation = 1;
  const bucketOf = (name: string) => {
    let b = buckets.get(name);
    if (b === undefined) {
      b = new Map();
      buckets.set(name, b);
    }
    return b;
  };
  const double: GcsDouble = {
    url: "",
    buckets,
    unknown,
    hang: false,
    close: () => new Promise((r) => server.close(() => r())),
  };

  const handle = (req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://double");
    // The client sends JSON API paths under /storage/v1 with `apiEndpoint`, and without it with STORAGE_EMULATOR_HOST.
    const path = url.pathname.startsWith("/b/") ? `/storage/v1${url.pathname}` : url.pathname;
    const q = url.searchParams;
    let m: RegExpExecArray | null;
    if (req.method === "POST" && (m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path))) {
      const bucket = bucketOf(decodeURIComponent(m[1]!));
      let name = q.get("name");
      let data = body;
      let contentType = req.headers["content-type"] ?? "application/octet-stream";
      if (q.get("uploadType") === "multipart") {
        const [meta, media] = multipartParts(body, contentType);
        const parsed = JSON.parse(meta?.toString("utf8") ?? "{}") as { name?: string; contentType?: string };
        name = parsed.name ?? name;
        contentType = parsed.contentType ?? "application/octet-stream";
        data = media ?? Buffer.alloc(0);
      }
      if (name === null) return sendError(res, 400, "required", "Required parameter: name");
      const ifGen = q.get("ifGenerationMatch");
      const existing = bucket.get(name);
      if (ifGen !== null && String(existing?.generation ?? 0) !== ifGen) return sendError(res, 412, "conditionNotMet", "At least one of the pre-conditions you specified did not hold.");
      const stored: StoredObject = { data, generation: generation++, contentType, updated: new Date().toISOString() };
      bucket.set(name, stored);
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify(metadata(m[1]!, name, stored)));
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path))) {
      const bucketName = decodeURIComponent(m[1]!);
      const name = decodeURIComponent(m[2]!);
      const o = bucketOf(bucketName).get(name);
      if (req.method === "DELETE") {
        if (o === undefined) return sendError(res, 404, "notFound", `No such object: ${bucketName}/${name}`);
        bucketOf(bucketName).delete(name);
        res.writeHead(204);
        return res.end();
      }
      if (req.method === "GET") {
        if (o === undefined) return sendError(res, 404, "notFound", `No such object: ${bucketName}/${name}`);
        if (q.get("alt") === "media") {
          res.writeHead(200, {
            "content-type": o.contentType,
            "content-length": String(o.data.length),
            "x-goog-hash": `crc32c=${crc32c(o.data)},md5=${createHash("md5").update(o.data).digest("base64")}`,
            "x-goog-generation": String(o.generation),
            "x-goog-stored-content-encoding": "identity",
          });
          return res.end(o.data);
        }
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify(metadata(bucketName, name, o)));
      }
    }
    if (req.method === "GET" && (m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(path))) {
      const bucketName = decodeURIComponent(m[1]!);
      const prefix = q.get("prefix") ?? "";
      const items = [...bucketOf(bucketName)].filter(([n]) => n.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1));
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ kind: "storage#objects", items: items.map(([n, o]) => metadata(bucketName, n, o)) }));
    }
    unknown.push(`${req.method} ${req.url}`);
    return sendError(res, 501, "notImplemented", `the test double does not implement ${req.method} ${path}`);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (double.hang) return;
      handle(req, Buffer.concat(chunks), res);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  (double as { url: string }).url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return double;
}
