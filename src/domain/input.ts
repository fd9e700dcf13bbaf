/**
 * What no request may carry, whatever its schema: strings PostgreSQL cannot store (a NUL
 * character; a lone UTF-16 surrogate, which is not Unicode and cannot be written as UTF-8)
 * and JSON nested deeper than any resource lockstep knows (the recursive code that reads a
 * body must not be the thing that finds out, by running out of stack). The SCIM endpoint and
 * the admin API check every body, query parameter and path parameter with this before
 * anything reads them, so such input is refused with a 400 that names where it was, and
 * changes nothing.
 */

/** Deeper than any SCIM resource or admin body (a SCIM User is 4 levels deep). */
export const MAX_JSON_DEPTH = 32;

export interface InputProblem {
  /** Where: `userName`, `emails[0].value`, `Operations[1].value`, `query.filter`... */
  field: string;
  reason: string;
}

// A NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high
// one. Without the u flag the regexp sees UTF-16 code units, which is what a lone surrogate is.
const UNSTORABLE_UNITS = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why this string cannot be stored, or null when it can. */
export function unstorableReason(s: string): string | null {
  const m = UNSTORABLE_UNITS.exec(s);
  if (!m) return null;
  const at = m.index;
  return m[0] === '\u0000'
    ? `contains a NUL character (at position ${at}), which cannot be stored`
    : `contains a lone UTF-16 surrogate (U+${m[0].charCodeAt(0).toString(16).toUpperCase()} at position ${at}), which is not valid Unicode`;
}

// SCIM attribute names (`urn:...:enterprise:2.0:User`) read as they are; anything else is quoted
const PLAIN_KEY = /^[A-Za-z_$][\w$:.-]*$/;
const join = (base: string, key: string | number): string =>
  typeof key === 'number' ? `${base}[${key}]` : PLAIN_KEY.test(key) ? (base === '' ? key : `${base}.${key}`) : `${base}[${JSON.stringify(key)}]`;

/**
 * The first problem in a parsed JSON value (keys and string values), or null. Iterative, so a
 * hostile depth cannot overflow the stack here either.
 */
export function findInputProblem(value: unknown, root = '', maxDepth = MAX_JSON_DEPTH): InputProblem | null {
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: value, path: root, depth: 0 }];
  while (stack.length) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      const why = unstorableReason(v);
      if (why) return { field: path || 'body', reason: why };
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= maxDepth) return { field: path || 'body', reason: `is nested more than ${maxDepth} levels deep` };
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: join(path, i), depth: depth + 1 });
      continue;
    }
    for (const key of Object.keys(v)) {
      const why = unstorableReason(key);
      if (why) return { field: join(path, key), reason: `the attribute name ${why}` };
      stack.push({ v: (v as Record<string, unknown>)[key], path: join(path, key), depth: depth + 1 });
    }
  }
  return null;
}

/**
 * The first path segment that is not valid percent-encoding (`%ZZ`, or bytes that are not
 * UTF-8, e.g. `%ED%A0%80`) or decodes to an unstorable string. The segment is named after the
 * route parameter it would fill (`id`, `name`...) when one of `routes` (express-style, e.g.
 * `/runs/:id`) matches, else `path`. Checked before routing, so express never has to decode it.
 */
export function findPathProblem(path: string, routes: readonly string[]): InputProblem | null {
  const segs = path.split('/');
  for (let i = 0; i < segs.length; i++) {
    const raw = segs[i];
    if (!raw.includes('%')) continue;
    let decoded: string;
    let why: string | null;
    try {
      decoded = decodeURIComponent(raw);
      why = unstorableReason(decoded);
    } catch {
      why = `is not valid percent-encoded UTF-8 (${JSON.stringify(raw.length > 40 ? `${raw.slice(0, 40)}...` : raw)})`;
    }
    if (why) return { field: paramAt(segs, i, routes), reason: why };
  }
  return null;
}

function paramAt(segs: string[], i: number, routes: readonly string[]): string {
  for (const r of routes) {
    const parts = r.split('/');
    if (parts.length !== segs.length) continue;
    if (parts.every((p, j) => j === i || p.startsWith(':') || p.toLowerCase() === segs[j].toLowerCase()) && parts[i].startsWith(':')) return parts[i].slice(1);
  }
  return 'path';
}
