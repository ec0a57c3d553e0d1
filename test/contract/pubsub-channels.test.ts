/** The channel contract on the Pub/Sub emulator (`source /tmp/emu.env` or the test setup starts one). */
import { pino } from "pino";
import { afterAll } from "vitest";
import { createPubSubChannels, createPubSubClient, topicName } from "../../src/adapters/gcp/pubsub.ts";
import { requirePubSubEmulator } from "../support/emulators.ts";
import { describeChannelContract } from "./channel-provisioner.ts";

const emulator = requirePubSubEmulator();
const pubsub = createPubSubClient({ projectId: emulator.projectId });
afterAll(() => pubsub.close());

describeChannelContract(
  "Pub/Sub (emulator)",
  async () => {
    const channels = createPubSubChannels({ pubsub, logger: pino({ level: "silent" }), minimumBackoffSeconds: 0, maxDeliveryAttempts: 5 });
    const dead = new Map<string, { data: string; reason: string }[]>();
    const keeps: { close(): Promise<void> }[] = [];
    const watchDeadLetters = (account: string) => {
      if (dead.has(account)) return;
      dead.set(account, []);
      const keep = pubsub.subscription(`${topicName(account)}.dead-letter.keep`);
      keep.on("message", (m) => {
        dead.get(account)!.push({ data: m.data.toString("utf8"), reason: m.attributes["governor-dead-letter-reason"] ?? "" });
        m.ack();
      });
      keeps.push(keep);
    };
    return {
      channels,
      source: {
        source: channels,
        async publish(account, data) {
          watchDeadLetters(account);
          await pubsub.topic(topicName(account)).publishMessage({ data: Buffer.from(data) });
        },
        deadLetters: async (account) => dead.get(account) ?? [],
        maxDeliveryAttempts: 5,
      },
      async cleanup() {
        await channels.close();
        for (const k of keeps) await k.close();
      },
    };
  },
  { isSource: true },
);
