/**
 * Workflow 2 at scale: a compatible policy version broadcast to 10,000
 * running governors on the embedded store, until every `policy_upgraded`
 * receipt is durable; and the compatibility check over those tenants.
 */
import { join } from "node:path";
import { pino } from "pino";
import { createDirectoryPolicyRegistry } from "../src/adapters/embedded/fs-policy-registry.ts";
import { PLATFORM_LEDGER, type LedgerId } from "../src/ledger/receipt.ts";
import { PolicyRollout } from "../src/policy/rollout.ts";
import { atMost, median, type BenchOptions, type Figure } from "./harness.ts";
import { benchPolicy, createRig, provision } from "./runtime-rig.ts";

export async function run(options: BenchOptions): Promise<Figure[]> {
  const tenants = options.quick ? 1000 : 10_000;
  const rig = await createRig(options.scratch, { idleAfterMs: 3_600_000 });
  rig.writer.open(PLATFORM_LEDGER as LedgerId);
  await provision(rig, tenants);
  const rollout = new PolicyRollout({
    catalog: rig.catalog,
    registry: createDirectoryPolicyRegistry(join(options.scratch, "registry")),
    handlerNames: () => ["noop", "hang", "http"],
    tenants: (sku) => rig.host.policyTenants(sku),
    offer: (policy, forced) => rig.host.offerPolicy(policy, forced),
    recordPlatform: async (draft) => {
      const r = rig.writer.seal(PLATFORM_LEDGER as LedgerId, draft);
      await rig.writer.durable(PLATFORM_LEDGER);
      return r;
    },
    alerts: { alert: () => {} },
    logger: pino({ level: "silent" }),
  });
  const broadcast: number[] = [];
  const compat: number[] = [];
  const runs = 5;
  for (let i = 1; i <= runs; i++) {
    const doc = structuredClone(benchPolicy);
    doc.policy_version = `1.${i}.0`;
    doc.plans["wide"]!.monthly_actions += i;
    const t0 = performance.now();
    const result = await rollout.push(doc, { by: "bench" });
    const total = performance.now() - t0;
    if (result.kind !== "applied" || result.governors.upgraded !== tenants) throw new Error(`push ${doc.policy_version}: ${JSON.stringify(result).slice(0, 300)}`);
    broadcast.push(total);
    compat.push(result.compat_check_ms);
  }
  await rig.close();
  return [
    atMost(`policy push broadcast to ${tenants.toLocaleString("en-US")} running governors, every receipt durable (median of ${runs}; whole push incl. check and registry)`, median(broadcast), "ms", 250, "< 250 ms (SLI 500 ms)"),
    atMost(`policy compatibility check over ${tenants.toLocaleString("en-US")} tenants (median of ${runs})`, median(compat), "ms", 10, "< 10 ms (SLI 100 ms)"),
  ];
}
