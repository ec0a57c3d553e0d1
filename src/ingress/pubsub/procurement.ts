/**
 * The consumer of Marketplace procurement events (Pub/Sub): decodes each
 * message as an event, hands it to the marketplace workflows once per event
 * id, and answers the source with a verdict.
 *
 * - ack when the event is done, or refused for good (its receipt says why);
 *   also a message that is not an event: it never becomes one, so it is
 *   logged and dropped rather than retried forever.
 * - nack when the tenant is busy (409: still draining, or the delivery is
 *   under way elsewhere) or in safe mode (503): it comes back later.
 */
import type { Logger } from "pino";
import { MarketplaceEvent, type GovernorService } from "../../app/governor-service.ts";
import type { ProcurementHandler } from "../../ports/index.ts";
import { decodeMessageJson } from "../signal-body.ts";

export interface ProcurementConsumerOptions {
  readonly logger: Logger;
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
    const parsed = MarketplaceEvent.safeParse(json.value);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "data"}: ${i.message}`);
      logger.error({ message_id: message.messageId, code: "PROCUREMENT_EVENT_INVALID", issues }, "procurement message is not a Marketplace event; acknowledged and dropped");
      return "ack";
    }
    const event = parsed.data;
    const sentAt = message.publishedAt === undefined ? {} : { sentAt: message.publishedAt };
    const outcome = await service.marketplaceEvent({ source: "procurement", id: event.eventId, ...sentAt }, event);
    if (outcome.status === 409 || outcome.status === 503) return "nack";
    if ("code" in outcome) logger.warn({ event_id: event.eventId, code: outcome.code }, outcome.message);
    return "ack";
  };
}
