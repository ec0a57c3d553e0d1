/**
 * Signals through Google Cloud Pub/Sub.
 *
 * Every tenant has a topic `tenants.{account}.signals`, a subscription
 * `tenants.{account}.signals.governor` that the runtime consumes by streaming
 * pull (flow control tied to the tenant's concurrency), and a dead-letter
 * topic `tenants.{account}.signals.dead-letter` with a subscription that keeps
 * what lands there. Provisioning creates them, cancellation deletes them.
 *
 * A message is acknowledged only once `onSignal` says so, and the runtime
 * says so only once the signal's receipt is durable; "nack" (safe mode) makes
 * Pub/Sub deliver it again later. A message that does not decode as a signal
 * is nacked until its last allowed delivery; then `onUndeliverable` records it
 * and it is published to the dead-letter topic (with the reason) and acked.
 * The adapter forwards it itself, with the reason, so the subscription's own
 * dead-letter policy is set far higher (100 deliveries): a valid signal nacked
 * through a long safe-mode spell must come back, not be dead-lettered
 * silently; one that has been nacked 90 times is published again (a fresh
 * count) and acked. The policy stays as the backstop for messages this
 * process never gets to judge (it crashes on them, say).
 *
 * A signal's tenant is the topic it arrived on (`onSignal` gets the account of
 * the subscription), never anything in the message: the signal schema is
 * closed, so a message naming an account (`account_id`) is not a signal and
 * is dead-lettered, and attributes are never read for it. Who may publish to
 * a tenant's topic is who may act on that tenant (infra/terraform grants each
 * tenant's publisher its own topic alone).
 *
 * Marketplace procurement events can arrive on a subscription of their own,
 * in Google Cloud Marketplace's message shape.
 */
import { PubSub, type Message, type Subscription, type Topic } from "@google-cloud/pubsub";
import type { Logger } from "pino";
import { decodeMessageJson, decodeSignal, type SignalBody } from "../../ingress/signal-body.ts";
import type { SignalChannels } from "../../ports.ts";
import { MarketplaceEvent } from "../../runtime/marketplace.ts";

/** A Pub/Sub client: the emulator when PUBSUB_EMULATOR_HOST is set (the client reads it), else Google Cloud. */
export function createPubSubClient(options: { projectId?: string } = {}): PubSub {
  const projectId = options.projectId ?? process.env["GOOGLE_CLOUD_PROJECT"];
  return new PubSub(projectId === undefined ? {} : { projectId });
}

/** One delivery of a tenant's message, as the runtime sees it. */
export interface Delivery {
  readonly id: string;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
  /** 1 on the first delivery (Pub/Sub counts it when the subscription has a dead-letter policy). */
  readonly deliveryAttempt: number;
  readonly publishTime: Date;
}

export interface PubSubChannelsOptions {
  readonly pubsub: PubSub;
  /** Judges a decoded signal: "ack" once its receipt is durable, "nack" to have it delivered again later. */
  readonly onSignal: (account: string, signal: SignalBody, delivery: Delivery) => Promise<"ack" | "nack">;
  /** A message that is not a signal; `final` on its last allowed delivery, just before it goes to the dead-letter topic. */
  readonly onUndeliverable: (account: string, delivery: Delivery, reason: string, final: boolean) => Promise<void>;
  /** Deliveries before a message is dead-lettered (Pub/Sub's minimum is 5). */
  readonly maxDeliveryAttempts?: number;
  /** Largest message data taken as a signal (default DEFAULT_MAX_MESSAGE_BYTES); larger ones are not signals. */
  readonly maxMessageBytes?: number;
  /** Messages outstanding at once per tenant, from its concurrency (default 100). */
  readonly maxMessages?: (account: string) => number;
  /** Redelivery backoff after a nack (Pub/Sub's minimum is 0, its default 10 s). */
  readonly minimumBackoffSeconds?: number;
  readonly logger: Logger;
}

const ALREADY_EXISTS = 6;
/** The subscriptions' own dead-letter policy: a backstop far above the adapter's limit for undecodable messages. */
const BACKSTOP_ATTEMPTS = 100;
/** A valid signal nacked this often is republished (its delivery count starts again) before the backstop is near. */
const REPUBLISH_AFTER = 90;
const NOT_FOUND = 5;

