/** Helpers for the benchmarks that run against the Google emulators. */

/**
 * Empties the Firestore emulator (its own REST endpoint). The emulator slows
 * down as it fills, so every measured round starts from an empty database:
 * rounds, and the two sides of a ratio, are then comparable.
 */
export async function clearFirestoreEmulator(): Promise<void> {
  const host = process.env["FIRESTORE_EMULATOR_HOST"];
  const project = process.env["GOOGLE_CLOUD_PROJECT"] ?? "governor-test";
  if (!host) throw new Error("FIRESTORE_EMULATOR_HOST is not set");
  const res = await fetch(`http://${host}/emulator/v1/projects/${project}/databases/(default)/documents`, { method: "DELETE" });
  if (!res.ok) throw new Error(`clearing the Firestore emulator: HTTP ${res.status}`);
}
