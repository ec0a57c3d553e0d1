/**
 * The embedded data directory belongs to one service process at a time. A
 * second `governor serve` on it, started while the first is under load,
 * leaves at once with exit code 1 and a message naming the directory and
 * the holder's pid; the first does not notice. Every accepted signal ends
 * exactly once, every ledger verifies, and a clean restart on the directory
 * works. Every file the service made there is its user's alone (0600, 0700).
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LOCK_FILE, PID_FILE } from "../../src/adapters/embedded/data-dir-lock.ts";
import { SERVICE_NODE_FLAGS } from "../../src/cli/node-flags.ts";
import type { LedgerId } from "../../src/ledger/receipt.ts";
import { FileSpool } from "../../src/log/spool.ts";
import { chain } from "../contract/ledger-store.ts";
import { endsAction } from "../support/ends.ts";
import { cliPath, entitlementEvent, eventually, readLedger, repoRoot, scratchDir, startService, verifyExported, type Service } from "../support/service.ts";

const services: Service[] = [];
afterAll(async () => {
  for (const s of services) await s.kill();
});

/**
 * `governor serve` on a directory, run to its exit (or until it listens,
 * which it must not): its exit code (null if it listened) and everything it wrote.
 */
function serveUntilExit(dataDir: string): { pid: number; exited: Promise<{ code: number | null; output: string }>; kill(): void } {
  const proc = spawn(process.execPath, [...SERVICE_NODE_FLAGS, cliPath, "serve"], {
    cwd: repoRoot,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", GOVERNOR_DATA_DIR: dataDir, GOVERNOR_POLICIES_DIR: join(repoRoot, "policies"), LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let listened: () => void = () => {};
  const onData = (d: string) => {
    output += d;
    if (output.includes("Server listening")) listened();
  };
  proc.stdout.setEncoding("utf8").on("data", onData);
  proc.stderr.setEncoding("utf8").on("data", onData);
  return {
    pid: proc.pid!,
    exited: new Promise((resolve) => {
      listened = () => resolve({ code: null, output });
      proc.once("exit", (code) => resolve({ code, output }));
    }),
    kill: () => proc.kill("SIGKILL"),
  };
}

/** Every file and directory under `dir`, with its permission bits. */
function modes(dir: string): { path: string; dir: boolean; mode: number }[] {
  const out: { path: string; dir: boolean; mode: number }[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    out.push({ path, dir: entry.isDirectory(), mode: statSync(path).mode & 0o777 });
    if (entry.isDirectory()) out.push(...modes(path));
  }
  return out;
}

describe("one service process per embedded data directory", () => {
  it("refuses a second process at once, naming the directory and the holder's pid, while the first serves on undisturbed", async () => {
    const dataDir = scratchDir("governor-one-dir-");
    const first = await startService({ dataDir });
    services.push(first);
    const tenants = ["dir-a", "dir-b"];
    for (const t of tenants) expect((await first.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", t, { plan: "bench" }))).status).toBe(201);

    // Load: signals to both tenants, 16 under way at a time, until told to stop.
    const accepted = new Map<string, Set<string>>(tenants.map((t) => [t, new Set<string>()]));
    const refused: string[] = [];
    let sent = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        await Promise.all(
          Array.from({ length: 16 }, async () => {
            const n = sent++;
            const tenant = tenants[n % tenants.length]!;
            const id = `load-${n}`;
            const res = await first.request("POST", `/v1/tenants/${tenant}/signals`, { body: { signal_id: id, action: "noop", params: {} } });
            if (res.status === 202) accepted.get(tenant)!.add(id);
            else refused.push(`${id}: ${res.status} ${await res.text()}`);
          }),
        );
      }
    })();
    const acceptedCount = () => [...accepted.values()].reduce((n, s) => n + s.size, 0);
    await eventually(() => acceptedCount() >= 200 || refused.length > 0, "the first process to take signals");

    const second = serveUntilExit(dataDir);
    let result;
    try {
      result = await second.exited;
    } finally {
      second.kill();
    }
    const acceptedAtRefusal = acceptedCount();
    expect(result.code).toBe(1);
    expect(result.output).toContain(dataDir);
    expect(result.output).toContain(`pid ${first.proc.pid}`);
    expect(result.output).toContain("GOVERNOR_DATA_DIR_LOCKED");
    expect(result.output).not.toContain("Server listening");

    // The first goes on taking signals after the attempt.
    await eventually(() => acceptedCount() >= acceptedAtRefusal + 200 || refused.length > 0, "more signals after the refusal");
    stop = true;
    await load;
    expect(refused).toEqual([]);
    // It noticed nothing: no error in its log.
    expect(first.logs.filter((l) => /"level":(50|60)/.test(l))).toEqual([]);

    const ends = async (service: Service, tenant: string) => {
      const ledger = await readLedger(service, tenant);
      const ended = new Map<string, number>();
      for (const r of ledger) if (endsAction(r)) ended.set(String(r["signal_id"]), (ended.get(String(r["signal_id"])) ?? 0) + 1);
      return { ledger, ended };
    };
    for (const t of tenants) {
      const ids = accepted.get(t)!;
      await eventually(
        async () => {
          const { ended } = await ends(first, t);
          return [...ids].every((id) => ended.has(id));
        },
        `every accepted signal of ${t} to end`,
        60_000,
      );
      const { ledger, ended } = await ends(first, t);
      expect([...ids].filter((id) => ended.get(id) !== 1)).toEqual([]);
      expect(ledger.map((r) => r["seq"])).toEqual(ledger.map((_, i) => i));
      expect((await verifyExported(first, t)).code).toBe(0);
    }
    expect((await verifyExported(first, "_platform")).code).toBe(0);

    // A client command that reads the directory's credentials is not held by the lock.
    const exported = join(scratchDir("governor-client-"), "dir-a.tar.gz");
    const client = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile(process.execPath, [cliPath, "export", "dir-a", "-o", exported], { env: { ...process.env, GOVERNOR_DATA_DIR: dataDir, GOVERNOR_URL: first.url } }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
      ),
    );
    expect(client).toMatchObject({ code: 0 });
    expect(existsSync(exported)).toBe(true);

    // A decommission, so that archives and the export's scratch files exist too.
    expect((await first.webhook(entitlementEvent("ENTITLEMENT_ACTIVE", "dir-c"))).status).toBe(201);
    expect((await first.webhook(entitlementEvent("ENTITLEMENT_CANCELLED", "dir-c"))).status).toBe(200);

    // A clean stop gives the directory up; a new process takes it and goes on where the first stopped.
    const before = await Promise.all(tenants.map((t) => readLedger(first, t)));
    await first.kill("SIGTERM");
    expect((await first.exited).code).toBe(0);
    expect(existsSync(join(dataDir, PID_FILE))).toBe(false);
    const again = await startService({ dataDir });
    services.push(again);
    for (const [i, t] of tenants.entries()) {
      expect((await readLedger(again, t)).slice(0, before[i]!.length)).toEqual(before[i]);
      expect((await again.request("POST", `/v1/tenants/${t}/signals`, { body: { signal_id: "after-restart", action: "noop", params: {} } })).status).toBe(202);
      expect((await verifyExported(again, t)).code).toBe(0);
    }

    // Modes: every file the service made in the directory is 0600, every directory 0700.
    const made = modes(dataDir);
    const names = made.map((m) => m.path.slice(dataDir.length + 1));
    for (const expected of ["ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm", "credentials.json", LOCK_FILE, PID_FILE, "archives", "policy-registry"]) expect(names).toContain(expected);
    expect(made.filter((m) => m.mode !== (m.dir ? 0o700 : 0o600)).map((m) => `${m.path} ${m.mode.toString(8)}`)).toEqual([]);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
  }, 240_000);

  it("creates the safe-mode spool 0600 in a 0700 directory, whatever the process's umask", async () => {
    const dir = scratchDir("governor-spool-mode-");
    const spool = new FileSpool(join(dir, "spool", "receipts.jsonl"));
    const [r] = chain("spooled", 1);
    await spool.append([{ ledger: "spooled" as LedgerId, receipt: r! }]);
    await spool.close();
    expect(statSync(join(dir, "spool")).mode & 0o777).toBe(0o700);
    expect(statSync(spool.path).mode & 0o777).toBe(0o600);
  });
});
