/**
 * The consumer of tenants' signal channels (Pub/Sub): decodes each message as
 * a signal, submits it, and answers the source with a verdict.
 *
 * - ack once the signal's outcome is durable: accepted, a repeat, or refused
 *   with a receipt; also a signal for a tenant that takes none for good (not
 *   provisioned here, decommissioned): it is logged and dropped.
 * - nack to have it delivered again later: not accepting (starting, stopping),
 *   safe mode, a tenant being cancelled or out of service, a receipt not
 *   durable in time.
 * - reject a message that is not a signal: the source nacks it until its
 *   last delivery, on which a refusal receipt is written on the tenant's
 *   ledger before the source dead-letters it.
 */
import type { Logger } from "pino";
import type { GovernorService, SignalInput } from "../../app/governor-service.ts";
import type { InboundMessage, SignalHandler, Verdict } from "../../ports/index.ts";
import { decodeSignal } from "../signal-body.ts";

export interface SignalConsumerOptions {
  readonly logger: Logger;
  /** Largest message data taken as a signal (default DEFAULT_MAX_MESSAGE_BYTES); larger ones are not signals. */
  readonly maxMessageBytes?: number;
}

/** Reasons a signal is not taken now but may be later: its message comes back. */
const RETRIED: ReadonlySet<string> = new Set(["degraded", "decommissioning", "quarantined", "not_durable"]);

/** The handler a signal source delivers tenants' messages to. */
export function createSignalConsumer(service: GovernorService, options: SignalConsumerOptions): SignalHandler {
  const { logger } = options;

  const undeliverable = async (account: string, message: InboundMessage, reason: string): Promise<Verdict> => {
    logger.warn({ account, message_id: message.messageId, attempt: message.deliveryAttempt, final: message.final }, `undeliverable Pub/Sub message: ${reason}`);
    if (message.final) await service.recordUndeliverable(account, message.messageId, reason);
    return { reject: reason };
  };

  const submit = async (account: string, signal: SignalInput, message: InboundMessage): Promise<Verdict> => {
    const reply = await service.signal(account, signal);
    switch (reply.kind) {
      case "not_accepting":
        return "nack";
      case "unknown_tenant":
        logger.warn({ account, message_id: message.messageId }, "signal for a tenant that is not provisioned here; dropped");
        return "ack";
      case "unavailable":
        if (RETRIED.has(reply.reason)) return "nack";
        logger.warn({ account, message_id: message.messageId, signal_id: signal.signal_id, reason: reply.reason }, "signal for a tenant that takes none; dropped");
        return "ack";
      default:
        return "ack";
    }
  };

  return async (account, message) => {
    // Bounded as an HTTP body is (size, UTF-8, JSON limits) before anything else reads it.
    const decoded = decodeSignal(message.data, options.maxMessageBytes);
    if ("reason" in decoded) return undeliverable(account, message, decoded.reason);
    return submit(account, decoded.signal, message);
  };
}
