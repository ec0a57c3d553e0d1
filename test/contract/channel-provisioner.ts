/**
 * The ChannelProvisioner contract, and the SignalSource contract for the
 * adapters that are both (memory, Pub/Sub): every adapter runs the same
 * suite. Waits are on conditions; "not delivered again" is judged against a
 * sentinel nacked on the same channel, which comes back only after a
 * redelivery delay, so an unacknowledged message would have come back too.
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ChannelProvisioner, InboundMessage, SignalHandler, SignalSource, Verdict } from "../../src/ports/index.ts";
import { eventually } from "../support/service.ts";

export interface ChannelsUnderTest {
  readonly channels: ChannelProvisioner;
  /** The source of what arrives on the channels, when the adapter is one, with a way to publish and to read dead letters. */
  readonly source?: {
    readonly source: SignalSource;
    publish(account: string, data: Uint8Array): Promise<void>;
    deadLetters(account: string): Promise<readonly { data: string; reason: string }[]>;
    /** Deliveries before a rejected message is dead-lettered. */
    readonly maxDeliveryAttempts: number;
  };
  cleanup(): Promise<void>;
}

const text = (m: InboundMessage) => Buffer.from(m.data).toString("utf8");
const bytes = (s: string) => Buffer.from(s, "utf8");

/** Runs the provisioner contract, and the signal source contract too when the adapter is one (`t.source`). */
export function describeChannelContract(name: string, factory: () => Promise<ChannelsUnderTest>, options: { isSource: boolean }): void {
  describe(`ChannelProvisioner contract: ${name}`, () => {
    let t: ChannelsUnderTest;
    const account = () => `ch-${randomUUID().slice(0, 8)}`;
    beforeEach(async () => {
      t = await factory();
    });
    afterEach(async () => {
      await t.cleanup();
    });

    it("creates a channel idempotently, naming it the same each time, and deletes it idempotently", async () => {
      const acct = account();
      const first = await t.channels.create(acct);
      expect(first).toContain(acct);
      expect(await t.channels.create(acct)).toBe(first);
      await t.channels.delete(acct);
      await t.channels.delete(acct);
      expect(await t.channels.create(acct)).toBe(first);
    });

    it("deletes a channel that was never created", async () => {
      await expect(t.channels.delete(account())).resolves.toBeUndefined();
    });

    it("takes a concurrency for a channel, created or not", async () => {
      const acct = account();
      t.channels.tune?.(acct, 3);
      await t.channels.create(acct);
      expect(() => t.channels.tune?.(acct, 5)).not.toThrow();
    });
  });

  if (!options.isSource) return;
  describe(`SignalSource contract: ${name}`, () => {
    let t: ChannelsUnderTest;
    let src: NonNullable<ChannelsUnderTest["source"]>;
    const seen: { account: string; message: InboundMessage }[] = [];
    let judge: (account: string, m: InboundMessage) => Verdict = () => "ack";
    const handler: SignalHandler = async (acct, m) => {
      seen.push({ account: acct, message: m });
      return judge(acct, m);
    };
    const deliveries = (data: string) => seen.filter((s) => text(s.message) === data);
    /** Resolves once a sentinel nacked twice on the channel has come back: what is not acked by then would have come back too. */
    const afterRedelivery = async (acct: string) => {
      const sentinel = `sentinel-${randomUUID()}`;
      await src.publish(acct, bytes(sentinel));
      await eventually(() => deliveries(sentinel).length >= 3, "the sentinel's third delivery", 30_000);
    };
    const account = () => `src-${randomUUID().slice(0, 8)}`;

    beforeEach(async () => {
      t = await factory();
      if (t.source === undefined) throw new Error(`${name} is declared a signal source but gives none`);
      src = t.source;
      seen.length = 0;
      judge = (_acct, m) => (text(m).startsWith("sentinel-") && m.deliveryAttempt < 3 ? "nack" : "ack");
    });
    afterEach(async () => {
      await t.source?.source.close();
      await t.cleanup();
    });

    it("delivers a message as published, undecoded, with the account of its channel and its first attempt", async () => {
      const [a, b] = [account(), account()];
      await t.channels.create(a);
      await t.channels.create(b);
      await src.source.start(handler);
      // The data names another tenant: the account is still the channel's.
      await src.publish(a, bytes(`{"account_id":"${b}","not":"decoded"}`));
      await eventually(() => seen.length >= 1, "the message");
      expect(seen[0]!.account).toBe(a);
      expect(text(seen[0]!.message)).toBe(`{"account_id":"${b}","not":"decoded"}`);
      expect(seen[0]!.message).toMatchObject({ deliveryAttempt: 1, final: false });
      expect(seen[0]!.message.messageId).not.toBe("");
    });

    it("does not deliver an acked message again", async () => {
      const acct = account();
      await t.channels.create(acct);
      await src.source.start(handler);
      await src.publish(acct, bytes("once"));
      await afterRedelivery(acct);
      expect(deliveries("once").map((s) => s.message.deliveryAttempt)).toEqual([1]);
    });

    it("delivers a nacked message again, counting the attempts", async () => {
      const acct = account();
      await t.channels.create(acct);
      await src.source.start(handler);
      judge = (_acct, m) => (m.deliveryAttempt < 3 ? "nack" : "ack");
      await src.publish(acct, bytes("again"));
      await eventually(() => deliveries("again").length === 3, "three deliveries", 30_000);
      expect(deliveries("again").map((s) => s.message.deliveryAttempt)).toEqual([1, 2, 3]);
    });

    it("delivers again a message whose handler failed", async () => {
      const acct = account();
      await t.channels.create(acct);
      let failed = false;
      await src.source.start(async (a, m) => {
        seen.push({ account: a, message: m });
        if (!failed) {
          failed = true;
          throw new Error("the ledger store is away");
        }
        return "ack";
      });
      await src.publish(acct, bytes("boom"));
      await eventually(() => deliveries("boom").length === 2, "the second delivery", 30_000);
      expect(deliveries("boom").map((s) => s.message.deliveryAttempt)).toEqual([1, 2]);
    });

    it("dead-letters a rejected message on its final delivery, once, with the reason; nacked until then", async () => {
      const acct = account();
      await t.channels.create(acct);
      await src.source.start(handler);
      judge = () => ({ reject: "not a signal: not JSON" });
      await src.publish(acct, bytes("{not json"));
      await eventually(async () => (await src.deadLetters(acct)).length === 1, "the dead letter", 30_000);
      expect(await src.deadLetters(acct)).toEqual([{ data: "{not json", reason: "not a signal: not JSON" }]);
      const attempts = deliveries("{not json").map((s) => [s.message.deliveryAttempt, s.message.final]);
      expect(attempts).toEqual(Array.from({ length: src.maxDeliveryAttempts }, (_, i) => [i + 1, i + 1 === src.maxDeliveryAttempts]));
    });

    it("delivers what was published before it started, or while it was closed, once started", async () => {
      const acct = account();
      await t.channels.create(acct);
      await src.publish(acct, bytes("early"));
      await src.source.start(handler);
      await eventually(() => deliveries("early").length === 1, "the early message");
      await src.source.close();
      await src.publish(acct, bytes("late"));
      await src.source.start(handler);
      await eventually(() => deliveries("late").length === 1, "the late message, once started again");
      expect(deliveries("early").concat(deliveries("late")).map((s) => s.account)).toEqual([acct, acct]);
    });
  });
}
