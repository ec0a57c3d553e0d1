/**
 * vitest global setup: the Google emulators for the whole run. If the
 * environment names them already (`.ci/run`, or a developer who ran
 * `eval "$(infra/emulators/start.sh)"`), they are used as they are;
 * otherwise they are started here (gcloud and Java are on every machine
 * here) and stopped when the run ends. Test workers inherit the variables.
 */
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");

export default function setup(): (() => void) | undefined {
  if (process.env["FIRESTORE_EMULATOR_HOST"] && process.env["PUBSUB_EMULATOR_HOST"]) return undefined;
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
