/**
 * Driving port: where tenant signals come from (embedded: in-process calls;
 * GCP: a Pub/Sub subscription per tenant). A source delivers messages as it
 * received them and never decodes them: ingress decodes and judges each one.
 */

/** One message as a source delivers it: never decoded by the adapter. */
export interface InboundMessage {
  readonly data: Uint8Array;
  readonly messageId: string;
  /** 1 on the first delivery. */
  readonly deliveryAttempt: number;
  /** True on the last delivery the source will attempt before it dead-letters the message itself. */
  readonly final: boolean;
  /** When the source received it (epoch ms), if it says. */
  readonly publishedAt?: number;
}

/**
 * ack: done with it; nack: deliver it again later; reject: it can never be
 * taken: dead-letter it with the reason (at once when final, else after
 * nack-until-final as today).
 */
export type Verdict = "ack" | "nack" | { readonly reject: string };

/** A tenant's signals: the account is the channel the message arrived on, never anything inside it. */
export type SignalHandler = (account: string, message: InboundMessage) => Promise<Verdict>;

/** Delivers every tenant's signals to one handler until closed. */
export interface SignalSource {
  /** Starts delivering to `handler`, from every channel that exists or is created later. */
  start(handler: SignalHandler): Promise<void>;
  /** Stops delivering; messages not yet answered are delivered again later. */
  close(): Promise<void>;
}
