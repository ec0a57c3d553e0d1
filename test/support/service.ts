/**
 * Runs the real service as a child process (`src/cli/main.ts serve`) on a
 * free port with its own data directory, and talks to it over HTTP. Webhooks
 * are signed with the `standardwebhooks` library, as a marketplace would.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { request as httpRequest } from "node:http";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Webhook } from "standardwebhooks";
import { SERVICE_NODE_FLAGS } from "../../src/cli/node-flags.ts";

export const repoRoot = resolve(import.meta.dirname, "../..");

/** Temporary directories made for services and tests; removed after the test file (or when the process exits). */
const scratchDirs = new Set<string>();
/** Services started and not yet exited: none outlives its test file, whatever the test forgot. */
const running = new Set<ChildProcess>();
const removeScratch = () => {
  for (const proc of running) proc.kill("SIGKILL");
  running.clear();
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
  scratchDirs.clear();
};
process.once("exit", removeScratch);
if (process.env["VITEST"]) {
  const { afterAll } = await import("vitest");
  afterAll(removeScratch);
}

/** A temporary directory that is removed when the test process exits. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratchDirs.add(dir);
  return dir;
}
export const cliPath = join(repoRoot, "src/cli/main.ts");

export interface ServiceCredentials {
  tokens: Record<"admin" | "operator" | "auditor" | "gitops", string>;
  webhook_secrets: string[];
}

export interface Service {
  readonly url: string;
  readonly dataDir: string;
  readonly proc: ChildProcess;
  readonly credentials: ServiceCredentials;
  /** Everything the service logged, one JSON line each. */
  readonly logs: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  request(method: string, path: string, options?: { token?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  /** Issues a token of the tenant (operator API, admin token) and resolves with it. */
  tenantToken(account: string): Promise<string>;
  /** Sends a marketplace event signed with the first webhook secret (or the one given). */
  webhook(event: unknown, options?: { id?: string; timestamp?: Date; secret?: string }): Promise<Response>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface StartOptions {
  readonly dataDir?: string;
  readonly policiesDir?: string;
  readonly env?: Record<string, string>;
  readonly args?: string[];
  /** Told each line the service logs as it comes, from its start on (before it listens). */
  readonly onLog?: (line: string) => void;
}

/** Starts the service and resolves once it listens. */
export async function startService(options: StartOptions = {}): Promise<Service> {
  const dataDir = options.dataDir ?? scratchDir("governor-e2e-");
  const addressFile = join(scratchDir("governor-addr-"), "address");
  const proc = spawn(process.execPath, [...SERVICE_NODE_FLAGS, cliPath, "serve", ...(options.args ?? [])], {
    cwd: repoRoot,
    env: {
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      GOVERNOR_DATA_DIR: dataDir,
      GOVERNOR_POLICIES_DIR: options.policiesDir ?? join(repoRoot, "policies"),
      LOG_LEVEL: "info",
      GOVERNOR_ADDRESS_FILE: addressFile,
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  running.add(proc);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    proc.once("exit", (code, signal) => {
      running.delete(proc);
      res({ code, signal });
    }),
  );
  const url = await new Promise<string>((res, rej) => {
    let buffer = "";
    const timer = setTimeout(() => {
      clearInterval(poll);
      rej(new Error(`service did not start in 20 s:\n${logs.slice(-20).join("\n")}`));
    }, 20_000);
    proc.stdout!.setEncoding("utf8");
    proc.stdout!.on("data", (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        logs.push(line);
        options.onLog?.(line);
      }
    });
    // The service writes its address once it listens.
    const poll = setInterval(() => {
      let text = "";
      try {
        text = readFileSync(addressFile, "utf8");
      } catch {
        return;
      }
      if (!text.endsWith("\n")) return;
      clearInterval(poll);
      clearTimeout(timer);
      res(text.trim());
    }, 20);
    void exited.then(() => clearInterval(poll));
    proc.stderr!.setEncoding("utf8");
    proc.stderr!.on("data", (chunk: string) => logs.push(...chunk.split("\n").filter(Boolean)));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      rej(new Error(`service exited (${code ?? signal}) before listening:\n${logs.slice(-30).join("\n")}`));
    });
  });
  const credentials = JSON.parse(readFileSync(join(dataDir, "credentials.json"), "utf8")) as ServiceCredentials;
  const service: Service = {
    url,
    dataDir,
    proc,
    credentials,
    logs,
    exited,
    request(method, path, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      const token = o.token === undefined ? credentials.tokens.admin : o.token;
      if (token !== null) headers["authorization"] = `Bearer ${token}`;
      let body: string | undefined;
      if (o.body !== undefined) {
        body = typeof o.body === "string" ? o.body : JSON.stringify(o.body);
        headers["content-type"] ??= "application/json";
      }
      return fetch(`${url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    },
    async tenantToken(account) {
      const res = await service.request("POST", `/v1/tenants/${encodeURIComponent(account)}/tokens`);
      if (res.status !== 201) throw new Error(`token for ${account}: HTTP ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    webhook(event, o = {}) {
      const payload = JSON.stringify(event);
      const id = o.id ?? `msg_${randomUUID()}`;
      const timestamp = o.timestamp ?? new Date();
      const signature = new Webhook(o.secret ?? credentials.webhook_secrets[0]!).sign(id, timestamp, payload);
      return fetch(`${url}/v1/marketplace/events`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "webhook-id": id,
          "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
          "webhook-signature": signature,
        },
        body: payload,
      });
    },
    async kill(signal = "SIGKILL") {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      await exited;
    },
  };
  return service;
}

/**
 * Sends a request that declares a body of `declaredBytes` in Content-Length
 * and writes only its first bytes: the server refuses an over-limit body from
 * the header alone. (Writing a body larger than the socket's buffers races
 * the server closing the connection after its 413: the client may see EPIPE
 * instead of the answer.)
 */
export function requestDeclaringLength(service: Service, method: string, path: string, options: { token: string; declaredBytes: number }): Promise<{ status: number; body: string }> {
  return new Promise((resolveAnswer, reject) => {
    const req = httpRequest(`${service.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${options.token}`, "content-type": "application/json", "content-length": String(options.declaredBytes) },
    });
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        resolveAnswer({ status: res.statusCode ?? 0, body });
        req.destroy();
      });
    });
    req.on("error", reject);
    req.write('{"sku_id":"');
  });
}

