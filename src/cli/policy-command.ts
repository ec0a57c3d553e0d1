/** `governor policy validate|diff|push <path>`: the GitOps side of policies. */
import { hostname, userInfo } from "node:os";
import { stat } from "node:fs/promises";
import { parseArgs } from "node:util";
import type { FieldChange, PolicyDiff } from "../policy/compat.ts";
import { validatePolicy } from "../policy/rollout.ts";
import { listPolicyFiles, readPolicyJson } from "./policy-files.ts";
import type { PolicyIssue } from "../policy/schema.ts";
import { builtinHandlers } from "../app/handlers.ts";
import { call, ClientError, clientConfig, runClient } from "./client.ts";

export const summary = "validate, diff or push policy documents (GitOps)";

const usage = `usage:
  governor policy validate <file|dir> [--handler NAME]...   check schema and meaning, offline
  governor policy diff <file|dir> [--json]                   what would change, for how many running tenants
  governor policy push <file|dir> [--force] [--new-sku] [--actor NAME]
                                                             push to the service (a gitops token)
A directory means every *.json file in it. The service is at GOVERNOR_URL (default http://127.0.0.1:8080);
the gitops token comes from GOVERNOR_GITOPS_TOKEN or GOVERNOR_DATA_DIR/credentials.json.
Exit codes: 0 ok, 1 refused (invalid, incompatible), 2 unusable (no such file, service unreachable).`;

export async function run(argv: string[]): Promise<number> {
  let failed = false;
  const code = await runClient("policy", async () => {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          force: { type: "boolean" },
          "new-sku": { type: "boolean" },
          json: { type: "boolean" },
          actor: { type: "string" },
          handler: { type: "string", multiple: true },
          help: { type: "boolean" },
        },
      });
    } catch (err) {
      throw new ClientError(`${(err as Error).message}\n${usage}`, 2);
    }
    if (parsed.values.help) {
      process.stdout.write(`${usage}\n`);
      return;
    }
    const [verb, path] = parsed.positionals;
    if (verb === undefined || path === undefined) throw new ClientError(usage, 2);
    const files = await filesOf(path);
    const v = parsed.values;
    for (const file of files) {
      const read = await readPolicyJson(file);
      if ("issues" in read) {
        // Not JSON at all: nothing the service could take; say where it breaks.
        printIssues(file, read.issues);
        failed = true;
        continue;
      }
      switch (verb) {
        case "validate": {
          const result = validatePolicy(read.json, [...builtinHandlers.keys(), ...(v.handler ?? [])]);
          if (result.ok) {
            const p = result.policy;
            process.stdout.write(`${file}: ok: ${p.sku_id}@${p.policy_version} (${count(Object.keys(p.plans).length, "plan")}, ${count(Object.keys(p.actions).length, "action")})\n`);
            printWarnings(file, result.warnings);
          } else {
            printIssues(file, result.issues);
            failed = true;
          }
          break;
        }
        case "diff":
          failed = !(await diff(file, read.json, v.json === true)) || failed;
          break;
        case "push":
          failed = !(await push(file, read.json, { force: v.force === true, newSku: v["new-sku"] === true, actor: v.actor })) || failed;
          break;
        default:
          throw new ClientError(`unknown verb "${verb}"\n${usage}`, 2);
      }
    }
  });
  return code === 0 && failed ? 1 : code;
}

