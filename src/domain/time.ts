/**
 * Instants as ISO strings and back, memoised: a full run formats and parses the same few
 * instants (one run's anchors, "now", day ends, class maxima, contract ends and hire dates)
 * hundreds of thousands of times. One memo each way for the whole process (policy, plans,
 * filters and the store share them); each is cleared when full, which bounds it.
 */

/** Room for every day of 40 years: hire dates of a large estate spread over decades. */
const MEMO_MAX = 16_384;

const formatted = new Map<number, string>();
const parsed = new Map<string, number>();

/** `new Date(ms).toISOString()`, remembered. Throws RangeError for an invalid instant, as toISOString does. */
export function isoOfMs(ms: number): string {
  let s = formatted.get(ms);
  if (s === undefined) {
    s = new Date(ms).toISOString();
    if (formatted.size >= MEMO_MAX) formatted.clear();
    formatted.set(ms, s);
  }
  return s;
}

/** `Date.parse(s)`, remembered (NaN for what Date.parse cannot read). */
export function parseMs(s: string): number {
  let t = parsed.get(s);
  if (t === undefined) {
    t = Date.parse(s);
    if (parsed.size >= MEMO_MAX) parsed.clear();
    parsed.set(s, t);
  }
  return t;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}/;

/**
 * An ISO date or date-time (`YYYY-MM-DD…`) as epoch ms; NaN for anything else. Stricter than
 * Date.parse, which reads "1" as the year 2001: open attributes and filter values hold anything,
 * and only what is written as a date should count as one.
 */
export function isoInstantMs(s: string): number {
  return ISO_DATE.test(s) ? parseMs(s) : Number.NaN;
}
