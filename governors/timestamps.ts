/**
 * Receipt timestamps (`YYYY-MM-DDTHH:MM:SS.sssZ`) to and from epoch ms.
 *
 * Pure, and quick where it counts: a busy governor writes and reads several
 * timestamps per signal, and most of them fall in the same millisecond as
 * the one before (ten or more receipts a millisecond at full load), so each
 * function remembers its last answers. `Date`'s own formatting and parsing
 * cost about a microsecond a call, a tenth of sealing a receipt.
 */

/**
 * A two-entry memo: a governor's calls alternate between two times (a
 * receipt's own timestamp and the deadline 500 ms after it), and one entry
 * would miss on every call.
 */
function memo<K, V>(compute: (key: K) => V): (key: K) => V {
  let k1: K | undefined;
  let v1!: V;
  let k2: K | undefined;
  let v2!: V;
  return (key) => {
    if (key === k1) return v1;
    if (key !== k2) {
      k2 = key;
      v2 = compute(key);
    }
    // The entry just used moves first; the other one is replaced next.
    const k = k2;
    const v = v2;
    k2 = k1;
    v2 = v1;
    k1 = k;
    v1 = v;
    return v1;
  };
}

/** The receipt timestamp of an epoch ms. */
export const isoTimestamp: (ms: number) => string = memo((ms: number) => new Date(ms).toISOString());

/** The epoch ms of a receipt timestamp (NaN when it is not a date, as `Date.parse` says). */
export const parseTimestamp: (timestamp: string) => number = memo((timestamp: string) => Date.parse(timestamp));

let monthStart = Number.NaN;
let monthEnd = Number.NaN;
let month = "";

/** The UTC month (`YYYY-MM`) of an epoch ms: the period of a monthly quota. */
export function monthOf(ms: number): string {
  if (!(ms >= monthStart && ms < monthEnd)) {
    const d = new Date(ms);
    monthStart = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    monthEnd = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    month = d.toISOString().slice(0, 7);
  }
  return month;
}
