/**
 * Whether a receipt ends its action for good: complete, rolled back, or
 * failed without a rollback to follow. A recoverable `action_failed` is not
 * an end: its rollback's receipt is.
 */
export function endsAction(r: { readonly operation?: unknown; readonly recoverable?: unknown }): boolean {
  return r.operation === "action_complete" || r.operation === "action_rolled_back" || (r.operation === "action_failed" && r.recoverable === false);
}
