/**
 * ISO 8601 durations as Keyless writes operatingKeyValidityDuration (P8D, PT36H, P1W). Years
 * and months have no fixed length; they are counted as 365 and 30 days, which only matters for
 * validities nobody sets on an operating key.
 */
const DURATION =
  /^P(?!$)(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?!$)(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

const UNIT_MS = [365 * 86_400_000, 30 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000];

/** Milliseconds of an ISO 8601 duration, or null when it is not one. */
export function isoDurationMs(d: string): number | null {
  const m = DURATION.exec(d.trim().toUpperCase());
  if (!m) return null;
  let ms = 0;
  for (let i = 0; i < UNIT_MS.length; i++) if (m[i + 1] !== undefined) ms += Number(m[i + 1]) * UNIT_MS[i];
  return Math.round(ms);
}

/** Whole days an ISO 8601 duration lasts, rounded up (PT36H → 2): a revalidation period is never shortened. */
export function isoDurationDays(d: string): number | null {
  const ms = isoDurationMs(d);
  return ms === null ? null : Math.max(1, Math.ceil(ms / 86_400_000));
}
