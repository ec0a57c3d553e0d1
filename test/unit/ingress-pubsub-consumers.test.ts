/**
 * The Pub/Sub consumers decode a raw message and map the service's outcome
 * to a verdict: ack once the outcome is durable, nack to see it again later,
 * reject what is not a signal (with a refusal receipt on its last delivery).
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { GovernorService, MarketplaceOutcome, SignalInput, SignalReply } from "../../src/app/governor-service.ts";
import { createProcurementConsumer } from "../../src/ingress/pubsub/procurement.ts";
import { createSignalConsumer } from "../../src/ingress/pubsub/signals.ts";
import type { InboundMessage } from "../../src/ports/index.ts";

const logger = pino({ level: "silent" });

/** A service that answers signals and events as told, and records what it was asked. */
function fakeService(answers: { signal?: () => Promise<SignalReply>; event?: () => Promise<MarketplaceOutcome> } = {}) {
  const calls = {
    signals: [] as { account: string; input: SignalInput }[],
    undeliverable: [] as { account: string; messageId: string; reason: string }[],
    events: [] as { id: string; sentAt: number | undefined; eventId: string }[],
  };
  const service = {
    signal: (account: string, input: SignalInput) => {
      calls.signals.push({ account, input });
      return answers.signal?.() ?? Promise.resolve({ kind: "accepted", actionId: "a1", state: "running" } as const);
    },
    recordUndeliverable: (account: string, messageId: string, reason: string) => {
      calls.undeliverable.push({ account, messageId, reason });
      return Promise.resolve();
    },
    marketplaceEvent: (delivery: { id: string; sentAt?: number }, event: { eventId: string }) => {
      calls.events.push({ id: delivery.id, sentAt: delivery.sentAt, eventId: event.eventId });
      return answers.event?.() ?? Promise.resolve({ status: 201, body: {} } as const);
    },
  } as unknown as GovernorService;
  return { service, calls };
}

const message = (data: string | Uint8Array, extra: Partial<InboundMessage> = {}): InboundMessage => ({
  data: typeof data === "string" ? Buffer.from(data) : data,
  messageId: "m-1",
  deliveryAttempt: 1,
  final: false,
  ...extra,
});
const signalData = '{"signal_id":"s1","action":"noop","params":{"n":1}}';

describe("signal consumer", () => {
  it("submits a decoded signal to the channel's tenant and acks once it is answered", async () => {
    const { service, calls } = fakeService();
    const consume = createSignalConsumer(service, { logger });
    expect(await consume("acme", message(signalData))).toBe("ack");
    expect(calls.signals).toEqual([{ account: "acme", input: { signal_id: "s1", action: "noop", params: { n: 1 } } }]);
  });

  it("acks a repeat and a refusal: both have their outcome on the ledger", async () => {
    for (const reply of [
      { kind: "duplicate", outcome: { actionId: "a1", state: "complete" } },
      { kind: "refused", code: "unknown_action", reason: "no such action" },
    ] as const) {
      const { service } = fakeService({ signal: () => Promise.resolve(reply) });
      expect(await createSignalConsumer(service, { logger })("acme", message(signalData))).toBe("ack");
    }
  });

  it("nacks while intake is not accepting: the signal comes back once it is", async () => {
    const { service } = fakeService({ signal: () => Promise.resolve({ kind: "not_accepting" }) });
    expect(await createSignalConsumer(service, { logger })("acme", message(signalData))).toBe("nack");
  });

  it("nacks what may be taken later (safe mode, cancelling, quarantined, not durable) and acks what never will", async () => {
    const verdicts: Record<string, unknown> = {};
    for (const reason of ["degraded", "decommissioning", "quarantined", "not_durable", "decommissioned", "not_provisioned", "suspended"] as const) {
      const { service } = fakeService({ signal: () => Promise.resolve({ kind: "unavailable", reason }) });
      verdicts[reason] = await createSignalConsumer(service, { logger })("acme", message(signalData));
    }
    expect(verdicts).toEqual({
      degraded: "nack",
      decommissioning: "nack",
      quarantined: "nack",
      not_durable: "nack",
      decommissioned: "ack",
      not_provisioned: "ack",
      suspended: "ack",
    });
  });

  it("acks a signal for a tenant that is not here, and lets a failure through (the source nacks it)", async () => {
    const unknown = fakeService({ signal: () => Promise.resolve({ kind: "unknown_tenant" }) });
    expect(await createSignalConsumer(unknown.service, { logger })("ghost", message(signalData))).toBe("ack");
    const broken = fakeService({ signal: () => Promise.reject(new Error("store exploded")) });
    await expect(createSignalConsumer(broken.service, { logger })("acme", message(signalData))).rejects.toThrow("store exploded");
  });

  it("rejects what is not a signal, and records the refusal on its last delivery only", async () => {
    const { service, calls } = fakeService();
    const consume = createSignalConsumer(service, { logger });
    const early = await consume("acme", message('{"signal_id":"s1","action":"noop","account_id":"other"}'));
    expect(early).toEqual({ reject: expect.stringContaining("the message is not a signal") as unknown });
    expect(calls.undeliverable).toEqual([]);
    const last = await consume("acme", message(Buffer.from([0x7b, 0xff, 0x7d]), { final: true, deliveryAttempt: 5, messageId: "m-9" }));
    expect(last).toEqual({ reject: expect.stringContaining("not valid UTF-8") as unknown });
    expect(calls.undeliverable).toEqual([{ account: "acme", messageId: "m-9", reason: (last as { reject: string }).reject }]);
    expect(calls.signals).toEqual([]);
  });

  it("rejects data over the size limit before reading it", async () => {
    const { service, calls } = fakeService();
    const verdict = await createSignalConsumer(service, { logger, maxMessageBytes: 16 })("acme", message(signalData));
    expect(verdict).toEqual({ reject: expect.stringContaining("(code BODY_TOO_LARGE)") as unknown });
    expect(calls.signals).toEqual([]);
  });
});

describe("procurement consumer", () => {
  const event = (id: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ eventId: id, eventType: "ENTITLEMENT_ACTIVE", entitlement: { id: `ent-${id}`, account_id: "acme", sku_id: "deploy-pipeline", plan: "team" }, ...extra });

  it("hands an event to the marketplace once, by its event id, sent when it was published, and acks what is done", async () => {
    const { service, calls } = fakeService();
    expect(await createProcurementConsumer(service, { logger })(message(event("e1"), { publishedAt: 1_700_000_000_000 }))).toBe("ack");
    expect(calls.events).toEqual([{ id: "e1", sentAt: 1_700_000_000_000, eventId: "e1" }]);
  });

  it("nacks a busy tenant (409) and safe mode (503); acks any other refusal (it has its receipt)", async () => {
    const verdicts: unknown[] = [];
    for (const status of [409, 503, 404, 422] as const) {
      const { service } = fakeService({ event: () => Promise.resolve({ status, code: "X", message: "refused" }) });
      verdicts.push(await createProcurementConsumer(service, { logger })(message(event("e2"))));
    }
    expect(verdicts).toEqual(["nack", "nack", "ack", "ack"]);
  });

  it("acks and drops a message that is not an event: it never becomes one", async () => {
    const { service, calls } = fakeService();
    const consume = createProcurementConsumer(service, { logger });
    expect(await consume(message("not json"))).toBe("ack");
    expect(await consume(message('{"eventId":"e3"}'))).toBe("ack");
    expect(await consume(message(`{"eventId":"e4","entitlement":${"[".repeat(100)}${"]".repeat(100)}}`))).toBe("ack");
    expect(calls.events).toEqual([]);
  });
});
