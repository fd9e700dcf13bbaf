/**
 * ISO strings of instants, memoised: a full run formats the same few instants (anchors, "now",
 * day ends) hundreds of thousands of times.
 */
const isoCache = new Map<number, string>();

export function isoOfMs(ms: number): string {
  let s = isoCache.get(ms);
  if (s === undefined) {
    s = new Date(ms).toISOString();
    if (isoCache.size >= 4096) isoCache.clear();
    isoCache.set(ms, s);
  }
  return s;
}
