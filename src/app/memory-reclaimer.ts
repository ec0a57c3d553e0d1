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
 * quiet spell; never while work goes on.
 *
 * Sooner (`youngQuietMs`), the young generation is collected twice: what a
 * burst left alive (a thousand actions under way, their receipts, their
 * handlers' promises) is promoted while the runtime waits, instead of being
 * copied by the first scavenge of the next burst, which is often the burst of
 * their own deadlines. Measured on 1,000 actions timing out together: a
 * scavenge of 8-12 ms inside those 25 ms before, none after.
 *
 * Both need the `gc` function that `--expose-gc` gives (the service's
 * launchers pass it, see node-flags.ts); without it nothing happens.
 */
import type { Logger } from "pino";
import type { Clock } from "../ports/index.ts";

/** V8's `gc()` as `--expose-gc` defines it. */
export type GcFunction = (options?: { type?: "major" | "minor"; execution?: "sync" | "async"; flavor?: "regular" | "last-resort" }) => unknown;

export interface MemoryReclaimerOptions {
  readonly clock: Clock;
  /** How long the runtime must have done nothing (after doing something) before memory is given back. */
  readonly quietMs: number;
  /** How long the runtime must have done nothing (after doing something) before its young generation is collected; 0 or absent: never. */
  readonly youngQuietMs?: number;
  /** A count that grows with every piece of work (receipts committed). */
  readonly activity: () => number;
  readonly logger: Pick<Logger, "debug">;
  /** Defaults to `globalThis.gc` (present with `--expose-gc`); null: none. */
  readonly gc?: GcFunction | null;
}

/** Starts looking every `quietMs` (and `youngQuietMs`); returns how to stop. A period of 0, or no `gc`, does nothing. */
export function startMemoryReclaimer(options: MemoryReclaimerOptions): { stop(): void; readonly reclaims: number; readonly youngCollections: number } {
  const gc = options.gc === undefined ? (globalThis as { gc?: GcFunction }).gc : options.gc;
  let reclaims = 0;
  let youngCollections = 0;
  const loops: { cancel(): void }[] = [];
  const handle = {
    stop: () => {
      for (const loop of loops) loop.cancel();
    },
    get reclaims() {
      return reclaims;
    },
    get youngCollections() {
      return youngCollections;
    },
  };
  if (gc === undefined || gc === null) return handle;
  loops.push(whenQuiet(options, options.quietMs, () => {
    const before = process.memoryUsage.rss();
    gc({ type: "major", execution: "sync", flavor: "last-resort" });
    reclaims++;
    options.logger.debug({ rssBefore: before, rssAfter: process.memoryUsage.rss() }, "quiet after work: memory given back");
  }));
  loops.push(whenQuiet(options, options.youngQuietMs ?? 0, () => {
    // Twice: a scavenge moves what survives it once; the second promotes it.
    gc({ type: "minor" });
    gc({ type: "minor" });
    youngCollections++;
  }));
  return handle;
}

/** Every `periodMs`, runs `collect` if work was done since the look before and none since: once per quiet spell. */
function whenQuiet(options: MemoryReclaimerOptions, periodMs: number, collect: () => void): { cancel(): void } {
  let timer: { cancel(): void } | null = null;
  if (periodMs > 0) {
    let seen = options.activity();
    let workSinceCollect = false;
    const look = () => {
      const now = options.activity();
      if (now !== seen) {
        seen = now;
        workSinceCollect = true;
      } else if (workSinceCollect) {
        workSinceCollect = false;
        collect();
      }
      timer = options.clock.setTimeout(look, periodMs);
    };
    timer = options.clock.setTimeout(look, periodMs);
  }
  return { cancel: () => timer?.cancel() };
}
