/**
 * Shared shape of every benchmark figure: the measured value, the goal it is
 * held to, and the ratio between them, all from the same run.
 */

export interface Figure {
  /** What was measured, e.g. "verify 1,000,000-receipt archive". */
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The goal in words, e.g. ">= 0.7x bare canonicalize+hash loop (201,000/s)". */
  readonly goal: string;
  /** value / limit for "at least" goals, limit / value for "at most" goals: >= 1 meets the goal. */
  readonly ratio: number;
  readonly pass: boolean;
}

/** A figure that must be at least `limit`. */
export function atLeast(name: string, value: number, unit: string, limit: number, goal: string): Figure {
  const ratio = value / limit;
  return { name, value, unit, goal, ratio, pass: ratio >= 1 };
}

/** A figure that must be at most `limit`. */
export function atMost(name: string, value: number, unit: string, limit: number, goal: string): Figure {
  const ratio = value === 0 ? Number.POSITIVE_INFINITY : limit / value;
  return { name, value, unit, goal, ratio, pass: value <= limit };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error("percentile of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, idx)]!;
}

/** Runs `fn` `runs` times and returns the median of what it returns. */
export async function medianOf(runs: number, fn: () => Promise<number> | number): Promise<number> {
  const results: number[] = [];
  for (let i = 0; i < runs; i++) results.push(await fn());
  return median(results);
}

/** Options every bench module receives. */
export interface BenchOptions {
  /** Smaller sizes for a quick look (`npm run bench -- --quick`); figures are then not comparable to the goals. */
  readonly quick: boolean;
  /** A scratch directory that is removed after the run. */
  readonly scratch: string;
}

/** What every `bench/*.bench.ts` module exports. */
export type BenchModule = { run(options: BenchOptions): Promise<Figure[]> };
