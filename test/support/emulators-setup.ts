/**
 * vitest global setup: the Google emulators for the whole run. If the
 * environment names them already (`.ci/run`, or a developer who ran
 * `eval "$(infra/emulators/start.sh)"`), they are used as they are, once
 * they answer; otherwise they are started here (gcloud and Java are on every
 * machine here) and stopped when the run ends. Test workers (pool "forks")
 * inherit the variables set here: they are forked after this runs.
 */
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");

/** Fails the run at once, and says why, when a named emulator does not answer (a stale `export` from a stopped one). */
async function mustAnswer(name: string, variable: string, url: string): Promise<void> {
  const failure = await fetch(url, { signal: AbortSignal.timeout(3000) }).then(
    (res) => (res.ok ? null : `answered ${res.status}`),
    (err: unknown) => (err instanceof Error ? err.message : String(err)),
  );
  if (failure !== null) {
    throw new Error(
      `the ${name} emulator named by ${variable}=${process.env[variable]} does not answer (${url}: ${failure}); ` +
        "start it again with `eval \"$(infra/emulators/start.sh)\"`, or unset FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST and `npm test` starts its own",
    );
  }
}

export default async function setup(): Promise<(() => void) | undefined> {
  const firestore = process.env["FIRESTORE_EMULATOR_HOST"];
  const pubsub = process.env["PUBSUB_EMULATOR_HOST"];
  if (firestore && pubsub) {
    const project = process.env["GOOGLE_CLOUD_PROJECT"] ?? "governor-test";
    await Promise.all([
      mustAnswer("Firestore", "FIRESTORE_EMULATOR_HOST", `http://${firestore}/`),
      mustAnswer("Pub/Sub", "PUBSUB_EMULATOR_HOST", `http://${pubsub}/v1/projects/${project}/topics`),
    ]);
    return undefined;
  }
  const started = Date.now();
  const out = execFileSync(resolve(root, "infra/emulators/start.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  for (const line of out.split("\n")) {
    const m = /^export ([A-Z_]+)='([^']*)'$/.exec(line.trim());
    if (m) process.env[m[1]!] = m[2]!;
  }
  process.stderr.write(`emulators ready in ${Date.now() - started} ms\n`);
  const dir = process.env["GOVERNOR_EMULATOR_DIR"]!;
  return () => {
    execFileSync(resolve(root, "infra/emulators/stop.sh"), [dir], { stdio: "inherit" });
  };
}
