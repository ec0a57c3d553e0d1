/**
 * Child process of the runtime bench: provisions N governors, lets them go
 * idle (parked by the host's sweeper, memory given back by the runtime's
 * reclaimer once it has been quiet) and prints its memory as JSON. It runs
 * under the service's V8 settings and collects nothing itself.
 */
import { createRig, provision } from "./runtime-rig.ts";

const QUIET_MS = 1000;
const [dir, count] = process.argv.slice(2);
const rig = await createRig(dir!, { idleAfterMs: 100, reclaimAfterMs: QUIET_MS });
await new Promise((r) => setTimeout(r, 3 * QUIET_MS)); // the start is work too: let it be reclaimed
const baselineRss = process.memoryUsage().rss;
const reclaimedBefore = rig.reclaims;
await provision(rig, Number(count));
await rig.writer.flush();
// Idle from here: parked after idleAfterMs, then one reclaim after a quiet QUIET_MS.
const until = Date.now() + 20 * QUIET_MS;
while (rig.reclaims === reclaimedBefore && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
// The store's thread keeps a quiet period of its own, from its last message; give it one more.
await new Promise((r) => setTimeout(r, QUIET_MS + 500));
const m = process.memoryUsage();
process.stdout.write(`${JSON.stringify({ baselineRss, rss: m.rss, heapUsed: m.heapUsed, reclaimed: rig.reclaims > reclaimedBefore })}\n`);
await rig.close();
