/**
 * A small in-memory double of Google's Partner Procurement API v1
 * (cloudcommerceprocurement), served over real HTTP on 127.0.0.1. No emulator
 * of it exists, so the adapter and the marketplace workflows are tested
 * against this with Google's generated client (its root URL pointed here).
 *
 * It answers the paths and methods of the API's discovery document (as the
 * generated client's v1.js carries them):
 * - `GET /v1/providers/{p}/accounts/{a}`, `GET /v1/providers/{p}/accounts`,
 *   `POST /v1/providers/{p}/accounts/{a}:approve|:reject|:reset`;
 * - `GET /v1/providers/{p}/entitlements/{e}`, `GET /v1/providers/{p}/entitlements`
 *   (`pageSize`, `pageToken`, and a `filter` of `key=value` terms),
 *   `POST /v1/providers/{p}/entitlements/{e}:approve|:reject|:approvePlanChange|:rejectPlanChange|:suspend`.
 *
 * With the state rules Google documents: an entitlement is approved or
 * rejected only in ENTITLEMENT_ACTIVATION_REQUESTED; a plan change is approved
 * or rejected only in ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL and only for the
 * plan pending. A call in the wrong state answers 400 FAILED_PRECONDITION.
 * Every change bumps the resource's `updateTime`, strictly later each time.
 *
 * Errors have Google's shape (`{error: {code, message, status}}`). A request
 * it does not know is answered 501 and recorded in `unknown`, so a test can
 * insist that the client sent nothing unexpected.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";

const ACTIVATION_REQUESTED = "ENTITLEMENT_ACTIVATION_REQUESTED";
const ACTIVE = "ENTITLEMENT_ACTIVE";
const CANCELLED = "ENTITLEMENT_CANCELLED";
const PENDING_PLAN_CHANGE = "ENTITLEMENT_PENDING_PLAN_CHANGE";
const PENDING_PLAN_CHANGE_APPROVAL = "ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL";
const SUSPENDED = "ENTITLEMENT_SUSPENDED";
const ACCOUNT_ACTIVATION_REQUESTED = "ACCOUNT_ACTIVATION_REQUESTED";
const ACCOUNT_ACTIVE = "ACCOUNT_ACTIVE";

/** The API's page size limit (and its default). */
const MAX_PAGE_SIZE = 200;
/** Request bodies larger than this are refused (the client sends a few hundred bytes). */
const MAX_BODY_BYTES = 1024 * 1024;

/** Google's status names for the HTTP statuses the API answers. */
const STATUS_NAMES: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  501: "UNIMPLEMENTED",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

/** One approval of an account. */
export interface DoubleApproval {
  readonly name: string;
  readonly state: string;
  readonly reason?: string;
  readonly updateTime?: string;
}

/** An account as the double holds it. */
export interface DoubleAccount {
  readonly id: string;
  readonly state: string;
  readonly approvals: readonly DoubleApproval[];
  readonly createTime: string;
  readonly updateTime: string;
}

/** An entitlement as the double holds it; `account` is the account's id. Null fields are left out of answers, as the API leaves them out. */
export interface DoubleEntitlement {
  readonly id: string;
  readonly account: string;
  /** The product's id (`product`). */
  readonly product: string;
  /** `productExternalName`; null leaves it out (then the product's id is all a reader has). */
  readonly productExternalName: string | null;
  readonly plan: string;
  readonly state: string;
  readonly newPendingPlan: string | null;
  readonly usageReportingId: string | null;
  readonly newOfferStartTime: string | null;
  readonly newOfferEndTime: string | null;
  readonly inputProperties: Readonly<Record<string, unknown>> | null;
  readonly cancellationReason: string | null;
  /** What the provider said to the customer (a rejection's reason). */
  readonly messageToUser: string | null;
  /** The state `approve` moves it to, instead of the double's `approveTo`. */
  readonly approveTo: string | null;
  readonly createTime: string;
  readonly updateTime: string;
}

