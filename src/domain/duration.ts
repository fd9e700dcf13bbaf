/**
 * ISO 8601 durations of fixed length: weeks, days, hours, minutes and seconds (`P3D`, `PT2H`,
 * `PT30M`, `P1DT12H`, `PT1.5S`). Years and months are refused: their length depends on the
 * calendar, and a validity limit or a clock offset must mean the same number of milliseconds
 * wherever it is read. A day is 24 hours (UTC has no daylight saving).
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

/** The longest duration accepted: far beyond any access window, well inside Date's range. */
const MAX_DURATION_MS = 36_500 * DAY;

const PATTERN = /^([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:[.,]\d{1,3})?)S)?)?$/;

/** For editors (JSON Schema `pattern`): the shape of an unsigned duration this module accepts. */
export const DURATION_PATTERN = '^P(?!$)(\\d+W)?(\\d+D)?(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+([.,]\\d{1,3})?S)?)?$';

export type DurationResult = { ms: number } | { error: string };

/**
 * Milliseconds of an ISO 8601 duration, or why it is not one. A leading `-` (or `+`) is read
 * only with `signed` (a clock offset may go back; a validity limit may not).
 */
export function parseDuration(text: string, opts: { signed?: boolean } = {}): DurationResult {
  const s = text.trim();
  const m = PATTERN.exec(s);
  if (m === null || s.endsWith('P') || s.endsWith('T')) {
    // months are the M before the T (after it, M means minutes)
    if (/^[+-]?P[^T]*\d+[YM]/.test(s)) {
      return { error: `${JSON.stringify(text)}: years and months have no fixed length; write weeks or days (P30D) instead` };
    }
    return { error: `${JSON.stringify(text)} is not an ISO 8601 duration such as PT30M, PT2H, P3D or P1DT12H` };
  }
  if (m[1] !== undefined && !opts.signed) return { error: `${JSON.stringify(text)}: a duration here cannot have a sign` };
  const [, sign, w, d, h, min, sec] = m;
  const ms =
    Number(w ?? 0) * WEEK +
    Number(d ?? 0) * DAY +
    Number(h ?? 0) * HOUR +
    Number(min ?? 0) * MINUTE +
    Math.round(Number((sec ?? '0').replace(',', '.')) * SECOND);
  if (ms > MAX_DURATION_MS) return { error: `${JSON.stringify(text)} is longer than 100 years` };
  return { ms: sign === '-' ? -ms : ms };
}

/** parseDuration's milliseconds, or a thrown Error with its reason (for values already validated). */
export function durationMs(text: string, opts: { signed?: boolean } = {}): number {
  const r = parseDuration(text, opts);
  if ('error' in r) throw new Error(r.error);
  return r.ms;
}
