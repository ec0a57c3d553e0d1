/**
 * Work run one at a time per key (an entitlement, a procurement account):
 * each runs after the work queued before it on the same key, so what they
 * decide is decided in one order. Keys with nothing queued are forgotten.
 */
export class Turns {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `work` once the work queued before it on `key` has settled; its outcome is `work`'s. */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const tail = before.then(() => mine);
    this.#tails.set(key, tail);
    try {
      await before;
      return await work();
    } finally {
      done();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
