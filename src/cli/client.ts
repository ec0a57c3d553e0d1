/**
 * What the client commands share: where the service is, its credentials
 * (the data directory's credentials.json, or environment variables), and
 * one request function that turns API errors into one readable line.
 */
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Webhook } from "standardwebhooks";

export interface ClientConfig {
  readonly url: string;
  readonly tokens: Partial<Record<"admin" | "operator" | "auditor" | "gitops", string>>;
  readonly webhookSecret: string | undefined;
}

/** The service at GOVERNOR_URL (default http://127.0.0.1:$PORT), with tokens from the environment or `<data dir>/credentials.json`. */
export function clientConfig(env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const url = (env["GOVERNOR_URL"] ?? `http://127.0.0.1:${env["PORT"] ?? "8080"}`).replace(/\/$/, "");
  const file = join(resolve(env["GOVERNOR_DATA_DIR"] ?? "./.governor"), "credentials.json");
  let fromFile: { tokens?: Record<string, string>; webhook_secrets?: string[] } = {};
  if (existsSync(file)) {
    try {
      fromFile = JSON.parse(readFileSync(file, "utf8")) as typeof fromFile;
    } catch {
      throw new ClientError(`${file} is not valid JSON`);
    }
  }
  const tokens: ClientConfig["tokens"] = {};
  for (const scope of ["admin", "operator", "auditor", "gitops"] as const) {
    const v = env[`GOVERNOR_${scope.toUpperCase()}_TOKEN`] ?? fromFile.tokens?.[scope];
    if (v) tokens[scope] = v;
  }
  const webhookSecret = env["GOVERNOR_WEBHOOK_SECRETS"]?.split(",")[0]?.trim() ?? fromFile.webhook_secrets?.[0];
  return { url, tokens, webhookSecret };
}

/** A failure to report in one line (exit code 1 unless said otherwise). */
export class ClientError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "ClientError";
    this.exitCode = exitCode;
  }
}

export async function call(
  config: ClientConfig,
  method: string,
  path: string,
  options: { scope?: keyof ClientConfig["tokens"]; token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers["authorization"] = `Bearer ${options.token}`;
  else if (options.scope) {
    const token = config.tokens[options.scope] ?? config.tokens.admin;
    if (!token) throw new ClientError(`no ${options.scope} token: set GOVERNOR_${options.scope.toUpperCase()}_TOKEN or GOVERNOR_DATA_DIR`, 2);
    headers["authorization"] = `Bearer ${token}`;
  }
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    headers["content-type"] = "application/json";
  }
  let res: Response;
  try {
    res = await fetch(`${config.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  } catch (err) {
    throw new ClientError(`cannot reach Governor at ${config.url}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message} (is it running? set GOVERNOR_URL)`, 2);
  }
  return res;
}

/** Throws a ClientError with the API's code and message for a non-2xx answer. */
export async function expectOk(res: Response): Promise<Response> {
  if (res.ok) return res;
  let detail = `HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    if (body.error) detail = `${body.error.code}: ${body.error.message}`;
  } catch {
    // not JSON: keep the status line
  }
  throw new ClientError(detail);
}

/** Sends a marketplace event signed the Standard Webhooks way with the service's webhook secret. */
export async function sendMarketplaceEvent(config: ClientConfig, event: unknown): Promise<Response> {
  if (!config.webhookSecret) throw new ClientError("no webhook secret: set GOVERNOR_WEBHOOK_SECRETS or GOVERNOR_DATA_DIR", 2);
  const payload = JSON.stringify(event);
  const id = `msg_${randomUUID()}`;
  const now = new Date();
  const signature = new Webhook(config.webhookSecret).sign(id, now, payload);
  return call(config, "POST", "/v1/marketplace/events", {
    body: payload,
    headers: { "webhook-id": id, "webhook-timestamp": String(Math.floor(now.getTime() / 1000)), "webhook-signature": signature },
  });
}

/** Runs a client command body, printing ClientErrors as one line. */
export async function runClient(name: string, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return 0;
  } catch (err) {
    if (err instanceof ClientError) {
      process.stderr.write(`governor ${name}: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`governor ${name}: ${(err as Error).message}\n`);
    return 1;
  }
}
