/**
 * Alerts as log lines: an error line with a stable `alert` code, which the
 * operator's log pipeline (journald, Cloud Logging) turns into a page.
 */
import type { Logger } from "pino";
import type { AlertSink } from "../../ports/index.ts";

export function createLogAlertSink(logger: Logger): AlertSink {
  return {
    alert: ({ code, message, ledger, details }) => logger.error({ alert: code, ledger, ...details }, message),
  };
}
