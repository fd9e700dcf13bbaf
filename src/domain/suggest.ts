/**
 * "Did you mean …?": the closest candidates to a mistyped name (an attribute in a rule, a
 * userName), by edit distance. No I/O.
 */

/** Levenshtein distance (insert, delete, substitute; a swap of neighbours counts 1), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  if (s === t) return 0;
  const d: number[][] = Array.from({ length: s.length + 1 }, (_, i) => [i, ...new Array<number>(t.length).fill(0)]);
  for (let j = 1; j <= t.length; j++) d[0][j] = j;
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) v = Math.min(v, d[i - 2][j - 2] + 1);
      d[i][j] = v;
    }
  }
  return d[s.length][t.length];
}

/**
 * The candidates close to `name`, closest first: within a third of its length (at least 1, at
 * most 3 edits), or those that contain it or it contains (`schmidt` → `anna.schmidt`).
 */
export function closestMatches(name: string, candidates: Iterable<string>, max = 3): string[] {
  const n = name.toLowerCase();
  const limit = Math.min(3, Math.max(1, Math.floor(n.length / 3)));
  const scored: Array<{ c: string; d: number }> = [];
  for (const c of new Set(candidates)) {
    const lc = c.toLowerCase();
    if (lc === n) continue;
    const d = editDistance(n, lc);
    if (d <= limit) scored.push({ c, d });
    else if (n.length >= 3 && (lc.includes(n) || n.includes(lc))) scored.push({ c, d: limit + 1 });
  }
  return scored
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c))
    .slice(0, max)
    .map((x) => x.c);
}

/** ` (did you mean "a" or "b"?)`, or '' when there is nothing close. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const m = closestMatches(name, candidates);
  if (m.length === 0) return '';
  const q = m.map((x) => `"${x}"`);
  return ` (did you mean ${q.length === 1 ? q[0] : `${q.slice(0, -1).join(', ')} or ${q.at(-1)}`}?)`;
}
