/**
 * The Pub/Sub adapter against the real Pub/Sub emulator, beyond the channel
 * contract (test/contract/channel-provisioner.ts): topics and subscriptions
 * by name, flow control, a failing handler logged, consumption resumed by a
 * new process, and Marketplace procurement messages.
 *
 * The installed emulator (Cloud SDK pubsub-emulator 0.8.20) implements
 * dead-letter policies: it counts `deliveryAttempt` and forwards to the
 * dead-letter topic, as Pub/Sub does.
 */
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { createPubSubChannels, createPubSubClient, createPubSubProcurementSource, topicName } from "../../src/adapters/gcp/pubsub.ts";
import type { InboundMessage, SignalHandler, Verdict } from "../../src/ports/index.ts";
import { requirePubSubEmulator } from "../support/emulators.ts";
import { eventually } from "../support/service.ts";

const emulator = requirePubSubEmulator();
const pubsub = createPubSubClient({ projectId: emulator.projectId });
const logger = pino({ level: "silent" });
/** A logger whose lines the test reads back. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }) };
}
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
  await pubsub.close();
});

const account = () => `ps-${randomUUID().slice(0, 8)}`;
const text = (m: InboundMessage) => Buffer.from(m.data).toString("utf8");
const publish = (acct: string, data: string) => pubsub.topic(topicName(acct)).publishMessage({ data: Buffer.from(data) });

/** Channels started with `handler` (every message acked by default); what they were handed is in `seen`. */
async function channels(options: { handler?: SignalHandler; maxMessages?: number; logger?: typeof logger } = {}) {
  const seen: { account: string; message: InboundMessage }[] = [];
  const c = createPubSubChannels({ pubsub, logger: options.logger ?? logger, minimumBackoffSeconds: 0, ...(options.maxMessages === undefined ? {} : { maxMessages: () => options.maxMessages! }) });
  await c.start(
    options.handler ??
      (async (acct, message) => {
        seen.push({ account: acct, message });
        return "ack";
      }),
  );
  closers.push(() => c.close());
  return { c, seen };
}

/** Channels allowing 2 messages out per tenant, whose handler holds each until released: counts how many were out at most, and how many are done. */
async function holding() {
  const stats = { outstanding: 0, most: 0, done: 0 };
  const held: (() => void)[] = [];
  const { c } = await channels({
    maxMessages: 2,
    handler: async () => {
      stats.outstanding++;
      stats.most = Math.max(stats.most, stats.outstanding);
      await new Promise<void>((resolve) => held.push(resolve));
      stats.outstanding--;
      stats.done++;
      return "ack" as Verdict;
    },
  });
  /** Lets every message handed on so far finish. */
  const release = () => held.splice(0).forEach((r) => r());
  return Object.assign(stats, { c, held, release });
}

