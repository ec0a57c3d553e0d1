/** The service's pino logger: secrets and signature headers are redacted wherever they appear. */
import { pino, type Logger } from "pino";

export const redactPaths = [
  "req.headers.authorization",
  "req.headers['webhook-signature']",
  "headers.authorization",
  "headers['webhook-signature']",
  "*.token",
  "*.secret",
  "*.webhook_secrets",
  "*.signing_keys",
  "*.privateKey",
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: "governor" },
      redact: { paths: redactPaths, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination as pino.DestinationStream | undefined,
  );
}