export const topicName = (account: string) => `tenants.${account}.signals`;
const subscriptionName = (account: string) => `${topicName(account)}.governor`;
const deadLetterTopicName = (account: string) => `${topicName(account)}.dead-letter`;
const deadLetterSubscriptionName = (account: string) => `${topicName(account)}.dead-letter.keep`;

const code = (err: unknown) => (err as { code?: unknown }).code;
async function ignoring<T>(codeToIgnore: number, run: () => Promise<T>): Promise<T | null> {
  try {
    return await run();
  } catch (err) {
    if (code(err) === codeToIgnore) return null;
    throw err;
  }
}

export interface PubSubChannels extends SignalChannels {
  /** Sets how many of a tenant's messages may be outstanding at once (reopens its stream). */
  setFlowControl(account: string, maxMessages: number): void;
  /** Flow control follows concurrency: four times the slots (a queue's worth waiting), from 10 to 1,000 messages. */
  tune(account: string, concurrency: number): void;
  /** Stops consuming every subscription (resources stay). */
  close(): Promise<void>;
}

/** Outstanding messages for a concurrency. */
export const flowFor = (concurrency: number) => Math.min(1000, Math.max(10, 4 * concurrency));

export function createPubSubChannels(options: PubSubChannelsOptions): PubSubChannels {
  const { pubsub, logger } = options;
  const maxAttempts = options.maxDeliveryAttempts ?? 5;
  const open = new Map<string, { subscription: Subscription; deadLetter: Topic; maxMessages: number }>();

  const judge = async (account: string, deadLetter: Topic, message: Message) => {
    const delivery: Delivery = {
      id: message.id,
      data: message.data,
      attributes: message.attributes,
      deliveryAttempt: message.deliveryAttempt > 0 ? message.deliveryAttempt : 1,
      publishTime: message.publishTime,
    };
    // Bounded as an HTTP body is (size, UTF-8, JSON limits) before anything else reads it.
    const decoded = decodeSignal(message.data, options.maxMessageBytes);
    if ("signal" in decoded) {
      const verdict = await options.onSignal(account, decoded.signal, delivery);
      if (verdict === "ack") message.ack();
      else if (delivery.deliveryAttempt >= REPUBLISH_AFTER) {
        // Still wanted later, but close to the backstop policy's limit: a fresh copy, then this one is done.
        await pubsub.topic(topicName(account)).publishMessage({ data: message.data, attributes: message.attributes });
        message.ack();
      } else message.nack();
      return;
    }
    const { reason } = decoded;
    const final = delivery.deliveryAttempt >= maxAttempts;
    await options.onUndeliverable(account, delivery, reason, final);
    if (!final) {
      message.nack();
      return;
    }
    await deadLetter.publishMessage({ data: message.data, attributes: { ...message.attributes, "governor-dead-letter-reason": reason.slice(0, 1024), "governor-message-id": message.id } });
    message.ack();
  };

  const consume = (account: string, maxMessages: number) => {
    const deadLetter = pubsub.topic(deadLetterTopicName(account));
    const subscription = pubsub.subscription(subscriptionName(account), {
      flowControl: { maxMessages, allowExcessMessages: false },
      // A tenant gets at most about maxMessages per ack flush interval: with few messages allowed out
      // at once, acks leave every 10 ms; with many, the client's 100 ms batches them (fewer calls).
      batching: { maxMilliseconds: maxMessages >= 200 ? 100 : 10 },
    });
    subscription.on("message", (message: Message) => {
      judge(account, deadLetter, message).catch((err: unknown) => {
        logger.error({ account, message_id: message.id, err }, "a Pub/Sub message could not be handled; it will be delivered again");
        message.nack();
      });
    });
    subscription.on("error", (err: Error) => logger.error({ account, err }, "Pub/Sub subscription stream failed; the client reconnects"));
    open.set(account, { subscription, deadLetter, maxMessages });
  };

  const maxMessagesOf = (account: string) => Math.max(1, options.maxMessages?.(account) ?? 100);

  return {
    async create(account) {
      const topic = (await ignoring(ALREADY_EXISTS, async () => (await pubsub.createTopic(topicName(account)))[0])) ?? pubsub.topic(topicName(account));
      const deadLetter =
        (await ignoring(ALREADY_EXISTS, async () => (await pubsub.createTopic(deadLetterTopicName(account)))[0])) ?? pubsub.topic(deadLetterTopicName(account));
      await ignoring(ALREADY_EXISTS, () => deadLetter.createSubscription(deadLetterSubscriptionName(account)));
      await ignoring(ALREADY_EXISTS, () =>
        topic.createSubscription(subscriptionName(account), {
          ackDeadlineSeconds: 30,
          deadLetterPolicy: { deadLetterTopic: deadLetter.name, maxDeliveryAttempts: BACKSTOP_ATTEMPTS },
          retryPolicy: { minimumBackoff: { seconds: options.minimumBackoffSeconds ?? 1 }, maximumBackoff: { seconds: 60 } },
        }),
      );
      if (!open.has(account)) consume(account, maxMessagesOf(account));
      return topic.name;
    },
    async delete(account) {
      const running = open.get(account);
      open.delete(account);
      await running?.subscription.close();
      await ignoring(NOT_FOUND, () => pubsub.subscription(subscriptionName(account)).delete());
      await ignoring(NOT_FOUND, () => pubsub.topic(topicName(account)).delete());
      // The dead letters are kept: they are evidence, and cheap.
    },
    tune(account, concurrency) {
      this.setFlowControl(account, flowFor(concurrency));
    },
    setFlowControl(account, maxMessages) {
      const running = open.get(account);
      if (running === undefined || running.maxMessages === maxMessages) return;
      open.delete(account);
      void running.subscription.close().then(() => {
        if (!open.has(account)) consume(account, maxMessages);
      });
    },
    async close() {
      const all = [...open.values()];
      open.clear();
      await Promise.all(all.map((o) => o.subscription.close()));
    },
  };
}

