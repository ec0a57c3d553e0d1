/** Driven port: marketplace deliveries seen, and each entitlement's newest event, durably. */

/**
 * How one marketplace delivery was first answered, as it is stored and
 * answered again to a repeat: a status and a body, or a status and an error
 * code and message. Never a secret (bodies name accounts, plans, receipts).
 */
export type DeliveryOutcome =
  | { readonly status: number; readonly body: Record<string, unknown> }
  | { readonly status: number; readonly code: string; readonly message: string };

/** A delivery about to be handled, and the entitlement event it carries (if it changes one). */
export interface DeliveryClaim {
  /** The delivery id, named by its source ("webhook:…", "procurement:…"); at most 512 characters. */
  readonly id: string;
  /** The claiming process (one random id per process start). */
  readonly owner: string;
  /** Epoch ms. */
  readonly now: number;
  /** The entitlement the event changes, if it changes one: its mark is read in the same step. */
  readonly entitlementId?: string;
}

/** The newest event applied to an entitlement so far. */
export interface EntitlementMark {
  readonly eventTime: number;
  readonly eventId: string;
}

/** What `DeliveryLog.claim` found. */
export type DeliveryClaimResult =
  /**
   * The caller now holds the delivery and must `complete` or `release` it.
   * `retaken`: an unfinished claim (a crashed or failed attempt) was taken over.
   * `mark`: the newest event applied to the entitlement so far (null when
   * none, or when the claim named no entitlement): the caller judges its
   * event against it.
   */
  | { readonly kind: "claimed"; readonly retaken: boolean; readonly mark: EntitlementMark | null }
  /** Handled before: its first outcome. */
  | { readonly kind: "completed"; readonly outcome: DeliveryOutcome; readonly completedAt: number }
  /** Another process holds it and its lease has not run out. */
  | { readonly kind: "in_progress"; readonly claimedAt: number };

/** An event applied to an entitlement. */
export interface EntitlementApplied {
  readonly entitlementId: string;
  readonly eventTime: number;
  readonly eventId: string;
}

/** A stored delivery. */
export interface DeliveryRecord {
  readonly id: string;
  readonly owner: string;
  readonly claimedAt: number;
  readonly outcome: DeliveryOutcome | null;
  readonly completedAt: number | null;
}

/**
 * Marketplace deliveries seen, durably (in the ledger store's backend), so a
 * repeat, even after a restart, gets the first outcome and changes nothing;
 * and per entitlement the time of the newest event applied to it (its mark),
 * so an older event never undoes a newer one.
 *
 * Guarantees every adapter gives (`test/contract/delivery-log.ts`):
 * - `claim` is atomic: of two claims of one id, racing in one process or in
 *   two, exactly one is "claimed". It returns the entitlement's mark with
 *   it: a stale event is still claimed, so that it is recorded once.
 * - An unfinished claim of the same owner, or of another owner older than
 *   `takeoverAfterMs`, is taken over (`retaken`): a process that died between
 *   claim and outcome never blocks the id for good.
 * - `complete` stores the first outcome only, and with it (atomically) moves
 *   the entitlement's mark forward to the event it applied; `release` forgets
 *   an unfinished claim so the delivery can run again.
 * - Failures reject with `StoreUnavailableError`.
 */
export interface DeliveryLog {
  /** How long another owner's unfinished claim is left alone (0: one process owns the store, so another owner is gone). */
  readonly takeoverAfterMs: number;
  claim(claim: DeliveryClaim): Promise<DeliveryClaimResult>;
  /**
   * Stores the outcome of a claimed delivery and, when it applied an event to
   * an entitlement, moves that entitlement's mark forward to it (never back),
   * in one atomic step. False, and nothing written, when it was not ours to
   * complete (taken over, or completed already).
   */
  complete(id: string, owner: string, outcome: DeliveryOutcome, now: number, applied?: EntitlementApplied): Promise<boolean>;
  /** Forgets an unfinished claim of ours, so a later repeat runs again. */
  release(id: string, owner: string): Promise<void>;
  get(id: string): Promise<DeliveryRecord | null>;
  /** The entitlement's mark, or null. */
  mark(entitlementId: string): Promise<EntitlementMark | null>;
  /** Removes deliveries first claimed before `before` (epoch ms); resolves with how many. Marks are kept. */
  prune(before: number): Promise<number>;
  close(): Promise<void>;
}
