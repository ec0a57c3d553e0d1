/**
 * What a new policy version changes, and whether it can be applied without
 * stranding state that exists now. Pure functions over the two documents and
 * the facts of the SKU's running tenants: the push path, `governor policy
 * diff` and the benchmark all use them.
 */
import type { PolicyDocument } from "./schema.ts";

/** What the compatibility check needs to know of one running tenant of the SKU. */
export interface TenantPolicyFacts {
  readonly account: string;
  readonly plan: string | null;
  /** Actions started in the current calendar month (UTC). */
  readonly usedThisMonth: number;
  /** Names of the actions it has in flight (pending or running). */
  readonly inFlight: readonly string[];
}

/** -1, 0 or 1 as semantic version `a` is below, equal to or above `b` (MAJOR.MINOR.PATCH). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

const MAX_NAMED = 5;
function someOf(accounts: readonly string[]): string {
  const named = accounts.slice(0, MAX_NAMED).join(", ");
  return accounts.length > MAX_NAMED ? `${named} and ${accounts.length - MAX_NAMED} more` : named;
}
const tenants = (n: number) => (n === 1 ? "1 tenant" : `${n} tenants`);

/**
 * Why `next` cannot replace `current` for these tenants; empty when it can.
 * `current` is the SKU's current document (undefined for a new SKU);
 * `existingCanonical` is what the registry already holds under `next`'s
 * version (undefined when nothing), `nextCanonical` is `next`'s own.
 */
export function checkCompatibility(input: {
  current: PolicyDocument | undefined;
  next: PolicyDocument;
  nextCanonical: string;
  existingCanonical: string | undefined;
  tenants: Iterable<TenantPolicyFacts>;
}): string[] {
  const { current, next } = input;
  const reasons: string[] = [];
  if (input.existingCanonical !== undefined && input.existingCanonical !== input.nextCanonical) {
    reasons.push(`policy_version ${next.policy_version} already exists for ${next.sku_id} with different content; versions are immutable: bump policy_version`);
  }
  if (current !== undefined && compareVersions(next.policy_version, current.policy_version) < 0) {
    reasons.push(`policy_version ${next.policy_version} is lower than the current ${current.policy_version}`);
  }
  const onRemovedPlan = new Map<string, string[]>();
  const removedInFlight = new Map<string, string[]>();
  const overQuota = new Map<string, { accounts: string[]; most: number }>();
  for (const t of input.tenants) {
    if (t.plan !== null) {
      const plan = next.plans[t.plan];
      if (plan === undefined) push(onRemovedPlan, t.plan, t.account);
      else if (t.usedThisMonth > plan.monthly_actions) {
        const e = overQuota.get(t.plan) ?? { accounts: [], most: 0 };
        e.accounts.push(t.account);
        e.most = Math.max(e.most, t.usedThisMonth);
        overQuota.set(t.plan, e);
      }
    }
    for (const action of new Set(t.inFlight)) if (next.actions[action] === undefined) push(removedInFlight, action, t.account);
  }
  for (const [plan, accounts] of onRemovedPlan) {
    reasons.push(`plan "${plan}" is removed while ${tenants(accounts.length)} ${accounts.length === 1 ? "is" : "are"} on it (${someOf(accounts)})`);
  }
  for (const [action, accounts] of removedInFlight) {
    reasons.push(`action "${action}" is removed while ${tenants(accounts.length)} ${accounts.length === 1 ? "has" : "have"} it in flight (${someOf(accounts)})`);
  }
  for (const [plan, { accounts, most }] of overQuota) {
    reasons.push(
      `plan "${plan}": monthly_actions ${next.plans[plan]!.monthly_actions} is below what ${tenants(accounts.length)} already used this month (up to ${most}: ${someOf(accounts)})`,
    );
  }
  return reasons;
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/** One changed field: where, and its value before and after (undefined: absent). */
export interface FieldChange {
  readonly path: string;
  readonly before: unknown;
  readonly after: unknown;
}

export interface PolicyDiff {
  readonly sku_id: string;
  readonly from_version: string | null;
  readonly to_version: string;
  readonly new_sku: boolean;
  readonly plans: { readonly added: string[]; readonly removed: string[]; readonly changed: Record<string, FieldChange[]> };
  readonly actions: { readonly added: string[]; readonly removed: string[]; readonly changed: Record<string, FieldChange[]> };
  readonly other: FieldChange[];
  /** Running tenants per plan of the current version. */
  readonly tenants_by_plan: Record<string, number>;
  /** Tenants on a plan that is removed or changed, or that permits an action that changed. */
  readonly tenants_affected: number;
  readonly tenants_total: number;
}

function fieldChanges(prefix: string, before: Record<string, unknown> | undefined, after: Record<string, unknown> | undefined): FieldChange[] {
  const out: FieldChange[] = [];
  const keys = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  for (const key of [...keys].sort()) {
    const b = before?.[key];
    const a = after?.[key];
    if (JSON.stringify(b) !== JSON.stringify(a)) out.push({ path: `${prefix}${key}`, before: b, after: a });
  }
  return out;
}

function mapDiff<T extends object>(before: Record<string, T>, after: Record<string, T>) {
  const added = Object.keys(after).filter((k) => !(k in before)).sort();
  const removed = Object.keys(before).filter((k) => !(k in after)).sort();
  const changed: Record<string, FieldChange[]> = {};
  for (const k of Object.keys(after).sort()) {
    if (!(k in before)) continue;
    const c = fieldChanges("", before[k] as Record<string, unknown>, after[k] as Record<string, unknown>);
    if (c.length > 0) changed[k] = c;
  }
  return { added, removed, changed };
}

/** What changes from `current` to `next`, and for how many running tenants. */
export function diffPolicies(current: PolicyDocument | undefined, next: PolicyDocument, running: Iterable<TenantPolicyFacts>): PolicyDiff {
  const plans = mapDiff(current?.plans ?? {}, next.plans);
  const actions = mapDiff(current?.actions ?? {}, next.actions);
  const other = [
    ...fieldChanges("scaling.", current?.scaling, next.scaling),
    ...fieldChanges("health.", current?.health, next.health),
    ...fieldChanges("", current === undefined ? undefined : { description: current.description }, { description: next.description }),
  ];
  const changedActions = new Set([...actions.removed, ...Object.keys(actions.changed)]);
  const touched = (plan: string): boolean => {
    if (plans.removed.includes(plan) || plan in plans.changed) return true;
    return (current?.plans[plan]?.actions ?? []).some((a) => changedActions.has(a));
  };
  const byPlan: Record<string, number> = {};
  let affected = 0;
  let total = 0;
  for (const t of running) {
    total++;
    if (t.plan === null) continue;
    byPlan[t.plan] = (byPlan[t.plan] ?? 0) + 1;
    if (touched(t.plan)) affected++;
  }
  return {
    sku_id: next.sku_id,
    from_version: current?.policy_version ?? null,
    to_version: next.policy_version,
    new_sku: current === undefined,
    plans,
    actions,
    other,
    tenants_by_plan: byPlan,
    tenants_affected: affected,
    tenants_total: total,
  };
}
