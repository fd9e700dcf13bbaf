/**
 * `${VAR}` substitution in lockstep.yaml, and the typing of what it produced.
 *
 * Substitution happens on the parsed document, so a variable's value is always text: it is
 * never parsed as YAML again (a value like `1, tokens: [x]` stays one string, it cannot add
 * keys). Where the schema wants a number or a boolean and the text came from substitution,
 * the text is read as one, strictly, and nowhere else: a string field keeps `"8080"` as text.
 */
import type { z } from 'zod';
import { formatPath, type IssuePath } from './yaml.js';

/** A string value that substitution produced: the text written in the file and what it became. */
export interface Substitution {
  path: IssuePath;
  template: string;
  value: string;
}

export interface SubstitutedDocument {
  raw: unknown;
  /** By formatted path. */
  substitutions: Map<string, Substitution>;
  missing: Array<{ path: IssuePath; name: string }>;
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * `${VAR}` reads the environment, `${VAR:-default}` falls back. An unset variable without a
 * default is reported (as missing) rather than silently becoming an empty token.
 */
export function substituteEnv(doc: unknown, env: NodeJS.ProcessEnv): SubstitutedDocument {
  const substitutions = new Map<string, Substitution>();
  const missing: SubstitutedDocument['missing'] = [];
  const walk = (value: unknown, path: IssuePath): unknown => {
    if (typeof value === 'string') {
      let replaced = false;
      const out = value.replace(VAR, (_, name: string, def: string | undefined) => {
        replaced = true;
        const v = env[name];
        if (v !== undefined && v !== '') return v;
        if (def !== undefined) return def;
        missing.push({ path, name });
        return '';
      });
      if (replaced) substitutions.set(formatPath(path), { path, template: value, value: out });
      return out;
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, i]));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, [...path, k])]));
    }
    return value;
  };
  return { raw: walk(doc, []), substitutions, missing };
}

// Decimal numbers as JSON and YAML write them; no hex, no `Infinity`, no empty string.
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

type Scalar = 'number' | 'boolean';

function readAs(expected: Scalar, text: string): number | boolean | undefined {
  const t = text.trim();
  if (expected === 'number') return NUMBER.test(t) ? Number(t) : undefined;
  const lower = t.toLowerCase();
  return lower === 'true' ? true : lower === 'false' ? false : undefined;
}

function setAt(root: unknown, path: IssuePath, value: unknown): void {
  let node = root as Record<string | number, unknown>;
  for (const seg of path.slice(0, -1)) node = node[seg] as Record<string | number, unknown>;
  node[path[path.length - 1]] = value;
}

/** A value shown in an error: kept short, since it may be anything the environment held. */
function shown(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

export interface TypedParse<T> {
  result: z.ZodSafeParseResult<T>;
  /** Messages for substituted values that were not the number or boolean wanted, by path. */
  problems: Array<{ path: IssuePath; message: string }>;
}

/**
 * Parses the substituted document with the schema; where it wants a number or a boolean at a
 * substituted value, reads the text as one and parses again. Text that is not a number (or
 * boolean) is reported naming the field, the variable and what it resolved to.
 */
export function parseSubstituted<T>(schema: z.ZodType<T>, doc: SubstitutedDocument): TypedParse<T> {
  const problems: TypedParse<T>['problems'] = [];
  const missingAt = new Set(doc.missing.map((m) => formatPath(m.path)));
  const settled = new Set<string>();
  for (;;) {
    const result = schema.safeParse(doc.raw);
    if (result.success) return { result, problems };
    let progressed = false;
    const consider = (issues: readonly z.core.$ZodIssue[], prefix: IssuePath, inUnion: boolean) => {
      for (const issue of issues) {
        const path = [...prefix, ...issue.path.filter((p): p is string | number => typeof p !== 'symbol')];
        if (issue.code === 'invalid_union') {
          for (const branch of issue.errors) consider(branch, path, true);
          continue;
        }
        if (issue.code !== 'invalid_type') continue;
        const expected = issue.expected === 'number' || issue.expected === 'boolean' ? (issue.expected as Scalar) : null;
        if (expected === null) continue;
        const key = formatPath(path);
        const sub = doc.substitutions.get(key);
        if (!sub || settled.has(key) || missingAt.has(key)) continue;
        const typed = readAs(expected, sub.value);
        if (typed !== undefined) {
          setAt(doc.raw, path, typed);
          settled.add(key);
          progressed = true;
        } else if (!inUnion) {
          // in a union another branch may want the text as it is: zod's own message stands
          settled.add(key);
          problems.push({ path, message: `${shown(sub.template)} resolved to ${shown(sub.value)}, expected a ${expected}` });
        }
      }
    };
    consider(result.error.issues, [], false);
    if (!progressed) return { result, problems };
  }
}

/** Whether a zod issue is the type error already reported as a problem (or a missing variable) at its path. */
export function explainedElsewhere(issue: z.core.$ZodIssue, explained: Set<string>): boolean {
  if (issue.code !== 'invalid_type') return false;
  return explained.has(formatPath(issue.path.filter((p): p is string | number => typeof p !== 'symbol')));
}