async function filesOf(path: string): Promise<string[]> {
  const s = await stat(path).catch(() => null);
  if (s === null) throw new ClientError(`${path}: no such file or directory`, 2);
  if (!s.isDirectory()) return [path];
  const files = await listPolicyFiles(path);
  if (files.length === 0) throw new ClientError(`${path}: no *.json policy files in this directory`, 2);
  return files;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** Warnings do not fail a command: they say what a valid policy will do that may not be meant. */
function printWarnings(file: string, warnings: readonly PolicyIssue[] | undefined): void {
  for (const w of warnings ?? []) process.stderr.write(`${file}: warning: ${w.path}: ${w.message}\n`);
}

function printIssues(file: string, issues: readonly PolicyIssue[]): void {
  process.stderr.write(`${file}: invalid (${count(issues.length, "problem")}):\n`);
  for (const i of issues) process.stderr.write(`  ${i.path}: ${i.message}\n`);
}

interface ErrorBody {
  error?: { code?: string; message?: string; issues?: PolicyIssue[]; reasons?: string[] };
  receipt?: { ledger: string; seq: number };
}

async function refused(file: string, res: Response): Promise<false> {
  const body = (await res.json().catch(() => ({}))) as ErrorBody;
  const e = body.error ?? {};
  const where = body.receipt ? ` (receipt ${body.receipt.ledger}#${body.receipt.seq})` : "";
  if (e.issues) {
    process.stderr.write(`${file}: refused, ${e.code}${where}:\n`);
    for (const i of e.issues) process.stderr.write(`  ${i.path}: ${i.message}\n`);
  } else if (e.reasons) {
    process.stderr.write(`${file}: not applied, ${e.code}${where}:\n`);
    for (const r of e.reasons) process.stderr.write(`  - ${r}\n`);
    if (e.code === "POLICY_INCOMPATIBLE") process.stderr.write("  nothing changed; fix the policy, or push with --force to apply it anyway (an escalation receipt records who forced it)\n");
  } else {
    throw new ClientError(`${file}: ${e.code ?? `HTTP ${res.status}`}: ${e.message ?? "refused"}`, res.status === 401 || res.status === 403 ? 2 : 1);
  }
  return false;
}

async function diff(file: string, json: unknown, asJson: boolean): Promise<boolean> {
  const res = await call(clientConfig(), "POST", "/v1/policies?dry_run=true&new_sku=true", { scope: "gitops", body: json });
  if (!res.ok) return refused(file, res);
  const body = (await res.json()) as { compatible: boolean; reasons: string[]; diff: PolicyDiff; compat_check_ms: number; warnings?: PolicyIssue[] };
  printWarnings(file, body.warnings);
  if (asJson) {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return body.compatible;
  }
  process.stdout.write(renderDiff(file, body.diff));
  if (body.compatible) process.stdout.write("compatible: it can be pushed\n");
  else {
    process.stdout.write("INCOMPATIBLE: a push is refused unless forced:\n");
    for (const r of body.reasons) process.stdout.write(`  - ${r}\n`);
  }
  return body.compatible;
}

const show = (v: unknown) => (v === undefined ? "(none)" : JSON.stringify(v));
const changeLines = (changes: readonly FieldChange[]) => changes.map((c) => `      ${c.path}: ${show(c.before)} -> ${show(c.after)}\n`).join("");

/** A diff as an operator reads it. */
export function renderDiff(file: string, d: PolicyDiff): string {
  let out = `${file}: ${d.sku_id} ${d.from_version ?? "(new SKU)"} -> ${d.to_version}\n`;
  const section = (title: string, s: PolicyDiff["plans"], tenantsOf?: (name: string) => number) => {
    if (s.added.length + s.removed.length + Object.keys(s.changed).length === 0) return;
    out += `  ${title}:\n`;
    for (const n of s.added) out += `    + ${n}\n`;
    for (const n of s.removed) out += `    - ${n}${tenantsOf ? ` (${count(tenantsOf(n), "tenant")} on it)` : ""}\n`;
    for (const [n, c] of Object.entries(s.changed)) out += `    ~ ${n}${tenantsOf ? ` (${count(tenantsOf(n), "tenant")} on it)` : ""}\n${changeLines(c)}`;
  };
  section("plans", d.plans, (n) => d.tenants_by_plan[n] ?? 0);
  section("actions", d.actions);
  if (d.other.length > 0) out += `  other:\n${changeLines(d.other).replace(/^ {6}/gm, "    ")}`;
  if (d.plans.added.length + d.plans.removed.length + Object.keys(d.plans.changed).length + d.actions.added.length + d.actions.removed.length + Object.keys(d.actions.changed).length + d.other.length === 0) {
    out += "  no change in plans, actions or settings\n";
  }
  out += `  running tenants: ${d.tenants_total}; affected: ${d.tenants_affected}\n`;
  return out;
}

function defaultActor(): string {
  const fromEnv = process.env["GOVERNOR_ACTOR"];
  if (fromEnv) return fromEnv;
  let user = "unknown";
  try {
    user = userInfo().username;
  } catch {
    // no user entry (a container): keep "unknown"
  }
  return `${user}@${hostname()}`.replace(/[^A-Za-z0-9 ._@:/+-]/g, "_").slice(0, 128);
}

async function push(file: string, json: unknown, o: { force: boolean; newSku: boolean; actor: string | undefined }): Promise<boolean> {
  const query = [o.force ? "force=true" : "", o.newSku ? "new_sku=true" : ""].filter(Boolean).join("&");
  const res = await call(clientConfig(), "POST", `/v1/policies${query ? `?${query}` : ""}`, {
    scope: "gitops",
    body: json,
    headers: { "x-governor-actor": o.actor ?? defaultActor() },
  });
  if (!res.ok) return refused(file, res);
  const body = (await res.json()) as {
    status: string;
    sku_id: string;
    policy_version: string;
    previous_version?: string | null;
    forced?: boolean;
    reasons_overridden?: string[];
    governors?: { upgraded: number; rolled_back: number };
    broadcast_ms?: number;
    warnings?: PolicyIssue[];
  };
  printWarnings(file, body.warnings);
  if (body.status === "unchanged") {
    process.stdout.write(`${file}: unchanged: ${body.sku_id}@${body.policy_version} is already current\n`);
    return true;
  }
  const g = body.governors ?? { upgraded: 0, rolled_back: 0 };
  process.stdout.write(
    `${file}: applied ${body.sku_id} ${body.previous_version ?? "(new SKU)"} -> ${body.policy_version}${body.forced ? " (FORCED)" : ""}: ` +
      `${count(g.upgraded, "governor")} upgraded, ${g.rolled_back} kept the previous version (${Math.round(body.broadcast_ms ?? 0)} ms)\n`,
  );
  for (const r of body.reasons_overridden ?? []) process.stdout.write(`  overridden: ${r}\n`);
  return true;
}
