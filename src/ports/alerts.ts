/** Alerts for humans: unrecoverable action failures, escalations, safe mode. */
export interface AlertSink {
  alert(alert: { code: string; message: string; ledger?: string; details?: Record<string, unknown> }): void;
}
