/**
 * Driving port: where marketplace procurement events come from (GCP: the
 * marketplace's Pub/Sub subscription). Like the signal source, it delivers
 * messages undecoded; ingress decodes them and answers with a verdict.
 */
import type { InboundMessage, Verdict } from "./signal-source.ts";

/** Handles one procurement message. */
export type ProcurementHandler = (message: InboundMessage) => Promise<Verdict>;

/** Delivers marketplace procurement messages to one handler until closed. */
export interface ProcurementSource {
  start(handler: ProcurementHandler): Promise<void>;
  close(): Promise<void>;
}
