/**
 * Signal intake: every gate a signal passes before its governor decides it,
 * in one place, for HTTP and Pub/Sub alike. In order: the service takes
 * signals at all (started, not stopping); the tenant is here; the store is
 * not failing (safe mode refuses, and counts the refusal); the tenant is not
 * out of service (quarantined, or being rebuilt). Then its governor decides: its
 * lifecycle state, a repeat, its plan and policy, its quota, its queue.
 */
import type { SignalReply } from "../../governors/decision.ts";
import { UnknownTenantError, type Governors, type SignalInput } from "./governors.ts";

/** What intake answers: the governor's reply, or a gate in front of it. */
export type IntakeReply = SignalReply | { readonly kind: "not_accepting" } | { readonly kind: "unknown_tenant" };

export interface SignalIntakeOptions {
  readonly governors: Governors;
  /** False before the start and once stopping. */
  readonly accepting: () => boolean;
  /** Safe mode: the ledger store is failing. */
  readonly degraded: () => boolean;
  /** Counts a signal refused in safe mode (reported when safe mode clears). */
  readonly countRefusal: () => void;
}

export class SignalIntake {
  readonly #o: SignalIntakeOptions;

  constructor(options: SignalIntakeOptions) {
    this.#o = options;
  }

  /** Admits a signal and resolves with its answer once its receipt (if any) is durable. */
  async submit(account: string, input: SignalInput, paramsBytes: number): Promise<IntakeReply> {
    if (!this.#o.accepting()) return { kind: "not_accepting" };
    if (!this.#o.governors.has(account)) return { kind: "unknown_tenant" };
    if (this.#o.degraded()) {
      this.#o.countRefusal();
      return { kind: "unavailable", reason: "degraded" };
    }
    try {
      return await this.#o.governors.signal(account, input, paramsBytes);
    } catch (err) {
      // Gone between the check and the decision (its rebuild failed): as if it were never here.
      if (err instanceof UnknownTenantError) return { kind: "unknown_tenant" };
      throw err;
    }
  }
}