/** What a test gives to create or replace an entitlement; the rest defaults to absent. */
export type EntitlementInput = Pick<DoubleEntitlement, "id" | "account" | "product" | "plan" | "state"> & Partial<Omit<DoubleEntitlement, "id" | "account" | "product" | "plan" | "state">>;

/** One request the double received for a method it implements. */
export interface DoubleCall {
  /** The method's last word in the discovery document: `get`, `list`, `approve`, `reject`, `reset`, `approvePlanChange`, `rejectPlanChange`, `suspend`. */
  readonly method: string;
  readonly resource: "accounts" | "entitlements";
  /** The resource's full name (`providers/P/entitlements/E`), or the parent's for `list`. */
  readonly name: string;
  /** The JSON body, or null (a GET). */
  readonly body: unknown;
  readonly query: Readonly<Record<string, string>>;
  readonly headers: IncomingHttpHeaders;
  /** The HTTP status it was answered with; null while unanswered (hung). */
  status: number | null;
}

/** The JSON of one Pub/Sub message of the Marketplace's procurement topic. */
export interface ProcurementNotification {
  readonly eventId: string;
  readonly eventType: string;
  readonly providerId: string;
  readonly entitlement?: { readonly id: string; readonly updateTime: string; readonly newPlan?: string; readonly newOfferStartTime?: string };
  readonly account?: { readonly id: string; readonly updateTime: string };
}

export interface ProcurementDoubleOptions {
  /** The provider the double serves (default `demo-provider`); other providers' paths answer 403. */
  readonly providerId?: string;
  /** Milliseconds since the epoch, for `updateTime` (default: the wall clock); times are made strictly increasing. */
  readonly now?: () => number;
}

/** A running double: its address, its state for tests to set and look at, its faults to switch on. */
export interface ProcurementDouble {
  /** `http://127.0.0.1:PORT`: the client's `rootUrl`. */
  readonly url: string;
  readonly providerId: string;
  /** Every request for a method the double implements, reads too, in order (faulted ones included). */
  readonly calls: DoubleCall[];
  /** Requests the double does not implement, as `METHOD /path?query`. */
  readonly unknown: string[];
  /** When true, every request is answered 503 UNAVAILABLE. */
  down: boolean;
  /** When true, every request is read and never answered. */
  hang: boolean;
  /** The state `approve` moves an entitlement to (default ENTITLEMENT_ACTIVE). */
  approveTo: string;
  /** The next `n` requests (of `method` only, e.g. `approve`, when given) are answered `status` with Google's error body. */
  failNext(n: number, status: number, method?: string): void;
  /** The next request is answered `status` (default 200) with `body` as JSON, whatever it asked. */
  answerNext(body: unknown, status?: number): void;
  putAccount(input: { id: string; state?: string; approvals?: readonly DoubleApproval[] }): DoubleAccount;
  account(id: string): DoubleAccount | undefined;
  /** The account's approvals (empty when there is no such account). */
  approvals(accountId: string): readonly DoubleApproval[];
  putEntitlement(input: EntitlementInput): DoubleEntitlement;
  entitlement(id: string): DoubleEntitlement | undefined;
  /** Moves an entitlement to `state` (with `patch` applied); its `updateTime` is bumped unless the patch sets one. */
  setState(id: string, state: string, patch?: Partial<Omit<DoubleEntitlement, "id">>): DoubleEntitlement;
  /** Google's side of an approved plan change: ENTITLEMENT_ACTIVE on the pending plan. */
  completePlanChange(id: string): DoubleEntitlement;
  deleteEntitlement(id: string): void;
  /** Google's Pub/Sub message for an event on a resource, with a fresh eventId and the resource's current updateTime. */
  notification(eventType: string, about: { entitlement?: { id: string; newPlan?: string; newOfferStartTime?: string }; account?: { id: string } }): ProcurementNotification;
  close(): Promise<void>;
}

