/**
 * A started governor host on a given store, as host-level tests build it: a
 * catalog holding the test's policy, a ledger writer whose fenced ledgers go
 * back to the host to be rebuilt, a silent logger (DEBUG_HOST=debug to see it).
 */
import { pino } from "pino";
import { generateSignerKey } from "../../src/ledger/checkpoint.ts";
import { createUuidV7Source } from "../../src/ledger/hash.ts";
import type { LedgerId } from "../../src/ledger/receipt.ts";
import { PolicyCatalog } from "../../src/policy/registry.ts";
import type { PolicyDocument } from "../../src/policy/schema.ts";
import { systemClock, type AlertSink, type Clock, type LedgerStore } from "../../src/ports/index.ts";
import { Governors, type GovernorsOptions } from "../../src/app/governors.ts";
import { builtinHandlers, type ActionHandler } from "../../src/app/handlers.ts";
import { LedgerLog } from "../../src/log/ledger-log.ts";

/** Host options a test may set beyond what the rig wires itself. */
type ExtraHostOptions = Omit<GovernorsOptions, "store" | "log" | "clock" | "newId" | "handlers" | "resolvePolicy" | "alerts" | "logger">;

export async function startHost(o: {
  store: LedgerStore;
  policy: PolicyDocument;
  alerts: AlertSink;
  clock?: Clock;
  handlers?: ReadonlyMap<string, ActionHandler>;
  host?: (catalog: PolicyCatalog) => ExtraHostOptions;
}): Promise<{ host: Governors; catalog: PolicyCatalog }> {
  const clock = o.clock ?? systemClock;
  const logger = pino({ level: (process.env["DEBUG_HOST"] ?? "silent") as "silent" });
  const catalog = new PolicyCatalog();
  catalog.add(o.policy);
  const newId = createUuidV7Source(() => Date.now());
  let fenced = (_: LedgerId, _err: Error) => {};
  const writer = new LedgerLog({ store: o.store, signers: [generateSignerKey("test")], originPrefix: "test", clock, newId, logger, checkpointIntervalMs: 0, onFenced: (l, e) => fenced(l, e) });
  const host = new Governors({
    store: o.store,
    log: writer,
    clock,
    newId,
    handlers: o.handlers ?? builtinHandlers,
    resolvePolicy: catalog.resolve,
    alerts: o.alerts,
    logger,
    ...o.host?.(catalog),
  });
  fenced = (l, e) => host.recoverFenced(l, e);
  await host.start();
  return { host, catalog };
}