export interface ProcurementOptions {
  readonly pubsub: PubSub;
  /** The procurement topic Google Cloud Marketplace publishes to, and our subscription on it. */
  readonly topic: string;
  readonly subscription: string;
  /** Handles one event: "ack" when done (or permanently refused), "nack" to see it again. */
  readonly onEvent: (event: MarketplaceEvent, delivery: Delivery) => Promise<"ack" | "nack">;
  /** Largest message data taken as an event (default DEFAULT_MAX_MESSAGE_BYTES). */
  readonly maxMessageBytes?: number;
  readonly logger: Logger;
}

/**
 * Consumes Marketplace procurement events. A message that is not an event
 * never becomes one: it is logged and acknowledged, not retried forever.
 */
export async function subscribeProcurement(options: ProcurementOptions): Promise<{ close(): Promise<void> }> {
  const { pubsub, logger } = options;
  // Marketplace's own topic lives in Google's project and is named in full (projects/…/topics/…):
  // subscribe to it as it is. A short name is a topic of this project, created if absent.
  const foreign = options.topic.startsWith("projects/");
  const topic = foreign
    ? pubsub.topic(options.topic)
    : ((await ignoring(ALREADY_EXISTS, async () => (await pubsub.createTopic(options.topic))[0])) ?? pubsub.topic(options.topic));
  await ignoring(ALREADY_EXISTS, () => topic.createSubscription(options.subscription, { ackDeadlineSeconds: 60 }));
  const subscription = pubsub.subscription(options.subscription, { flowControl: { maxMessages: 50 } });
  subscription.on("message", (message: Message) => {
    const delivery: Delivery = { id: message.id, data: message.data, attributes: message.attributes, deliveryAttempt: message.deliveryAttempt || 1, publishTime: message.publishTime };
    const json = decodeMessageJson(message.data, options.maxMessageBytes);
    if ("reason" in json) {
      logger.error({ message_id: message.id, code: "PROCUREMENT_EVENT_INVALID" }, `procurement ${json.reason}; acknowledged and dropped`);
      message.ack();
      return;
    }
    const parsed = MarketplaceEvent.safeParse(json.value);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "data"}: ${i.message}`);
      logger.error({ message_id: message.id, code: "PROCUREMENT_EVENT_INVALID", issues }, "procurement message is not a Marketplace event; acknowledged and dropped");
      message.ack();
      return;
    }
    options.onEvent(parsed.data, delivery).then(
      (verdict) => (verdict === "ack" ? message.ack() : message.nack()),
      (err: unknown) => {
        logger.error({ message_id: message.id, err }, "procurement event failed; it will be delivered again");
        message.nack();
      },
    );
  });
  subscription.on("error", (err: Error) => logger.error({ err }, "procurement subscription stream failed; the client reconnects"));
  return { close: () => subscription.close() };
}