/** Raised inside a handler: answered with Google's error body. */
class ApiError extends Error {
  readonly code: number;
  readonly status: string;
  constructor(code: number, status: string, message: string) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const notFound = (name: string) => new ApiError(404, "NOT_FOUND", `Requested entity was not found: ${name}`);
const precondition = (message: string) => new ApiError(400, "FAILED_PRECONDITION", message);
const invalid = (message: string) => new ApiError(400, "INVALID_ARGUMENT", message);

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8" });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, code: number, status: string, message: string): void {
  sendJson(res, code, { error: { code, message, status } });
}

/** Leaves out what is null, as the API's JSON leaves out unset fields. */
function present(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== null && v !== undefined));
}

/** The string fields of a JSON body. */
function stringField(body: unknown, field: string): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const v = (body as Record<string, unknown>)[field];
  return typeof v === "string" ? v : undefined;
}

const FILTER_FIELDS: Record<string, (e: DoubleEntitlement) => string | null> = {
  account: (e) => e.account,
  product_external_name: (e) => e.productExternalName ?? e.product,
  plan: (e) => e.plan,
  new_pending_plan: (e) => e.newPendingPlan,
  newPendingPlan: (e) => e.newPendingPlan,
  state: (e) => e.state,
};

/** A `filter` of `key=value` terms joined by spaces or AND, or null when it uses what the double does not know. */
function parseFilter(filter: string): ((e: DoubleEntitlement) => boolean) | null {
  const terms = filter.split(/\s+(?:AND\s+)?/).filter((t) => t !== "" && t !== "AND");
  const checks: ((e: DoubleEntitlement) => boolean)[] = [];
  for (const term of terms) {
    const m = /^([A-Za-z_]+)=(.+)$/.exec(term);
    const read = m === null ? undefined : FILTER_FIELDS[m[1]!];
    if (m === null || read === undefined) return null;
    const value = m[2]!.replace(/^"(.*)"$/, "$1");
    checks.push((e) => read(e) === value);
  }
  return (e) => checks.every((c) => c(e));
}

