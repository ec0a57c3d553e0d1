/**
 * Child process of the runtime bench: provisions N idle governors and prints
 * its memory as JSON (run with --expose-gc so the figure is after a collection).
 */
import { createRig, provision } from "./runtime-rig.ts";

const [dir, count] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const rig = await createRig(dir!, { idleAfterMs: 100 });
gc();
const baselineRss = process.memoryUsage().rss;
await provision(rig, Number(count));
await rig.writer.flush();
// Idle governors are parked after idleAfterMs: give the sweeper time to do it.
await new Promise((r) => setTimeout(r, 500));
gc();
await new Promise((r) => setTimeout(r, 500));
gc();
const m = process.memoryUsage();
process.stdout.write(`${JSON.stringify({ baselineRss, rss: m.rss, heapUsed: m.heapUsed })}\n`);
await rig.close();
