/** Prometheus metrics at `/metrics`: platform health, never business data. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface Metrics {
  readonly registry: Registry;
  readonly signals: Counter<"outcome">;
  readonly signalLatency: Histogram<"outcome">;
  readonly marketplaceEvents: Counter<"type" | "status">;
  readonly httpErrors: Counter<"code">;
  readonly governors: Gauge<"state">;
  readonly safeMode: Gauge;
}

export function createMetrics(collect: { governorsByState(): Record<string, number>; safeMode(): boolean }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "governor_process_" });
  const m: Metrics = {
    registry,
    signals: new Counter({ name: "governor_signals_total", help: "Signals by outcome", labelNames: ["outcome"], registers: [registry] }),
    signalLatency: new Histogram({
      name: "governor_signal_decision_seconds",
      help: "Time from a signal's arrival to its durable decision",
      labelNames: ["outcome"],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    marketplaceEvents: new Counter({ name: "governor_marketplace_events_total", help: "Marketplace events by type and HTTP status", labelNames: ["type", "status"], registers: [registry] }),
    httpErrors: new Counter({ name: "governor_http_errors_total", help: "API errors by stable code", labelNames: ["code"], registers: [registry] }),
    governors: new Gauge({
      name: "governor_governors",
      help: "Governors by lifecycle state",
      labelNames: ["state"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [state, n] of Object.entries(collect.governorsByState())) this.set({ state }, n);
      },
    }),
    safeMode: new Gauge({
      name: "governor_safe_mode",
      help: "1 while the store is degraded and actions are refused",
      registers: [registry],
      collect() {
        this.set(collect.safeMode() ? 1 : 0);
      },
    }),
  };
  return m;
}
