/**
 * The scaler's tick: every interval, outside safe mode, each governor looks
 * at its own lag and decides (governors/deciders/scale.ts).
 */
import type { Clock } from "../ports/index.ts";

export class ScalerTick {
  readonly #o: { readonly clock: Clock; readonly everyMs: number; readonly tick: () => void; readonly paused: () => boolean };
  #timer: { cancel(): void } | null = null;

  constructor(options: { clock: Clock; everyMs: number; tick: () => void; paused: () => boolean }) {
    this.#o = options;
  }

  start(): void {
    const { clock, everyMs, tick, paused } = this.#o;
    if (everyMs <= 0 || this.#timer !== null) return;
    const next = () => {
      if (!paused()) tick();
      this.#timer = clock.setTimeout(next, everyMs);
    };
    this.#timer = clock.setTimeout(next, everyMs);
  }

  stop(): void {
    this.#timer?.cancel();
  }
}
