/** The in-memory delivery log of hand-built runtimes passes the same contract as the durable ones. */
import { createMemoryDeliveryLog } from "../../src/adapters/memory/memory-delivery-log.ts";
import { describeDeliveryLogContract } from "./delivery-log.ts";

describeDeliveryLogContract("in memory", async ({ takeoverAfterMs }) => {
  const log = createMemoryDeliveryLog({ takeoverAfterMs });
  return {
    log,
    second: async () => createMemoryDeliveryLog({ takeoverAfterMs, storage: log.storage }),
    cleanup: () => log.close(),
  };
});
