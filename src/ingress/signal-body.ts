/** A tenant's signal as every ingress takes it (HTTP body, Pub/Sub message data). */
import { z } from "zod";

export const SignalBody = z.strictObject({
  signal_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$/, "expected 1-256 characters: letters, digits, '.', '_', ':', '-'"),
  action: z.string().min(1).max(64),
  params: z.record(z.string(), z.unknown()).default({}),
});
export type SignalBody = z.infer<typeof SignalBody>;
