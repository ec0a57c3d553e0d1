/**
 * The V8 settings the service runs with, wherever it is started (`npm start`,
 * `npx governor`, the container); `test/unit/node-flags.test.ts` holds every
 * launcher to this list, and the benchmarks measure under it.
 *
 * `--max-semi-space-size=8`: V8's young generation otherwise grows to 128 MB
 * (two 64 MB semi-spaces on a machine with this much memory) during a burst
 * such as provisioning thousands of tenants, and keeps it: an idle process
 * then holds it for good. 8 MB semi-spaces cut the resident memory of 10,000
 * idle governors by about 90 MB (`npm run bench -- --only runtime`). The
 * price, measured A/B on the same benchmark: about 5% more CPU per signal at
 * full load (more, smaller scavenges); deadlines are kept no worse. A
 * deployment that would rather trade the memory back starts node without it.
 *
 * `--expose-gc`: the runtime gives memory back once it has gone quiet after
 * work, with one memory-reducing collection (`runtime/memory-reclaimer.ts`
 * says why V8 does not do it by itself); without the flag it does not.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=8", "--expose-gc"];
