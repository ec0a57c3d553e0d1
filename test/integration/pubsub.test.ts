/**
 * The Pub/Sub adapter against the real Pub/Sub emulator: per-tenant topics
 * and subscriptions, acknowledgement only on "ack", redelivery on "nack",
 * flow control, poison messages to the dead-letter topic after the allowed
 * deliveries, and Marketplace procurement events.
 *
 * The installed emulator (Cloud SDK pubsub-emulator 0.8.20) implements
 * dead-letter policies: it counts `deliveryAttempt` and forwards to the
 * dead-letter topic, as Pub/Sub does.
 */
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { createPubSubChannels, createPubSubClient, subscribeProcurement, topicName, type Delivery } from "../../src/adapters/gcp/pubsub.ts";
import type { SignalBody } from "../../src/ingress/signal-body.ts";
import type { MarketplaceEvent } from "../../src/runtime/marketplace.ts";
import { requirePubSubEmulator } from "../support/emulators.ts";

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
const until = async (check: () => boolean, what: string, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const publish = (acct: string, data: unknown) =>
  pubsub.topic(topicName(acct)).publishMessage({ data: Buffer.from(typeof data === "string" ? data : JSON.stringify(data)) });

function channels(overrides: Partial<Parameters<typeof createPubSubChannels>[0]> = {}) {
  const seen: { account: string; signal: SignalBody; delivery: Delivery }[] = [];
  const undeliverable: { reason: string; final: boolean; attempt: number }[] = [];
  const c = createPubSubChannels({
    pubsub,
    logger,
    minimumBackoffSeconds: 0,
    onSignal: async (acct, signal, delivery) => {
      seen.push({ account: acct, signal, delivery });
      return "ack";
    },
    onUndeliverable: async (_acct, delivery, reason, final) => {
      undeliverable.push({ reason, final, attempt: delivery.deliveryAttempt });
    },
    ...overrides,
  });
  closers.push(() => c.close());
  return { c, seen, undeliverable };
}

/** Channels allowing 2 messages out per tenant, whose handler holds each for `ms`: counts how many were out at most, and how many are done. */
function holding(ms: number) {
  const stats = { outstanding: 0, most: 0, done: 0 };
  const { c } = channels({
    maxMessages: () => 2,
    onSignal: async () => {
      stats.outstanding++;
      stats.most = Math.max(stats.most, stats.outstanding);
      await new Promise((r) => setTimeout(r, ms));
      stats.outstanding--;
      stats.done++;
      return "ack";
    },
  });
  return Object.assign(stats, { c });
}

describe("Pub/Sub signal channels", () => {
  it("creates a tenant's topic idempotently, delivers decoded signals, and deletes the topic", async () => {
    const acct = account();
    const { c, seen } = channels();
    expect(await c.create(acct)).toBe(`projects/${emulator.projectId}/topics/tenants.${acct}.signals`);
    expect(await c.create(acct)).toBe(`projects/${emulator.projectId}/topics/tenants.${acct}.signals`);
    await publish(acct, { signal_id: "s-1", action: "noop", params: { n: 1 } });
    await until(() => seen.length === 1, "the signal");
    expect(seen[0]).toMatchObject({ account: acct, signal: { signal_id: "s-1", action: "noop", params: { n: 1 } }, delivery: { deliveryAttempt: 1 } });
    // Acknowledged: not delivered again.
    await new Promise((r) => setTimeout(r, 1500));
    expect(seen).toHaveLength(1);
    await c.delete(acct);
    await c.delete(acct);
    const [exists] = await pubsub.topic(topicName(acct)).exists();
    expect(exists).toBe(false);
  });

  it("takes a signal's tenant from the topic it arrived on, never from the message: an account field is refused, an account attribute ignored", async () => {
    const [a, b] = [account(), account()];
    const { c, seen, undeliverable } = channels();
    await c.create(a);
    await c.create(b);
    // On A's topic, a message naming B in its data: not a signal (the schema is closed), so nothing reaches B or A.
    await publish(a, { signal_id: "claims-b", action: "noop", params: {}, account_id: b });
    // On A's topic, a signal with attributes naming B: it is A's.
    await pubsub.topic(topicName(a)).publishMessage({ data: Buffer.from(JSON.stringify({ signal_id: "attr-b", action: "noop" })), attributes: { account_id: b, tenant: b } });
    await until(() => seen.length === 1 && undeliverable.length >= 1, "the signal and the refusal");
    expect(seen.map((x) => [x.account, x.signal.signal_id])).toEqual([[a, "attr-b"]]);
    expect(undeliverable[0]!.reason).toMatch(/not a signal.*account_id/);
    expect(seen.some((x) => x.account === b)).toBe(false);
  });

  it("delivers a nacked signal again", async () => {
    const acct = account();
    let calls = 0;
    const { c } = channels({ onSignal: async () => (++calls < 3 ? "nack" : "ack") });
    await c.create(acct);
    await publish(acct, { signal_id: "s-nack", action: "noop" });
    await until(() => calls === 3, "three deliveries");
    await new Promise((r) => setTimeout(r, 1000));
    expect(calls).toBe(3);
  });

  it("keeps at most maxMessages outstanding per tenant", async () => {
    const acct = account();
    const held = holding(100);
    const { c } = held;
    await c.create(acct);
    await Promise.all(Array.from({ length: 10 }, (_, i) => publish(acct, { signal_id: `f-${i}`, action: "noop" })));
    await until(() => held.done === 10, "ten signals");
    expect(held.most).toBe(2);
  });

  it("dead-letters a message that is not a signal after the allowed deliveries, exactly once, with the reason", async () => {
    const acct = account();
    const { c, undeliverable, seen } = channels();
    await c.create(acct);
    const dead: { data: string; attributes: Record<string, string> }[] = [];
    const keep = pubsub.subscription(`${topicName(acct)}.dead-letter.keep`);
    keep.on("message", (m) => {
      dead.push({ data: m.data.toString(), attributes: m.attributes });
      m.ack();
    });
    closers.push(() => keep.close());
    await publish(acct, "{not json");
    await until(() => dead.length === 1, "the dead letter", 20_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(dead).toHaveLength(1);
    expect(dead[0]!.data).toBe("{not json");
    expect(dead[0]!.attributes["governor-dead-letter-reason"]).toMatch(/not JSON/);
    expect(undeliverable.map((u) => [u.attempt, u.final])).toEqual([[1, false], [2, false], [3, false], [4, false], [5, true]]);
    expect(seen).toEqual([]);
  });

  it("deletes a tenant that was never created, and names the topic of an account that starts with a digit", async () => {
    const acct = `9${account()}`;
    const { c, seen } = channels();
    await c.delete(acct);
    expect(await c.create(acct)).toBe(`projects/${emulator.projectId}/topics/tenants.${acct}.signals`);
    await publish(acct, { signal_id: "d-1", action: "noop" });
    await until(() => seen.length === 1, "the signal");
    expect(seen[0]!.account).toBe(acct);
    await c.delete(acct);
    const [subscriptionExists] = await pubsub.subscription(`${topicName(acct)}.governor`).exists();
    expect(subscriptionExists).toBe(false);
  });

  it("nacks a signal whose handler fails, logs it, and hands it on again", async () => {
    const acct = account();
    const { lines, logger: captured } = capturingLogger();
    const attempts: number[] = [];
    const { c } = channels({
      logger: captured,
      onSignal: async (_acct, _signal, delivery) => {
        attempts.push(delivery.deliveryAttempt);
        if (attempts.length === 1) throw new Error("the ledger store is away");
        return "ack";
      },
    });
    await c.create(acct);
    await publish(acct, { signal_id: "boom", action: "noop" });
    await until(() => attempts.length === 2, "the second delivery");
    await new Promise((r) => setTimeout(r, 1000));
    expect(attempts).toEqual([1, 2]);
    const failures = lines.filter((l) => l["account"] === acct && l["level"] === 50);
    expect(failures).toHaveLength(1);
    expect(String(failures[0]!["msg"])).toMatch(/delivered again/);
  });

  it("applies a new flow control to a tenant it is consuming", async () => {
    const acct = account();
    const held = holding(150);
    const { c } = held;
    await c.create(acct);
    await Promise.all(Array.from({ length: 60 }, (_, i) => publish(acct, { signal_id: `g-${i}`, action: "noop" })));
    await until(() => held.done >= 4, "the first signals");
    expect(held.most).toBe(2);
    held.most = 0;
    c.setFlowControl(acct, 6);
    await until(() => held.done >= 60, "every signal");
    // The stream reopens with the new limit while the two handed on under the old one finish: at most 6 + 2 at that moment.
    expect(held.most).toBeGreaterThanOrEqual(6);
    expect(held.most).toBeLessThanOrEqual(8);
  });

  it("resumes consuming an existing subscription after a restart", async () => {
    const acct = account();
    const first = channels();
    await first.c.create(acct);
    await first.c.close();
    await publish(acct, { signal_id: "while-down", action: "noop" });
    const second = channels();
    await second.c.create(acct);
    await until(() => second.seen.length === 1, "the signal published while no one consumed");
    expect(second.seen[0]!.signal.signal_id).toBe("while-down");
  });
});

describe("Marketplace procurement events", () => {
  it("hands valid events on and drops (logs) what is not an event", async () => {
    const topic = `procurement-${randomUUID().slice(0, 8)}`;
    const events: MarketplaceEvent[] = [];
    const sub = await subscribeProcurement({
      pubsub,
      topic,
      subscription: `${topic}.governor`,
      logger,
      onEvent: async (e) => {
        events.push(e);
        return "ack";
      },
    });
    closers.push(() => sub.close());
    const t = pubsub.topic(topic);
    await t.publishMessage({ data: Buffer.from("garbage") });
    await t.publishMessage({ json: { eventId: "e-1", eventType: "ENTITLEMENT_ACTIVE", entitlement: { id: "ent-1", account_id: "acme", sku_id: "demo", plan: "starter" } } });
    await until(() => events.length === 1, "the event");
    expect(events[0]).toMatchObject({ eventId: "e-1", eventType: "ENTITLEMENT_ACTIVE", entitlement: { account_id: "acme" } });
  });

  it("acknowledges what is not an event once, logs why, and hands nothing on", async () => {
    const topic = `procurement-${randomUUID().slice(0, 8)}`;
    const { lines, logger: captured } = capturingLogger();
    const events: MarketplaceEvent[] = [];
    const sub = await subscribeProcurement({
      pubsub,
      topic,
      subscription: `${topic}.governor`,
      logger: captured,
      onEvent: async (e) => {
        events.push(e);
        return "ack";
      },
    });
    closers.push(() => sub.close());
    const t = pubsub.topic(topic);
    const [notJson, notEvent] = await Promise.all([
      t.publishMessage({ data: Buffer.from("garbage") }),
      t.publishMessage({ json: { eventId: "e-2", eventType: "entitlement active", entitlement: { id: "ent-2", account_id: "-bad" } } }),
    ]);
    const invalid = () => lines.filter((l) => l["code"] === "PROCUREMENT_EVENT_INVALID");
    await until(() => invalid().length === 2, "both invalid messages");
    // Acknowledged: neither comes back.
    await new Promise((r) => setTimeout(r, 1500));
    expect(invalid()).toHaveLength(2);
    expect(new Set(invalid().map((l) => l["message_id"]))).toEqual(new Set([notJson, notEvent]));
    const shape = invalid().find((l) => l["message_id"] === notEvent)!;
    expect(shape["issues"]).toEqual(expect.arrayContaining([expect.stringMatching(/^eventType: /), expect.stringMatching(/^entitlement\.account_id: /)]));
    expect(String(invalid().find((l) => l["message_id"] === notJson)!["msg"])).toMatch(/not JSON/);
    expect(events).toEqual([]);
  });
});
