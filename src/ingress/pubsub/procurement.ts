/**
 * The consumer of Marketplace procurement events (Pub/Sub): decodes each
 * message and hands it to the marketplace workflows once per event id, then
 * answers the source with a verdict. With a Google provider id the messages
 * are Google's notifications (the resource is read from the Procurement
 * API: src/app/google-marketplace.ts); without one they are full events,
 * as the signed webhook takes them.
 *
 * - ack when the event is done, or refused for good (its receipt says why);
 *   also a message that is not an event (or names another provider): it
 *   never becomes one, so it is logged and dropped rather than retried
 *   forever.
 * - nack when it is held back or the tenant is busy (409: still draining,
 *   the delivery under way elsewhere, the account not signed up yet) or a
 *   dependency failed (500, 503: safe mode, the Procurement API down): it
 *   comes back later.
 */
import type { Logger } from "pino";
import { MarketplaceEvent, ProcurementNotification, type GovernorService, type MarketplaceOutcome } from "../../app/governor-service.ts";
import type { InboundMessage, ProcurementHandler, Verdict } from "../../ports/index.ts";
import { decodeMessageJson } from "../signal-body.ts";

export interface ProcurementConsumerOptions {
  readonly logger: Logger;
  /**
   * Google Cloud Marketplace's provider id: messages are Google's
   * notifications (read through the Procurement API); a notification for
   * another provider is dropped. Absent: messages are full events, as the
   * signed webhook takes them.
   */
  readonly googleProviderId?: string;
  /** Largest message data taken as an event (default DEFAULT_MAX_MESSAGE_BYTES). */
  readonly maxMessageBytes?: number;
}

/** The handler a procurement source delivers messages to. */
export function createProcurementConsumer(service: GovernorService, options: ProcurementConsumerOptions): ProcurementHandler {
  const { logger } = options;
  return async (message) => {
    const json = decodeMessageJson(message.data, options.maxMessageBytes);
    if ("reason" in json) {
      logger.error({ message_id: message.messageId, code: "PROCUREMENT_EVENT_INVALID" }, `procurement ${json.reason}; acknowledged and dropped`);
      return "ack";
    }
    if (options.googleProviderId !== undefined) return notification(service, options.googleProviderId, logger, message, json.value);
    const parsed = MarketplaceEvent.safeParse(json.value);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "data"}: ${i.message}`);
      logger.error({ message_id: message.messageId, code: "PROCUREMENT_EVENT_INVALID", issues }, "procurement message is not a Marketplace event; acknowledged and dropped");
      return "ack";
    }
    const event = parsed.data;
    const sentAt = message.publishedAt === undefined ? {} : { sentAt: message.publishedAt };
    const outcome = await service.marketplaceEvent({ source: "procurement", id: event.eventId, ...sentAt }, event);
    return verdictOf(outcome, event.eventId, logger);
  };
}

/** A Google notification: dropped when it is not one or names another provider, else handled (nack: it comes again). */
async function notification(service: GovernorService, providerId: string, logger: Logger, message: InboundMessage, value: unknown): Promise<Verdict> {
  const parsed = ProcurementNotification.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "data"}: ${i.message}`);
    logger.error({ message_id: message.messageId, code: "PROCUREMENT_EVENT_INVALID", issues }, "procurement message is not a Marketplace notification; acknowledged and dropped");
    return "ack";
  }
  const n = parsed.data;
  if (n.providerId !== undefined && n.providerId !== providerId) {
    logger.error({ message_id: message.messageId, event_id: n.eventId, code: "PROCUREMENT_FOREIGN_PROVIDER" }, "procurement notification for another provider; acknowledged and dropped");
    return "ack";
  }
  const outcome = await service.procurementNotification(n, message.publishedAt);
  return verdictOf(outcome, n.eventId, logger);
}

/** 409 (held back, busy) and 5xx (a dependency failed) come again; anything else is final. */
function verdictOf(outcome: MarketplaceOutcome, eventId: string, logger: Logger): Verdict {
  if (outcome.status === 409 || outcome.status === 500 || outcome.status === 503) return "nack";
  if ("code" in outcome) logger.warn({ event_id: eventId, code: outcome.code }, outcome.message);
  return "ack";
}