/** Starts the double on 127.0.0.1 and a port of the system's choosing. */
export async function startProcurementDouble(options: ProcurementDoubleOptions = {}): Promise<ProcurementDouble> {
  const providerId = options.providerId ?? "demo-provider";
  const provider = `providers/${providerId}`;
  const accounts = new Map<string, DoubleAccount>();
  const entitlements = new Map<string, DoubleEntitlement>();
  /** When each deleted entitlement went, for its ENTITLEMENT_DELETED notification. */
  const deletedAt = new Map<string, string>();
  const failures: { status: number; method: string | undefined }[] = [];
  const answers: { body: unknown; status: number }[] = [];
  const wall = options.now ?? Date.now;
  let lastTime = 0;
  const tick = (): string => {
    lastTime = Math.max(wall(), lastTime + 1);
    return new Date(lastTime).toISOString();
  };

  const accountName = (id: string) => `${provider}/accounts/${id}`;
  const entitlementName = (id: string) => `${provider}/entitlements/${id}`;

  const accountJson = (a: DoubleAccount) => ({
    name: accountName(a.id),
    provider: providerId,
    state: a.state,
    approvals: a.approvals.map((x) => present({ name: x.name, state: x.state, reason: x.reason, updateTime: x.updateTime })),
    createTime: a.createTime,
    updateTime: a.updateTime,
  });
  const entitlementJson = (e: DoubleEntitlement) =>
    present({
      name: entitlementName(e.id),
      provider: providerId,
      account: accountName(e.account),
      product: e.product,
      productExternalName: e.productExternalName,
      plan: e.plan,
      state: e.state,
      newPendingPlan: e.newPendingPlan,
      usageReportingId: e.usageReportingId,
      newOfferStartTime: e.newOfferStartTime,
      newOfferEndTime: e.newOfferEndTime,
      inputProperties: e.inputProperties,
      cancellationReason: e.cancellationReason,
      messageToUser: e.messageToUser,
      createTime: e.createTime,
      updateTime: e.updateTime,
    });

  const mustEntitlement = (id: string): DoubleEntitlement => {
    const e = entitlements.get(id);
    if (e === undefined) throw new Error(`the double holds no entitlement ${id}`);
    return e;
  };
  const updateEntitlement = (id: string, patch: Partial<Omit<DoubleEntitlement, "id">>): DoubleEntitlement => {
    const next: DoubleEntitlement = { ...mustEntitlement(id), updateTime: tick(), ...patch };
    entitlements.set(id, next);
    return next;
  };
  const updateAccount = (id: string, patch: Partial<Omit<DoubleAccount, "id">>): DoubleAccount => {
    const a = accounts.get(id);
    if (a === undefined) throw notFound(accountName(id));
    const next: DoubleAccount = { ...a, updateTime: tick(), ...patch };
    accounts.set(id, next);
    return next;
  };
  const withApproval = (a: DoubleAccount, approval: DoubleApproval): DoubleApproval[] => [...a.approvals.filter((x) => x.name !== approval.name), approval];

  const listPage = <T>(items: T[], keyOf: (item: T) => string, q: URLSearchParams): { page: T[]; nextPageToken?: string } => {
    const asked = Number(q.get("pageSize") ?? MAX_PAGE_SIZE);
    const size = Number.isInteger(asked) && asked > 0 ? Math.min(asked, MAX_PAGE_SIZE) : MAX_PAGE_SIZE;
    const token = q.get("pageToken");
    const after = token === null || token === "" ? null : Buffer.from(token, "base64url").toString("utf8");
    const sorted = items.filter((i) => after === null || keyOf(i) > after).sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));
    const page = sorted.slice(0, size);
    const last = page.at(-1);
    return { page, ...(sorted.length > size && last !== undefined ? { nextPageToken: Buffer.from(keyOf(last), "utf8").toString("base64url") } : {}) };
  };

  /** Answers one implemented method; throws ApiError for Google's refusals. */
  const answer = (call: DoubleCall, id: string | null, q: URLSearchParams): unknown => {
    const { method, resource, body } = call;
    if (resource === "accounts") {
      if (id === null) {
        const { page, nextPageToken } = listPage([...accounts.values()], (a) => a.id, q);
        return present({ accounts: page.map(accountJson), nextPageToken });
      }
      const a = accounts.get(id);
      if (a === undefined) throw notFound(call.name);
      if (method === "get") return accountJson(a);
      if (method === "reset") {
        for (const e of entitlements.values()) if (e.account === id && e.state !== CANCELLED) updateEntitlement(e.id, { state: CANCELLED });
        updateAccount(id, { state: ACCOUNT_ACTIVATION_REQUESTED, approvals: a.approvals.map((x) => ({ name: x.name, state: "PENDING", updateTime: tick() })) });
        return {};
      }
      const approvalName = stringField(body, "approvalName");
      if (approvalName === undefined || approvalName === "") throw invalid("approval_name is required");
      const reason = stringField(body, "reason");
      const approval = { name: approvalName, state: method === "approve" ? "APPROVED" : "REJECTED", ...(reason === undefined ? {} : { reason }), updateTime: tick() };
      updateAccount(id, { approvals: withApproval(a, approval), ...(method === "approve" ? { state: ACCOUNT_ACTIVE } : {}) });
      return {};
    }
    if (id === null) {
      const filter = q.get("filter");
      const keep = filter === null || filter === "" ? () => true : parseFilter(filter);
      if (keep === null) throw new ApiError(501, "UNIMPLEMENTED", `the test double does not implement the filter ${filter}`);
      const { page, nextPageToken } = listPage([...entitlements.values()].filter(keep), (e) => e.id, q);
      return present({ entitlements: page.map(entitlementJson), nextPageToken });
    }
    const e = entitlements.get(id);
    if (e === undefined) throw notFound(call.name);
    const inState = (state: string) => {
      if (e.state !== state) throw precondition(`Entitlement ${call.name} is in state ${e.state}, not ${state}`);
    };
    const pendingPlan = () => {
      const plan = stringField(body, "pendingPlanName");
      if (plan === undefined || plan === "") throw invalid("pending_plan_name is required");
      if (plan !== e.newPendingPlan) throw precondition(`Entitlement ${call.name} has pending plan ${e.newPendingPlan ?? "(none)"}, not ${plan}`);
    };
    switch (method) {
      case "get":
        return entitlementJson(e);
      case "approve":
        inState(ACTIVATION_REQUESTED);
        updateEntitlement(id, { state: e.approveTo ?? double.approveTo });
        return {};
      case "reject":
        inState(ACTIVATION_REQUESTED);
        updateEntitlement(id, { state: CANCELLED, messageToUser: stringField(body, "reason") ?? null });
        return {};
      case "approvePlanChange":
        inState(PENDING_PLAN_CHANGE_APPROVAL);
        pendingPlan();
        updateEntitlement(id, { state: PENDING_PLAN_CHANGE });
        return {};
      case "rejectPlanChange":
        inState(PENDING_PLAN_CHANGE_APPROVAL);
        pendingPlan();
        updateEntitlement(id, { state: ACTIVE, newPendingPlan: null, messageToUser: stringField(body, "reason") ?? null });
        return {};
      case "suspend":
        inState(ACTIVE);
        updateEntitlement(id, { state: SUSPENDED });
        return {};
    }
    throw new ApiError(501, "UNIMPLEMENTED", `the test double does not implement ${method}`);
  };

  const ACCOUNT_VERBS = new Set(["approve", "reject", "reset"]);
  const ENTITLEMENT_VERBS = new Set(["approve", "reject", "approvePlanChange", "rejectPlanChange", "suspend"]);

  /** The implemented method a request asks for, or null. */
  const route = (httpMethod: string, path: string): { resource: "accounts" | "entitlements"; method: string; provider: string; id: string | null } | null => {
    const m = /^\/v1\/providers\/([^/]+)\/(accounts|entitlements)(?:\/([^/:]+)(?::([A-Za-z]+))?)?$/.exec(path);
    if (m === null) return null;
    const resource = m[2] as "accounts" | "entitlements";
    const id = m[3] === undefined ? null : decodeURIComponent(m[3]);
    const verb = m[4];
    const forProvider = decodeURIComponent(m[1]!);
    if (httpMethod === "GET" && verb === undefined) return { resource, method: id === null ? "list" : "get", provider: forProvider, id };
    const verbs = resource === "accounts" ? ACCOUNT_VERBS : ENTITLEMENT_VERBS;
    if (httpMethod === "POST" && id !== null && verb !== undefined && verbs.has(verb)) return { resource, method: verb, provider: forProvider, id };
    return null;
  };

  const handle = (req: IncomingMessage, raw: Buffer, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://double");
    const r = route(req.method ?? "", url.pathname);
    if (r === null) {
      double.unknown.push(`${req.method} ${req.url}`);
      return sendError(res, 501, "UNIMPLEMENTED", `the test double does not implement ${req.method} ${url.pathname}`);
    }
    let body: unknown = null;
    let badBody = false;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        badBody = true;
      }
    }
    const name = r.id === null ? `providers/${r.provider}` : `providers/${r.provider}/${r.resource}/${r.id}`;
    const call: DoubleCall = { method: r.method, resource: r.resource, name, body, query: Object.fromEntries(url.searchParams), headers: req.headers, status: null };
    double.calls.push(call);
    const reply = (status: number, json: unknown) => {
      call.status = status;
      sendJson(res, status, json);
    };
    const refuse = (code: number, status: string, message: string) => reply(code, { error: { code, message, status } });
    if (double.hang) return;
    if (double.down) return refuse(503, "UNAVAILABLE", "The service is currently unavailable.");
    const at = failures.findIndex((f) => f.method === undefined || f.method === r.method);
    const failure = at >= 0 ? failures.splice(at, 1)[0]!.status : undefined;
    if (failure !== undefined) return refuse(failure, STATUS_NAMES[failure] ?? "UNKNOWN", `injected failure ${failure}`);
    const canned = answers.shift();
    if (canned !== undefined) return reply(canned.status, canned.body);
    if (badBody) return refuse(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
    if (r.provider !== providerId) return refuse(403, "PERMISSION_DENIED", "The caller does not have permission");
    try {
      return reply(200, answer(call, r.id, url.searchParams));
    } catch (err) {
      if (err instanceof ApiError) return refuse(err.code, err.status, err.message);
      throw err;
    }
  };

  const double: ProcurementDouble = {
    url: "",
    providerId,
    calls: [],
    unknown: [],
    down: false,
    hang: false,
    approveTo: ACTIVE,
    failNext(n, status, method) {
      for (let i = 0; i < n; i++) failures.push({ status, method });
    },
    answerNext(body, status = 200) {
      answers.push({ body, status });
    },
    putAccount(input) {
      const now = tick();
      const account: DoubleAccount = {
        id: input.id,
        state: input.state ?? ACCOUNT_ACTIVATION_REQUESTED,
        approvals: (input.approvals ?? [{ name: "signup", state: "PENDING" }]).map((x) => ({ updateTime: now, ...x })),
        createTime: accounts.get(input.id)?.createTime ?? now,
        updateTime: now,
      };
      accounts.set(input.id, account);
      return account;
    },
    account: (id) => accounts.get(id),
    approvals: (accountId) => accounts.get(accountId)?.approvals ?? [],
    putEntitlement(input) {
      const now = tick();
      const entitlement: DoubleEntitlement = {
        productExternalName: input.product,
        newPendingPlan: null,
        usageReportingId: null,
        newOfferStartTime: null,
        newOfferEndTime: null,
        inputProperties: null,
        cancellationReason: null,
        messageToUser: null,
        approveTo: null,
        createTime: entitlements.get(input.id)?.createTime ?? now,
        updateTime: now,
        ...input,
      };
      entitlements.set(input.id, entitlement);
      deletedAt.delete(input.id);
      return entitlement;
    },
    entitlement: (id) => entitlements.get(id),
    setState: (id, state, patch = {}) => updateEntitlement(id, { ...patch, state }),
    completePlanChange(id) {
      const e = mustEntitlement(id);
      if (e.newPendingPlan === null) throw new Error(`entitlement ${id} has no pending plan`);
      return updateEntitlement(id, { state: ACTIVE, plan: e.newPendingPlan, newPendingPlan: null });
    },
    deleteEntitlement(id) {
      if (entitlements.delete(id)) deletedAt.set(id, tick());
    },
    notification(eventType, about) {
      const base = { eventId: randomUUID(), eventType, providerId };
      if (about.entitlement !== undefined) {
        const { id, newPlan, newOfferStartTime } = about.entitlement;
        const updateTime = entitlements.get(id)?.updateTime ?? deletedAt.get(id) ?? tick();
        return { ...base, entitlement: { id, updateTime, ...(newPlan === undefined ? {} : { newPlan }), ...(newOfferStartTime === undefined ? {} : { newOfferStartTime }) } };
      }
      if (about.account !== undefined) {
        const { id } = about.account;
        return { ...base, account: { id, updateTime: accounts.get(id)?.updateTime ?? tick() } };
      }
      throw new Error("a notification is about an entitlement or an account");
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on("end", () => {
      if (size > MAX_BODY_BYTES) return sendError(res, 413, "INVALID_ARGUMENT", "Request payload size exceeds the limit.");
      handle(req, Buffer.concat(chunks), res);
    });
    req.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (double as { url: string }).url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return double;
}
