/**
 * Tenant channels in memory: a provisioner and a signal source in one, for
 * tests of what consumes a source (the Pub/Sub consumers, the app) without
 * an emulator. Messages are delivered in order per channel; a nacked or
 * rejected message goes to the back of its channel's queue until its final
 * delivery, when a rejection is dead-lettered, as the Pub/Sub adapter does.
 */
import type { ChannelProvisioner, InboundMessage, SignalHandler, SignalSource, Verdict } from "../../ports/index.ts";

export interface MemoryChannels extends ChannelProvisioner, SignalSource {
  /** Publishes a message to a tenant's channel; resolves with its id. Rejects when the channel does not exist. */
  publish(account: string, data: Uint8Array): Promise<string>;
  /** What was dead-lettered from a tenant's channel, with the reasons. */
  deadLetters(account: string): readonly { readonly messageId: string; readonly data: Uint8Array; readonly reason: string }[];
  /** Messages waiting or under way on a tenant's channel. */
  pending(account: string): number;
  /** The flow control last set for a tenant (tune), if any. */
  concurrencyOf(account: string): number | undefined;
}

interface Queued {
  readonly messageId: string;
  readonly data: Uint8Array;
  readonly publishedAt: number;
  attempts: number;
}

export function createMemoryChannels(options: { maxDeliveryAttempts?: number; now?: () => number } = {}): MemoryChannels {
  const maxAttempts = options.maxDeliveryAttempts ?? 5;
  const now = options.now ?? (() => 0);
  const queues = new Map<string, Queued[]>();
  const busy = new Set<string>();
  const dead = new Map<string, { messageId: string; data: Uint8Array; reason: string }[]>();
  const tuned = new Map<string, number>();
  let handler: SignalHandler | null = null;
  let nextId = 0;

  const settle = (account: string, queue: Queued[], m: Queued, delivered: InboundMessage, verdict: Verdict) => {
    if (verdict === "ack") return;
    if (verdict !== "nack" && delivered.final) {
      const list = dead.get(account) ?? [];
      list.push({ messageId: m.messageId, data: m.data, reason: verdict.reject });
      dead.set(account, list);
      return;
    }
    queue.push(m);
  };

  /** Delivers a channel's messages one at a time while a handler is set; a message handed back waits a turn of the event loop, as a redelivery waits its backoff. */
  const pump = async (account: string) => {
    if (busy.has(account)) return;
    busy.add(account);
    try {
      while (handler !== null) {
        const queue = queues.get(account);
        const m = queue?.shift();
        if (queue === undefined || m === undefined) break;
        if (m.attempts > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        const deliver = handler;
        if (deliver === null) {
          queue.unshift(m);
          break;
        }
        m.attempts++;
        const delivered: InboundMessage = { data: m.data, messageId: m.messageId, deliveryAttempt: m.attempts, final: m.attempts >= maxAttempts, publishedAt: m.publishedAt };
        const verdict: Verdict = await deliver(account, delivered).catch(() => "nack" as const);
        if (queues.get(account) === queue) settle(account, queue, m, delivered, verdict);
      }
    } finally {
      busy.delete(account);
    }
  };

  return {
    async create(account) {
      if (!queues.has(account)) queues.set(account, []);
      return `memory:tenants.${account}.signals`;
    },
    async delete(account) {
      queues.delete(account);
      tuned.delete(account);
    },
    tune(account, concurrency) {
      tuned.set(account, concurrency);
    },
    async start(deliver) {
      handler = deliver;
      for (const account of queues.keys()) void pump(account);
    },
    async close() {
      handler = null;
    },
    async publish(account, data) {
      const queue = queues.get(account);
      if (queue === undefined) throw new Error(`no channel for ${account}`);
      const messageId = String(++nextId);
      queue.push({ messageId, data, publishedAt: now(), attempts: 0 });
      if (handler !== null) void pump(account);
      return messageId;
    },
    deadLetters: (account) => dead.get(account) ?? [],
    pending: (account) => (queues.get(account)?.length ?? 0) + (busy.has(account) ? 1 : 0),
    concurrencyOf: (account) => tuned.get(account),
  };
}
