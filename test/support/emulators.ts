/**
 * Where the Google emulators are: `npm test` starts them (test/support/
 * emulators-setup.ts) unless the environment already names them, as `.ci/run`
 * and `eval "$(infra/emulators/start.sh)"` do. A test that needs one and
 * finds none fails and says how to start them; it never skips.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const HOW = 'start them with `eval "$(infra/emulators/start.sh)"`, or run `npm test`, which starts them';

export function requireFirestoreEmulator(): { host: string; projectId: string } {
  const host = process.env["FIRESTORE_EMULATOR_HOST"];
  if (!host) throw new Error(`FIRESTORE_EMULATOR_HOST is not set: this test runs against the Firestore emulator; ${HOW}`);
  return { host, projectId: process.env["GOOGLE_CLOUD_PROJECT"] ?? "governor-test" };
}

export function requirePubSubEmulator(): { host: string; projectId: string } {
  const host = process.env["PUBSUB_EMULATOR_HOST"];
  if (!host) throw new Error(`PUBSUB_EMULATOR_HOST is not set: this test runs against the Pub/Sub emulator; ${HOW}`);
  return { host, projectId: process.env["GOOGLE_CLOUD_PROJECT"] ?? "governor-test" };
}

const repoRoot = resolve(import.meta.dirname, "../..");

/** The process listening on a TCP port (the emulator's Java process, under gcloud), from /proc. */
export function listeningPid(port: number): number | null {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is HOST:PORT; state 0A is LISTEN; column 9 is the socket's inode.
      if (cols[1]?.endsWith(`:${hex}`) && cols[3] === "0A" && cols[9]) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return null;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link = "";
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode !== undefined && inodes.has(inode)) return Number(pid);
    }
  }
  return null;
}

/**
 * A Firestore emulator of its own, for a test that breaks it (SIGSTOP):
 * `pid` is the Java process that listens, the one to stop and continue.
 */
export async function startPrivateFirestoreEmulator(): Promise<{ host: string; pid: number; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "governor-private-emulator-"));
  // A port fixed for the shared emulators (FIRESTORE_PORT) is theirs: this one takes a free port.
  const { FIRESTORE_PORT: _shared, ...inherited } = process.env;
  const env = { ...inherited, GOVERNOR_EMULATOR_DIR: dir };
  const out = await new Promise<string>((res, rej) => {
    const child = spawn(join(repoRoot, "infra/emulators/start.sh"), ["--firestore-only"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("exit", (code) => (code === 0 ? res(stdout) : rej(new Error(`start.sh failed (${code}): ${stderr}`))));
  });
  const stopAll = async () => {
    await new Promise<void>((res) => spawn(join(repoRoot, "infra/emulators/stop.sh"), [dir], { stdio: "ignore" }).once("exit", () => res()));
    rmSync(dir, { recursive: true, force: true });
  };
  const host = /FIRESTORE_EMULATOR_HOST='([^']+)'/.exec(out)?.[1];
  const pid = host === undefined ? null : listeningPid(Number(host.split(":")[1]));
  if (host === undefined || pid === null) {
    await stopAll();
    throw new Error(`the private Firestore emulator did not come up listening: ${out}`);
  }
  return {
    host,
    pid,
    async stop() {
      try {
        process.kill(pid, "SIGCONT");
      } catch {
        // already gone
      }
      await stopAll();
    },
  };
}
