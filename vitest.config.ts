import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "governors/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // The Pub/Sub and Firestore emulators, started once for the run unless the environment names them.
    globalSetup: ["test/support/emulators-setup.ts"],
    reporters: ["default"],
  },
});