describe("Pub/Sub signal channels", () => {
  it("names a tenant's topic after the account, and removes its subscription and topic on delete", async () => {
    const acct = `9${account()}`;
    const { c, seen } = await channels();
    expect(await c.create(acct)).toBe(`projects/${emulator.projectId}/topics/tenants.${acct}.signals`);
    await publish(acct, "d-1");
    await eventually(() => seen.length === 1, "the message");
    expect(seen[0]!.account).toBe(acct);
    await c.delete(acct);
    const [subscriptionExists] = await pubsub.subscription(`${topicName(acct)}.governor`).exists();
    expect(subscriptionExists).toBe(false);
    const [topicExists] = await pubsub.topic(topicName(acct)).exists();
    expect(topicExists).toBe(false);
  });

  it("keeps at most maxMessages outstanding per tenant", async () => {
    const acct = account();
    const held = await holding();
    await held.c.create(acct);
    await Promise.all(Array.from({ length: 10 }, (_, i) => publish(acct, `f-${i}`)));
    while (held.done < 10) {
      await eventually(() => held.held.length > 0, "a message handed on");
      held.release();
      await eventually(() => held.outstanding === 0 || held.held.length > 0, "the next messages");
    }
    expect(held.most).toBe(2);
  });

  it("logs a handler that fails and hands the message on again", async () => {
    const acct = account();
    const { lines, logger: captured } = capturingLogger();
    const attempts: number[] = [];
    const { c } = await channels({
      logger: captured,
      handler: async (_acct, message) => {
        attempts.push(message.deliveryAttempt);
        if (attempts.length === 1) throw new Error("the ledger store is away");
        return "ack";
      },
    });
    await c.create(acct);
    await publish(acct, "boom");
    await eventually(() => attempts.length === 2, "the second delivery");
    expect(attempts).toEqual([1, 2]);
    const failures = lines.filter((l) => l["account"] === acct && l["level"] === 50);
    expect(failures).toHaveLength(1);
    expect(String(failures[0]!["msg"])).toMatch(/delivered again/);
  });

  it("applies a new flow control to a tenant it is consuming", async () => {
    const acct = account();
    const held = await holding();
    await held.c.create(acct);
    await Promise.all(Array.from({ length: 30 }, (_, i) => publish(acct, `g-${i}`)));
    await eventually(() => held.held.length === 2, "the first two messages");
    expect(held.most).toBe(2);
    held.most = 0;
    held.c.setFlowControl(acct, 6);
    held.release();
    // The stream reopens with the new limit: six are handed on at once.
    await eventually(() => held.held.length >= 6, "six messages out at once");
    while (held.done < 30) {
      held.release();
      await eventually(() => held.done >= 30 || held.held.length > 0, "the next messages");
    }
    expect(held.most).toBeGreaterThanOrEqual(6);
    expect(held.most).toBeLessThanOrEqual(8);
  });

  it("consumes a tenant's flow control set before its channel is consumed", async () => {
    const acct = account();
    const stats = { outstanding: 0, most: 0 };
    const held: (() => void)[] = [];
    const c = createPubSubChannels({ pubsub, logger, minimumBackoffSeconds: 0, maxMessages: () => 100 });
    closers.push(() => c.close());
    c.tune(acct, 1);
    await c.create(acct);
    await Promise.all(Array.from({ length: 15 }, (_, i) => publish(acct, `t-${i}`)));
    await c.start(async () => {
      stats.outstanding++;
      stats.most = Math.max(stats.most, stats.outstanding);
      await new Promise<void>((resolve) => held.push(resolve));
      stats.outstanding--;
      return "ack";
    });
    // Concurrency 1: ten messages out at once (flowFor), not the hundred of the default.
    await eventually(() => held.length === 10, "ten messages out");
    held.splice(0).forEach((r) => r());
    expect(stats.most).toBe(10);
  });

  it("resumes consuming an existing subscription in a new process", async () => {
    const acct = account();
    const first = await channels();
    await first.c.create(acct);
    await first.c.close();
    await publish(acct, "while-down");
    const second = await channels();
    await second.c.create(acct);
    await eventually(() => second.seen.length === 1, "the message published while no one consumed");
    expect(text(second.seen[0]!.message)).toBe("while-down");
  });
});

describe("Marketplace procurement messages", () => {
  async function source(handler: (m: InboundMessage) => Verdict, log = logger) {
    const topic = `procurement-${randomUUID().slice(0, 8)}`;
    const seen: InboundMessage[] = [];
    const s = createPubSubProcurementSource({ pubsub, topic, subscription: `${topic}.governor`, logger: log });
    await s.start(async (m) => {
      seen.push(m);
      return handler(m);
    });
    closers.push(() => s.close());
    return { seen, topic: pubsub.topic(topic) };
  }

  it("hands messages on undecoded, with when they were published, and delivers a nacked one again", async () => {
    const { seen, topic } = await source((m) => (text(m) === "later" && seen.filter((s) => text(s) === "later").length < 2 ? "nack" : "ack"));
    await topic.publishMessage({ data: Buffer.from("garbage") });
    await topic.publishMessage({ data: Buffer.from("later") });
    await eventually(() => seen.filter((m) => text(m) === "later").length === 2, "the nacked message again");
    const garbage = seen.find((m) => text(m) === "garbage")!;
    expect(garbage.final).toBe(true);
    expect(garbage.publishedAt).toBeGreaterThan(0);
  });

  it("acknowledges a rejected message at once and logs the reason", async () => {
    const { lines, logger: captured } = capturingLogger();
    let rejected = 0;
    const { topic } = await source(() => {
      rejected++;
      return { reject: "not a Marketplace event" };
    }, captured);
    const id = await topic.publishMessage({ data: Buffer.from("{}") });
    const logged = () => lines.filter((l) => l["message_id"] === id && l["code"] === "PROCUREMENT_EVENT_INVALID");
    await eventually(() => logged().length === 1, "the rejection logged");
    expect(String(logged()[0]!["msg"])).toMatch(/not a Marketplace event/);
    expect(rejected).toBe(1);
  });
});
