/**
 * Gives memory back once the runtime has gone quiet after work.
 *
 * A burst (provisioning thousands of tenants, a surge of signals) leaves V8
 * with a heap grown to fit it; once the governors are parked the garbage is
 * there to collect, but V8's own memory reducer judges by the allocation rate
 * it saw at its last collection (the burst's) and never runs in a process
 * that then does almost nothing. Measured on 10,000 parked governors: 220 MB
 * resident after ordinary full collections, 143 MB after one
 * memory-reducing collection.
 *
 * So: every `quietMs`, if work was done since the look before and none since,
 * one memory-reducing collection runs (V8's "last resort" flavour: full,
 * compacting, releases pooled pages, shrinks the young generation). Once per
 * quiet spell; never while work goes on. It needs the `gc` function that
 * `--expose-gc` gives (the service's launchers pass it, see node-flags.ts);
 * without it nothing happens.
 */
import type { Logger } from "pino";
import type { Clock } from "../ports.ts";

/** V8's `gc()` as `--expose-gc` defines it. */
export type GcFunction = (options?: { type?: "major" | "minor"; execution?: "sync" | "async"; flavor?: "regular" | "last-resort" }) => unknown;

export interface MemoryReclaimerOptions {
  readonly clock: Clock;
  /** How long the runtime must have done nothing (after doing something) before memory is given back. */
  readonly quietMs: number;
  /** A count that grows with every piece of work (receipts committed). */
  readonly activity: () => number;
  readonly logger: Pick<Logger, "debug">;
  /** Defaults to `globalThis.gc` (present with `--expose-gc`); null: none. */
  readonly gc?: GcFunction | null;
}

/** Starts looking every `quietMs`; returns how to stop. A `quietMs` of 0, or no `gc`, does nothing. */
export function startMemoryReclaimer(options: MemoryReclaimerOptions): { stop(): void; readonly reclaims: number } {
  const gc = options.gc === undefined ? (globalThis as { gc?: GcFunction }).gc : options.gc;
  let reclaims = 0;
  let timer: { cancel(): void } | null = null;
  const handle = {
    stop: () => timer?.cancel(),
    get reclaims() {
      return reclaims;
    },
  };
  if (gc === undefined || gc === null || options.quietMs <= 0) return handle;
  let seen = options.activity();
  let workSinceReclaim = false;
  const look = () => {
    const now = options.activity();
    if (now !== seen) {
      seen = now;
      workSinceReclaim = true;
    } else if (workSinceReclaim) {
      workSinceReclaim = false;
      const before = process.memoryUsage.rss();
      gc({ type: "major", execution: "sync", flavor: "last-resort" });
      reclaims++;
      options.logger.debug({ rssBefore: before, rssAfter: process.memoryUsage.rss() }, "quiet after work: memory given back");
    }
    timer = options.clock.setTimeout(look, options.quietMs);
  };
  timer = options.clock.setTimeout(look, options.quietMs);
  return handle;
}
