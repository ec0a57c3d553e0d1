/**
 * Tenants out of service because their governor failed: why, since when,
 * how many signals were refused meanwhile, and whether a rebuild may be
 * tried on its own (at most once per AUTO_RESTORE_EVERY_MS per tenant: a
 * governor that fails again soon after waits for an operator).
 */
import type { GovernorStatus } from "./status.ts";

/** Why a tenant was taken out of service. */
export const QuarantineCode = {
  /** Its governor threw while deciding (a bug, or a library's exception on an input). */
  decisionFailed: "decision_failed",
  /** Its receipts do not replay: the ledger and the code disagree. */
  replayDivergence: "replay_divergence",
  /** Its stored receipts do not link (a prev_hash is not the hash before it). */
  chainBroken: "chain_broken",
  /** Its governor could not be rebuilt for another reason. */
  rebuildFailed: "rebuild_failed",
} as const;
export type QuarantineCode = (typeof QuarantineCode)[keyof typeof QuarantineCode];

export interface Quarantine {
  readonly since: number;
  readonly code: QuarantineCode;
  refused: number;
  /** What it was when it was taken out (none if it never came up). */
  readonly last: GovernorStatus | undefined;
  /** A rebuild is under way. */
  restoring: boolean;
}

/** A quarantined tenant whose rebuild was asked for automatically less than this long ago waits for an operator. */
const AUTO_RESTORE_EVERY_MS = 10 * 60_000;

export class Quarantines {
  readonly #byAccount = new Map<string, Quarantine>();
  readonly #autoRestoredAt = new Map<string, number>();

  get(account: string): Quarantine | undefined {
    return this.#byAccount.get(account);
  }

  has(account: string): boolean {
    return this.#byAccount.has(account);
  }

  get size(): number {
    return this.#byAccount.size;
  }

  accounts(): IterableIterator<string> {
    return this.#byAccount.keys();
  }

  add(account: string, q: Quarantine): void {
    this.#byAccount.set(account, q);
  }

  delete(account: string): void {
    this.#byAccount.delete(account);
  }

  /** Whether a decision fault may be followed by a rebuild without an operator now (and notes that one is). */
  mayAutoRestore(account: string, now: number): boolean {
    const previous = this.#autoRestoredAt.get(account);
    if (previous !== undefined && now - previous < AUTO_RESTORE_EVERY_MS) return false;
    this.#autoRestoredAt.set(account, now);
    return true;
  }
}

/** A fault's name and first line, bounded: enough to find it in the log, never an input echoed whole. */
export function describeFault(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message.split("\n")[0] ?? ""}`.slice(0, 256);
  return `non-error thrown: ${typeof err}`;
}
