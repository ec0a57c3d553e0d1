/**
 * Every Firestore call on the hot path carries its own deadline: against a
 * dead or hung endpoint the client takes 45 s to minutes to fail.
 */
import { StoreUnavailableError } from "../../ports/index.ts";

/**
 * Runs `run` under a deadline of `deadlineMs`: past it the caller gets a
 * StoreUnavailableError (code `LEDGER_STORE_TIMEOUT`) saying `timeoutMessage`;
 * the call's own failure goes through `mapError`. `call.timedOut` tells the
 * work that its caller has been answered already (the work may go on).
 */
export function withDeadline<T>(deadlineMs: number, timeoutMessage: string, run: (call: { timedOut: boolean }) => Promise<T>, mapError: (err: unknown) => Error): Promise<T> {
  const call = { timedOut: false };
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      call.timedOut = true;
      reject(new StoreUnavailableError(timeoutMessage, { timeout: true }));
    }, deadlineMs);
    run(call).then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(mapError(err));
      },
    );
  });
}