/**
 * The environment of a service on the gcp backend against the emulators and a
 * Cloud Storage double: its own Firestore collections (`prefix`), and
 * procurement events from `procurementTopic` when one is given.
 */
export function gcpServiceEnv(o: { projectId: string; prefix: string; storageUrl: string; procurementTopic?: string }): Record<string, string> {
  return {
    GOOGLE_CLOUD_PROJECT: o.projectId,
    GOVERNOR_ARCHIVE_BUCKET: "governor-archives",
    GOVERNOR_POLICY_BUCKET: "governor-policies",
    GOVERNOR_FIRESTORE_PREFIX: o.prefix,
    STORAGE_EMULATOR_HOST: o.storageUrl,
    ...(o.procurementTopic === undefined ? {} : { GOVERNOR_PROCUREMENT_TOPIC: o.procurementTopic, GOVERNOR_PROCUREMENT_SUBSCRIPTION: `${o.procurementTopic}.governor` }),
  };
}

/** A marketplace event body. */
export function entitlementEvent(type: string, account: string, overrides: { sku?: string; plan?: string; entitlementId?: string; eventId?: string } = {}) {
  return {
    eventId: overrides.eventId ?? `evt-${randomUUID()}`,
    eventType: type,
    entitlement: {
      id: overrides.entitlementId ?? `ent-${account}`,
      account_id: account,
      sku_id: overrides.sku ?? "demo",
      plan: overrides.plan ?? "starter",
      region: "europe-west1",
    },
  };
}

/** Reads a tenant's whole ledger through the auditor API. */
export async function readLedger(service: Service, account: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (;;) {
    const res = await service.request("GET", `/v1/tenants/${account}/receipts?from=${out.length}&limit=10000`, { token: service.credentials.tokens.auditor });
    if (res.status !== 200) throw new Error(`receipts: HTTP ${res.status} ${await res.text()}`);
    const lines = (await res.text()).split("\n").filter(Boolean);
    if (lines.length === 0) return out;
    out.push(...lines.map((l) => JSON.parse(l) as Record<string, unknown>));
  }
}

/** Polls until `check` returns true (bounded). */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Exports a ledger through the auditor API and verifies it offline with the CLI and the service's published keys; resolves with the CLI's exit code and output. */
export async function verifyExported(service: Service, account: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const archive = join(scratchDir("governor-verify-"), `${account}.tar.gz`);
  const res = await service.request("GET", `/v1/tenants/${account}/export`, { token: service.credentials.tokens.auditor });
  if (res.status !== 200) throw new Error(`export ${account}: HTTP ${res.status} ${await res.text()}`);
  writeFileSync(archive, Buffer.from(await res.arrayBuffer()));
  const keys = (await (await service.request("GET", "/.well-known/governor/keys", { token: null })).text()).trim().split("\n");
  return new Promise((resolveRun) => {
    execFile(process.execPath, [cliPath, "verify", archive, ...keys.flatMap((k) => ["--key", k])], (err, stdout, stderr) => {
      resolveRun({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
