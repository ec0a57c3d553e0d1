/**
 * The V8 settings the service runs with, wherever it is started (`npm start`,
 * `npx governor`, the container); `test/unit/node-flags.test.ts` holds every
 * launcher to this list, and the benchmarks measure under it.
 *
 * `--expose-gc`: the runtime gives memory back once it has gone quiet after
 * work, with one memory-reducing collection (`app/memory-reclaimer.ts`
 * says why V8 does not do it by itself); without the flag it does not.
 *
 * Tried and left out: `--max-semi-space-size=8` (V8's young generation
 * otherwise grows to 128 MB in a burst). With the reclaimer the idle figure
 * is the same without it (145 MB against 144 MB for 10,000 idle governors),
 * and it cost 5-20% more CPU on busy paths (more, smaller scavenges).
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ["--expose-gc"];
