/** What a recorded ledger rebuilds to, in a form that can be compared and committed. */
import { createActor } from "xstate";
import { initialGovernorState, serializeState } from "../../governors/governor-state.ts";
import { replay, restoreSnapshot } from "../../governors/replay.ts";
import { tenantGovernor } from "../../governors/tenant-governor.ts";
import type { Receipt } from "../../src/ledger/receipt.ts";
import { testPolicy } from "../support/governor-spec.ts";

const resolvePolicy = (sku: string, version: string) => (sku === testPolicy.skuId && version === testPolicy.version ? testPolicy : undefined);
const limits = { maxParamsBytes: 1024 };

/** Through the fast path the runtime uses. */
export function rebuiltState(receipts: readonly Receipt[]) {
  const account = receipts[0]!.ledger;
  const snap = replay(restoreSnapshot({ account, resolvePolicy, limits, state: initialGovernorState(account) }, "new"), receipts);
  return { value: snap.value, policy_version: snap.context.policy?.version ?? null, state: serializeState(snap.context.gov) };
}

/** Through the definition: every receipt sent to an actor as REPLAYED. */
export function rebuiltByActor(receipts: readonly Receipt[]) {
  const account = receipts[0]!.ledger;
  const actor = createActor(tenantGovernor, { input: { account, resolvePolicy, limits } }).start();
  for (const receipt of receipts) actor.send({ type: "REPLAYED", receipt });
  const snap = actor.getSnapshot();
  actor.stop();
  return { value: snap.value, policy_version: snap.context.policy?.version ?? null, state: serializeState(snap.context.gov) };
}
