/**
 * A small in-memory double of Service Control v1, served over real HTTP on
 * 127.0.0.1. No emulator exists for Service Control, so the usage meter is
 * tested against this with the real generated client (`@googleapis/servicecontrol`,
 * root URL overridden).
 *
 * It answers the two methods Governor calls, on the paths the generated
 * client builds from the discovery document:
 * - `POST /v1/services/{serviceName}:check` with a CheckRequest: a
 *   CheckResponse, with `checkErrors` for a consumer `refuse` names;
 * - `POST /v1/services/{serviceName}:report` with a ReportRequest: an empty
 *   ReportResponse. Like the service, it keeps each operation id once: a
 *   repeated id is accepted and not billed again (`billed` sums unique
 *   operations).
 *
 * Errors have the API's shape (`{error: {code, message, status}}`). A request
 * it does not know is answered 501 and recorded in `unknown`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/** One operation as the double read it. */
export interface RecordedOperation {
  readonly operationId: string;
  readonly operationName: string | null;
  readonly consumerId: string;
  readonly startTime: string | null;
  readonly endTime: string | null;
  /** metric name → int64 value (summed over the set's values). */
  readonly metrics: Readonly<Record<string, number>>;
  readonly labels: Readonly<Record<string, string>>;
}

export interface RecordedCall {
  readonly serviceName: string;
  readonly operations: readonly RecordedOperation[];
  /** The Authorization header, when one was sent. */
  readonly authorization: string | null;
}

export interface ServiceControlDouble {
  /** `http://127.0.0.1:PORT/`: the client's `rootUrl`. */
  readonly url: string;
  readonly checks: RecordedCall[];
  /** Every report call, accepted or repeated (answered with an error: not kept). */
  readonly reports: RecordedCall[];
  /** Requests the double does not implement. */
  readonly unknown: string[];
  /** When true, every connection is closed without an answer. */
  down: boolean;
  /** When true, every request is read and never answered (a hung endpoint). */
  hang: boolean;
  /** The next `n` requests (of `method` only, when given) are answered with `status`. */
  failNext(n: number, status: number, method?: "check" | "report"): void;
  /** From now on, checks of `consumerId` answer a check error with `code`. */
  refuse(consumerId: string, code: string, detail?: string): void;
  /** Sum of `metric` over the unique operations of `consumerId` accepted so far. */
  billed(consumerId: string, metric: string): number;
  /** Unique operations accepted, by operation id. */
  readonly accepted: ReadonlyMap<string, RecordedOperation>;
  close(): Promise<void>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8" });
  res.end(JSON.stringify(body));
}

const STATUS_NAMES: Record<number, string> = { 400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE" };

function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: { code: status, message, status: STATUS_NAMES[status] ?? "UNKNOWN" } });
}

const text = (v: unknown): string => (typeof v === "string" ? v : "");

function readOperation(raw: unknown): RecordedOperation {
  const o = (raw ?? {}) as Record<string, unknown>;
  const metrics: Record<string, number> = {};
  for (const set of (o["metricValueSets"] as { metricName?: string; metricValues?: { int64Value?: string }[] }[] | undefined) ?? []) {
    const name = set.metricName ?? "";
    metrics[name] = (metrics[name] ?? 0) + (set.metricValues ?? []).reduce((sum, v) => sum + Number(v.int64Value ?? 0), 0);
  }
  return {
    operationId: text(o["operationId"]),
    operationName: typeof o["operationName"] === "string" ? o["operationName"] : null,
    consumerId: text(o["consumerId"]),
    startTime: typeof o["startTime"] === "string" ? o["startTime"] : null,
    endTime: typeof o["endTime"] === "string" ? o["endTime"] : null,
    metrics,
    labels: (o["userLabels"] as Record<string, string> | undefined) ?? {},
  };
}

/** Starts the double on 127.0.0.1 and a port of the system's choosing. */
export async function startServiceControlDouble(): Promise<ServiceControlDouble> {
  const accepted = new Map<string, RecordedOperation>();
  const refused = new Map<string, { code: string; detail: string }>();
  let failures: { left: number; status: number; method: "check" | "report" | null } = { left: 0, status: 503, method: null };

  const double: ServiceControlDouble = {
    url: "",
    checks: [],
    reports: [],
    unknown: [],
    down: false,
    hang: false,
    failNext(n, status, method) {
      failures = { left: n, status, method: method ?? null };
    },
    refuse(consumerId, code, detail = "the consumer may not use this service") {
      refused.set(consumerId, { code, detail });
    },
    billed(consumerId, metric) {
      let sum = 0;
      for (const op of accepted.values()) if (op.consumerId === consumerId) sum += op.metrics[metric] ?? 0;
      return sum;
    },
    accepted,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const handle = (req: IncomingMessage, body: string, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://double");
    const m = /^\/v1\/services\/([^/:]+):(check|report)$/.exec(url.pathname);
    if (req.method !== "POST" || m === null) {
      double.unknown.push(`${req.method} ${req.url}`);
      return sendError(res, 501, `the test double does not implement ${req.method} ${url.pathname}`);
    }
    if (failures.left > 0 && (failures.method === null || failures.method === m[2])) {
      failures.left--;
      return sendError(res, failures.status, "failure injected by the test");
    }
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return sendError(res, 400, "the body is not JSON");
    }
    const serviceName = decodeURIComponent(m[1]!);
    const auth = req.headers.authorization ?? null;
    if (m[2] === "check") {
      const op = readOperation(parsed["operation"]);
      double.checks.push({ serviceName, operations: [op], authorization: auth });
      const refusal = refused.get(op.consumerId);
      return sendJson(res, 200, { operationId: op.operationId, ...(refusal === undefined ? {} : { checkErrors: [{ code: refusal.code, detail: refusal.detail }] }) });
    }
    const ops = ((parsed["operations"] as unknown[] | undefined) ?? []).map(readOperation);
    double.reports.push({ serviceName, operations: ops, authorization: auth });
    for (const op of ops) if (!accepted.has(op.operationId)) accepted.set(op.operationId, op);
    return sendJson(res, 200, {});
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => void chunks.push(c));
    req.on("end", () => {
      if (double.down) return void req.socket.destroy();
      if (double.hang) return;
      handle(req, Buffer.concat(chunks).toString("utf8"), res);
    });
    req.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (double as { url: string }).url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  return double;
}
