/**
 * Workflow 3: a scale decision until it is applied (the new concurrency in
 * force and its `governor_scaled` receipt durable), on the embedded store,
 * with 1,000 other tenants provisioned beside it.
 */
import { atMost, median, percentile, type BenchOptions, type Figure } from "./harness.ts";
import { createRig, provision, tenant } from "./runtime-rig.ts";

export async function run(options: BenchOptions): Promise<Figure[]> {
  const rig = await createRig(options.scratch, { idleAfterMs: 3_600_000 });
  await provision(rig, options.quick ? 100 : 1000);
  const account = tenant(0);
  const times: number[] = [];
  const n = options.quick ? 100 : 1000;
  for (let i = 0; i < n; i++) {
    // Provisioned at 1,024 slots: up one, back down, and so on; every request changes something.
    const target = i % 2 === 0 ? 1025 : 1024;
    const t0 = performance.now();
    const { receipt } = await rig.host.scale(account, target, "operator");
    times.push(performance.now() - t0);
    if (receipt?.operation !== "governor_scaled") throw new Error(`scale ${i}: ${receipt?.operation ?? "nothing"}`);
  }
  await rig.close();
  return [
    atMost(`scale decision to applied (governor_scaled durable, concurrency in force), median of ${n}`, median(times), "ms", 10, "< 10 ms (SLI 100 ms)"),
    atMost(`scale decision to applied, p99 of ${n}`, percentile(times, 99), "ms", 10, "< 10 ms (SLI 100 ms)"),
  ];
}
