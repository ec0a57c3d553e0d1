/**
 * Signals through Google Cloud Pub/Sub.
 *
 * Every tenant has a topic `tenants.{account}.signals`, a subscription
 * `tenants.{account}.signals.governor` that the runtime consumes by streaming
 * pull (flow control tied to the tenant's concurrency), and a dead-letter
 * topic `tenants.{account}.signals.dead-letter` with a subscription that keeps
 * what lands there. Provisioning creates them, cancellation deletes them.
 *
 * The adapter never decodes a message: it hands it, as received, to the
 * handler given to `start` (ingress decodes and judges it) and acts on the
 * verdict. "ack" acknowledges it (the handler says so only once the signal's
 * outcome is durable); "nack" (safe mode, say) has Pub/Sub deliver it again
 * later; a rejection is nacked until its last allowed delivery (`final`),
 * then published to the dead-letter topic with the reason and acked. The
 * adapter forwards it itself, with the reason, so the subscription's own
 * dead-letter policy is set far higher (100 deliveries): a valid signal nacked
 * through a long safe-mode spell must come back, not be dead-lettered
 * silently; one that has been nacked 90 times is published again (a fresh
 * count) and acked. The policy stays as the backstop for messages this
 * process never gets to judge (it crashes on them, say).
 *
 * A signal's tenant is the topic it arrived on (the handler gets the account
 * of the subscription), never anything in the message, and attributes are
 * never handed on. Who may publish to a tenant's topic is who may act on that
 * tenant (infra/terraform grants each tenant's publisher its own topic alone).
 *
 * Marketplace procurement events can arrive on a subscription of their own
 * (`createPubSubProcurementSource`), handed on undecoded in the same way.
 */
import { PubSub, type Message, type Subscription, type Topic } from "@google-cloud/pubsub";
import type { Logger } from "pino";
import type { ChannelProvisioner, InboundMessage, ProcurementHandler, ProcurementSource, SignalHandler, SignalSource, Verdict } from "../../ports/index.ts";

/** A Pub/Sub client: the emulator when PUBSUB_EMULATOR_HOST is set (the client reads it), else Google Cloud. */
export function createPubSubClient(options: { projectId?: string } = {}): PubSub {
  const projectId = options.projectId ?? process.env["GOOGLE_CLOUD_PROJECT"];
  return new PubSub(projectId === undefined ? {} : { projectId });
}

export interface PubSubChannelsOptions {
  readonly pubsub: PubSub;
  /** Deliveries before a rejected message is dead-lettered (Pub/Sub's minimum is 5). */
  readonly maxDeliveryAttempts?: number;
  /** Messages outstanding at once per tenant until `tune` sets it (default 100). */
  readonly maxMessages?: (account: string) => number;
  /** Redelivery backoff after a nack (Pub/Sub's minimum is 0, its default 10 s). */
  readonly minimumBackoffSeconds?: number;
  readonly logger: Logger;
}

const ALREADY_EXISTS = 6;
/** The subscriptions' own dead-letter policy: a backstop far above the adapter's limit for rejected messages. */
const BACKSTOP_ATTEMPTS = 100;
/** A message nacked this often is republished (its delivery count starts again) before the backstop is near. */
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

/** A message as the handler sees it: Pub/Sub counts deliveries only on a subscription with a dead-letter policy, so 0 means the first. */
function inbound(message: Message, maxAttempts: number): InboundMessage {
  const deliveryAttempt = message.deliveryAttempt > 0 ? message.deliveryAttempt : 1;
  return { data: message.data, messageId: message.id, deliveryAttempt, final: deliveryAttempt >= maxAttempts, publishedAt: message.publishTime.getTime() };
}

/** Tenant channels on Pub/Sub: provisions them, and delivers what arrives on them once started. */
export interface PubSubChannels extends ChannelProvisioner, SignalSource {
  /** Sets how many of a tenant's messages may be outstanding at once (reopens its stream, if consumed). */
  setFlowControl(account: string, maxMessages: number): void;
  /** Flow control follows concurrency: four times the slots (a queue's worth waiting), from 10 to 1,000 messages. */
  tune(account: string, concurrency: number): void;
  /** Stops consuming every subscription (resources stay); `start` consumes them again. */
  close(): Promise<void>;
}

/** Outstanding messages for a concurrency. */
export const flowFor = (concurrency: number) => Math.min(1000, Math.max(10, 4 * concurrency));

