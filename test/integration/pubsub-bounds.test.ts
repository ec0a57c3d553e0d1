/**
 * A tenant's Pub/Sub message beyond the JSON limits (the nested-params attack
 * over Pub/Sub) never reaches the runtime as a signal: on the emulator, it is
 * judged undeliverable with the bound it breaks, while a signal published
 * after it is delivered.
 */
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { createPubSubChannels, createPubSubClient, topicName } from "../../src/adapters/gcp/pubsub.ts";
import type { GovernorService } from "../../src/app/governor-service.ts";
import { createSignalConsumer } from "../../src/ingress/pubsub/signals.ts";
import { requirePubSubEmulator } from "../support/emulators.ts";
import { eventually } from "../support/service.ts";

const emulator = requirePubSubEmulator();
const pubsub = createPubSubClient({ projectId: emulator.projectId });
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
  await pubsub.close();
});


describe("Pub/Sub signals are bounded when decoded", () => {
  it("params nested 1,000 deep, or a message over the size limit, are not signals; the next signal is", async () => {
    const acct = `pb-${randomUUID().slice(0, 8)}`;
    const seen: string[] = [];
    const undeliverable: string[] = [];
    // The parts of the service the consumer reaches for a signal: it is accepted.
    const service = {
      accepting: true,
      signal: async (_acct: string, signal: { signal_id: string }) => {
        seen.push(signal.signal_id);
        return { kind: "accepted" };
      },
      recordUndeliverable: async () => {},
    } as unknown as GovernorService;
    const consumer = createSignalConsumer(service, { logger: pino({ level: "silent" }), maxMessageBytes: 4096 });
    const c = createPubSubChannels({ pubsub, logger: pino({ level: "silent" }), minimumBackoffSeconds: 0 });
    await c.start(async (acct, message) => {
      const verdict = await consumer(acct, message);
      if (typeof verdict === "object") undeliverable.push(verdict.reject);
      return verdict;
    });
    closers.push(() => c.close());
    await c.create(acct);
    const topic = pubsub.topic(topicName(acct));
    let deep = "1";
    for (let i = 0; i < 1000; i++) deep = `[${deep}]`;
    await topic.publishMessage({ data: Buffer.from(`{"signal_id":"deep","action":"noop","params":{"x":${deep}}}`) });
    await topic.publishMessage({ data: Buffer.from(`{"signal_id":"big","action":"noop","params":{"x":"${"y".repeat(5000)}"}}`) });
    await topic.publishMessage({ data: Buffer.from('{"signal_id":"fine","action":"noop","params":{"x":[[1]]}}') });
    await eventually(() => seen.includes("fine") && undeliverable.some((r) => r.includes("BODY_TOO_DEEP")) && undeliverable.some((r) => r.includes("BODY_TOO_LARGE")), "the three judgements");
    expect(seen).not.toContain("deep");
    expect(seen).not.toContain("big");
    expect(undeliverable.find((r) => r.includes("BODY_TOO_DEEP"))).toMatch(/\$\.params\.x\[0\].*nested more than 32 levels deep/);
  });
});
