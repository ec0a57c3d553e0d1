import { createInProcessChannels } from "../../src/adapters/embedded/in-process-channels.ts";
import { createMemoryChannels } from "../../src/adapters/memory/memory-channels.ts";
import { describeChannelContract } from "./channel-provisioner.ts";

describeChannelContract(
  "memory",
  async () => {
    const channels = createMemoryChannels({ maxDeliveryAttempts: 5 });
    return {
      channels,
      source: {
        source: channels,
        publish: async (account, data) => void (await channels.publish(account, data)),
        deadLetters: async (account) => channels.deadLetters(account).map((d) => ({ data: Buffer.from(d.data).toString("utf8"), reason: d.reason })),
        maxDeliveryAttempts: 5,
      },
      cleanup: () => channels.close(),
    };
  },
  { isSource: true },
);

describeChannelContract("embedded in-process", async () => ({ channels: createInProcessChannels(), cleanup: async () => {} }), { isSource: false });