export function createPubSubChannels(options: PubSubChannelsOptions): PubSubChannels {
  const { pubsub, logger } = options;
  const maxAttempts = options.maxDeliveryAttempts ?? 5;
  /** Every channel created (or found) here: consumed while a handler is set. */
  const provisioned = new Set<string>();
  const open = new Map<string, { subscription: Subscription; deadLetter: Topic; maxMessages: number }>();
  /** Flow control set for a tenant (tune), kept for when its channel is consumed. */
  const flow = new Map<string, number>();
  let handler: SignalHandler | null = null;

  const settle = async (account: string, deadLetter: Topic, message: Message, delivered: InboundMessage, verdict: Verdict) => {
    if (verdict === "ack") {
      message.ack();
    } else if (verdict === "nack") {
      if (delivered.deliveryAttempt < REPUBLISH_AFTER) {
        message.nack();
        return;
      }
      // Still wanted later, but close to the backstop policy's limit: a fresh copy, then this one is done.
      await pubsub.topic(topicName(account)).publishMessage({ data: message.data, attributes: message.attributes });
      message.ack();
    } else if (!delivered.final) {
      message.nack();
    } else {
      const reason = verdict.reject.slice(0, 1024);
      await deadLetter.publishMessage({ data: message.data, attributes: { ...message.attributes, "governor-dead-letter-reason": reason, "governor-message-id": message.id } });
      message.ack();
    }
  };

  const consume = (account: string, maxMessages: number, deliver: SignalHandler) => {
    const deadLetter = pubsub.topic(deadLetterTopicName(account));
    const subscription = pubsub.subscription(subscriptionName(account), {
      flowControl: { maxMessages, allowExcessMessages: false },
      // A tenant gets at most about maxMessages per ack flush interval: with few messages allowed out
      // at once, acks leave every 10 ms; with many, the client's 100 ms batches them (fewer calls).
      batching: { maxMilliseconds: maxMessages >= 200 ? 100 : 10 },
    });
    subscription.on("message", (message: Message) => {
      const delivered = inbound(message, maxAttempts);
      deliver(account, delivered)
        .then((verdict) => settle(account, deadLetter, message, delivered, verdict))
        .catch((err: unknown) => {
          logger.error({ account, message_id: message.id, err }, "a Pub/Sub message could not be handled; it will be delivered again");
          message.nack();
        });
    });
    subscription.on("error", (err: Error) => logger.error({ account, err }, "Pub/Sub subscription stream failed; the client reconnects"));
    open.set(account, { subscription, deadLetter, maxMessages });
  };

  const maxMessagesOf = (account: string) => Math.max(1, flow.get(account) ?? options.maxMessages?.(account) ?? 100);
  const consumeIfStarted = (account: string) => {
    if (handler !== null && !open.has(account)) consume(account, maxMessagesOf(account), handler);
  };

  return {
    async start(deliver) {
      handler = deliver;
      for (const account of provisioned) consumeIfStarted(account);
    },
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
      provisioned.add(account);
      consumeIfStarted(account);
      return topic.name;
    },
    async delete(account) {
      provisioned.delete(account);
      flow.delete(account);
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
      flow.set(account, maxMessages);
      const running = open.get(account);
      if (running === undefined || running.maxMessages === maxMessages) return;
      open.delete(account);
      void running.subscription.close().then(() => {
        if (handler !== null && provisioned.has(account) && !open.has(account)) consume(account, maxMessages, handler);
      });
    },
    async close() {
      handler = null;
      const all = [...open.values()];
      open.clear();
      await Promise.all(all.map((o) => o.subscription.close()));
    },
  };
}

export interface PubSubProcurementOptions {
  readonly pubsub: PubSub;
  /** The procurement topic Google Cloud Marketplace publishes to, and our subscription on it. */
  readonly topic: string;
  readonly subscription: string;
  readonly logger: Logger;
}

/**
 * Marketplace procurement messages. The subscription has no dead-letter
 * topic: a message the handler rejects can never become an event, so it is
 * logged and acknowledged at once (every delivery is `final`), not retried
 * forever; "nack" delivers it again later.
 */
export function createPubSubProcurementSource(options: PubSubProcurementOptions): ProcurementSource {
  const { pubsub, logger } = options;
  let subscription: Subscription | null = null;
  const settle = (message: Message, verdict: Verdict) => {
    if (verdict === "ack") return message.ack();
    if (verdict === "nack") return message.nack();
    logger.error({ message_id: message.id, code: "PROCUREMENT_EVENT_INVALID", reason: verdict.reject }, `procurement message rejected: ${verdict.reject}; acknowledged and dropped`);
    message.ack();
  };
  return {
    async start(handler: ProcurementHandler) {
      if (subscription !== null) return;
      // Marketplace's own topic lives in Google's project and is named in full (projects/…/topics/…):
      // subscribe to it as it is. A short name is a topic of this project, created if absent.
      const topic = options.topic.startsWith("projects/")
        ? pubsub.topic(options.topic)
        : ((await ignoring(ALREADY_EXISTS, async () => (await pubsub.createTopic(options.topic))[0])) ?? pubsub.topic(options.topic));
      await ignoring(ALREADY_EXISTS, () => topic.createSubscription(options.subscription, { ackDeadlineSeconds: 60 }));
      const consuming = pubsub.subscription(options.subscription, { flowControl: { maxMessages: 50 } });
      consuming.on("message", (message: Message) => {
        handler(inbound(message, 1)).then(
          (verdict) => settle(message, verdict),
          (err: unknown) => {
            logger.error({ message_id: message.id, err }, "procurement message failed; it will be delivered again");
            message.nack();
          },
        );
      });
      consuming.on("error", (err: Error) => logger.error({ err }, "procurement subscription stream failed; the client reconnects"));
      subscription = consuming;
    },
    async close() {
      const running = subscription;
      subscription = null;
      await running?.close();
    },
  };
}
