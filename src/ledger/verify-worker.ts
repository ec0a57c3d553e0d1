/** Worker thread of the verifier: per-line checks of batches of lines. */
import { parentPort } from "node:worker_threads";
import { checkLines } from "./verify-lines.ts";

parentPort?.on("message", (m: { id: number; lines: string[]; firstLine: number; notUtf8: readonly number[] }) => {
  parentPort?.postMessage({ id: m.id, results: checkLines(m.lines, m.firstLine, m.notUtf8) });
});
