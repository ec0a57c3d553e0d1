/**
 * Records the ledgers the replay test rebuilds, with the state each must
 * rebuild to. Run it only when a change to the machines is meant to change
 * what a ledger rebuilds to, and review the diff:
 *
 *   node test/replay/record.ts
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ReceiptOf } from "../../src/ledger/receipt.ts";
import { given, provisionDraft, signal, type Spec } from "../support/governor-spec.ts";
import { rebuiltState } from "./rebuild.ts";

const dir = join(import.meta.dirname, "ledgers");

function lifecycle(): Spec {
  const spec = given([provisionDraft({ concurrency: 1 })]);
  spec.when(signal(spec, "s1", "noop", { n: 1 }), signal(spec, "s2", "slow"), signal(spec, "s3", "noop"), signal(spec, "s4", "forbidden"));
  const first = spec.recorded.find((r) => r.operation === "action_started") as ReceiptOf<"action_started">;
  spec.clock.increment(20);
  spec.when({ type: "HANDLER_SUCCEEDED", actionId: first.action_id, now: spec.clock.now() });
  const second = spec.recorded.filter((r) => r.operation === "action_started")[1] as ReceiptOf<"action_started">;
  spec.clock.increment(600);
  spec.when({ type: "DEADLINE", actionId: second.action_id, now: spec.clock.now() });
  spec.when({ type: "ROLLBACK_SUCCEEDED", actionId: second.action_id, now: spec.clock.now(), cause: "timeout" });
  spec.clock.set(Date.parse("2026-12-02T00:00:00.000Z"));
  spec.when(signal(spec, "s5", "noop"));
  return spec;
}

function crashed(): Spec {
  const spec = given([provisionDraft({ concurrency: 2 })]);
  spec.when(signal(spec, "a", "slow"), signal(spec, "b", "slow"), signal(spec, "c", "noop"));
  return spec;
}

function cancelled(): Spec {
  const spec = given([provisionDraft()]);
  spec.when(signal(spec, "x", "noop"));
  const started = spec.recorded[0] as ReceiptOf<"action_started">;
  spec.when({ type: "CANCEL", eventId: "evt-c", entitlementId: "ent-1", now: spec.clock.now(), drainMs: 1000 });
  spec.when({ type: "HANDLER_SUCCEEDED", actionId: started.action_id, now: spec.clock.now() });
  spec.when({ type: "ARCHIVED", archiveUri: "file:///archives/acct-1.tar.gz", archiveBytes: 100, archiveSha256: "c".repeat(64), receiptCount: 4, now: spec.clock.now() });
  return spec;
}

for (const [name, make] of [["lifecycle", lifecycle], ["crashed-in-flight", crashed], ["cancelled", cancelled]] as const) {
  const spec = make();
  writeFileSync(join(dir, `${name}.jsonl`), spec.ledger.map((r) => `${JSON.stringify(r)}\n`).join(""));
  writeFileSync(join(dir, `${name}.state.json`), `${JSON.stringify(rebuiltState(spec.ledger), null, 2)}\n`);
  process.stdout.write(`${name}: ${spec.ledger.length} receipts\n`);
}
