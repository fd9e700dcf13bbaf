/**
 * SCIM filters (RFC 7644 §3.4.2.2) over an identity, as rules' `when` uses them.
 *
 * Parsing is scim2-parse-filter's. Matching is ours: its Tester compares a multi-valued
 * attribute as a whole (`groups eq "X"` never matches an array), is case-sensitive, and
 * cannot tell which value matched, while rules need SCIM's any-value semantics,
 * caseExact=false, and the matching role for the audit trail.
 */
import { parse, type Filter } from 'scim2-parse-filter';
import { identityInputSchema, type Identity } from '../domain/identity.js';

export interface CompiledFilter {
  /** The filter text as written. */
  source: string;
  ast: Filter;
  /** Top-level attribute names the filter references, as written (URN prefixes removed), deduplicated case-insensitively. */
  attributes: string[];
}

/** The identity as filters see it: core fields, then `attributes` for names no core field has. */
export type FilterView = Record<string, unknown>;

/** An element of a multi-valued attribute that satisfied a comparison. */
export interface FilterHit {
  /** The view's key of the attribute (e.g. `roles`, `groups`). */
  key: string;
  element: unknown;
}

export interface FilterOutcome {
  matched: boolean;
  /** Elements of multi-valued attributes that made the filter true (none from negations). */
  hits: FilterHit[];
}

/** Parses a filter; throws a plain Error whose message explains what is wrong. */
export function parseFilter(source: string): CompiledFilter {
  // The parser reads `roles[type eq "a"].value eq "b"` as two independent tests, which can
  // then be satisfied by two different roles: refuse it rather than evaluate it wrongly.
  const unquoted = source.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  if (/\]\s*\./.test(unquoted)) {
    throw new Error('a sub-attribute after a value path (attr[...].sub) is not supported; put the test inside the brackets: roles[type eq "x" and value eq "y"]');
  }
  let ast: Filter;
  try {
    ast = parse(source);
  } catch (e) {
    throw new Error(explainParseError(e instanceof Error ? e.message : String(e)));
  }
  const seen = new Map<string, string>();
  collectAttributes(ast, seen);
  return { source, ast, attributes: [...seen.values()] };
}

/** scim2-parse-filter's messages name tokens, not mistakes; say what is wrong in the filter's terms. */
function explainParseError(raw: string): string {
  if (raw === '[(EOT)] is not json') return 'a comparison is missing its value';
  const value = /^\[(.*)\((\w+)\)\] is not json$/.exec(raw);
  if (value) return `${value[1]} is not a value: quote strings ("..."), or use a number, true, false or null`;
  if (/^Unexpected token\s+\(EOT\)$/.test(raw)) return 'the filter ends too early (an and/or/not without a test after it?)';
  if (raw === "Unexpected token [(EOT)] expected ')'") return 'missing ")"';
  if (raw.startsWith('unexpected EOT')) return `unexpected text after a complete filter (unbalanced parentheses?): ${raw.slice('unexpected EOT '.length)}`;
  const op = /^Unexpected token (\S+) (\S+) as valFilter operator$/.exec(raw);
  if (op) return `"${op[2]}" after ${op[1]} is not an operator (eq ne co sw ew gt ge lt le pr)`;
  if (raw.startsWith('unexpected token ')) return `cannot read ${raw.slice('unexpected token '.length)} (unterminated string?)`;
  return raw;
}

function collectAttributes(f: Filter, out: Map<string, string>): void {
  switch (f.op) {
    case 'and':
    case 'or':
      for (const c of f.filters) collectAttributes(c, out);
      return;
    case 'not':
      collectAttributes(f.filter, out);
      return;
    default: {
      // Value-path inner filters name sub-attributes of this one, not identity attributes.
      const name = attributeSegments(f.attrPath)[0];
      if (!out.has(name.toLowerCase())) out.set(name.toLowerCase(), name);
    }
  }
}

/** `urn:...:User:manager.value` -> [manager, value]: schema URNs address the same attributes. */
function attributeSegments(attrPath: string): string[] {
  const i = attrPath.lastIndexOf(':');
  return (i === -1 ? attrPath : attrPath.slice(i + 1)).split('.');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Finds an attribute by name, case-insensitively as SCIM wants, preferring an exact match. */
export function lookupAttribute(rec: Record<string, unknown>, name: string): { key: string; value: unknown } | undefined {
  if (Object.hasOwn(rec, name)) return { key: name, value: rec[name] };
  const lower = name.toLowerCase();
  const key = Object.keys(rec).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : { key, value: rec[key] };
}

/**
 * Names that always mean the identity's own field, set or not: an attribute called
 * `contractEnd` must not stand in for a missing contractEnd only on some records.
 */
const CORE_FIELDS = [...Object.keys(identityInputSchema.shape), 'id', 'deletedAt', 'createdAt', 'updatedAt', 'version'];

/** Builds the filter view of an identity. */
export function identityView(identity: Identity): FilterView {
  const { attributes, ...core } = identity;
  const view: FilterView = { ...core };
  const taken = new Set([...CORE_FIELDS, ...Object.keys(view)].map((k) => k.toLowerCase()));
  for (const [k, v] of Object.entries(attributes ?? {})) {
    if (taken.has(k.toLowerCase())) continue;
    taken.add(k.toLowerCase());
    view[k] = v;
  }
  return view;
}

/** The comparable values under `segs` in v; complex values without a sub-attribute compare by `value`. */
function leaves(v: unknown, segs: string[]): unknown[] {
  if (Array.isArray(v)) return v.flatMap((e) => leaves(e, segs));
  if (segs.length === 0) {
    if (isRecord(v)) {
      const inner = lookupAttribute(v, 'value');
      return inner === undefined ? [v] : [inner.value];
    }
    return [v];
  }
  if (!isRecord(v)) return [];
  const found = lookupAttribute(v, segs[0]);
  return found === undefined ? [] : leaves(found.value, segs.slice(1));
}

function present(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (isRecord(v)) return Object.values(v).some(present);
  return true;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}/;

type CompareOp = 'eq' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';
type CompValue = string | number | boolean | null;

function order(a: unknown, b: CompValue): number | null {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') {
    if (ISO_DATE.test(a) && ISO_DATE.test(b)) {
      const ta = Date.parse(a);
      const tb = Date.parse(b);
      if (!Number.isNaN(ta) && !Number.isNaN(tb)) return ta - tb;
    }
    const la = a.toLowerCase();
    const lb = b.toLowerCase();
    return la < lb ? -1 : la > lb ? 1 : 0;
  }
  return null;
}

function compare(op: CompareOp, a: unknown, b: CompValue): boolean {
  if (a === undefined || a === null || b === null) return false;
  switch (op) {
    case 'eq':
      if (typeof a === 'string' && typeof b === 'string') return a.toLowerCase() === b.toLowerCase();
      return a === b;
    case 'co':
    case 'sw':
    case 'ew': {
      if (typeof a !== 'string' && typeof a !== 'number') return false;
      const s = String(a).toLowerCase();
      const t = String(b).toLowerCase();
      return op === 'co' ? s.includes(t) : op === 'sw' ? s.startsWith(t) : s.endsWith(t);
    }
    default: {
      const c = order(a, b);
      if (c === null) return false;
      return op === 'gt' ? c > 0 : op === 'ge' ? c >= 0 : op === 'lt' ? c < 0 : c <= 0;
    }
  }
}

const NO: FilterOutcome = { matched: false, hits: [] };

/** The elements an attribute path starts from: each value of a multi-valued attribute, or the one value. */
function elementsOf(rec: Record<string, unknown>, attrPath: string): { key: string; multi: boolean; elements: unknown[]; rest: string[] } | undefined {
  const segs = attributeSegments(attrPath);
  const found = lookupAttribute(rec, segs[0]);
  if (found === undefined) return undefined;
  const multi = Array.isArray(found.value);
  return { key: found.key, multi, elements: multi ? (found.value as unknown[]) : [found.value], rest: segs.slice(1) };
}

function evaluateNode(rec: Record<string, unknown>, f: Filter): FilterOutcome {
  switch (f.op) {
    case 'and': {
      const outs = f.filters.map((c) => evaluateNode(rec, c));
      return outs.every((o) => o.matched) ? { matched: true, hits: outs.flatMap((o) => o.hits) } : NO;
    }
    case 'or': {
      const outs = f.filters.map((c) => evaluateNode(rec, c)).filter((o) => o.matched);
      return outs.length > 0 ? { matched: true, hits: outs.flatMap((o) => o.hits) } : NO;
    }
    case 'not':
      // A negation names no value that matched, so it contributes no hits.
      return { matched: !evaluateNode(rec, f.filter).matched, hits: [] };
    case '[]': {
      const at = elementsOf(rec, f.attrPath);
      if (at === undefined) return NO;
      const candidates = at.rest.length === 0 ? at.elements : at.elements.flatMap((e) => (isRecord(e) ? leavesRaw(e, at.rest) : []));
      const matching = candidates.filter((e) => evaluateNode(isRecord(e) ? e : { value: e }, f.valFilter).matched);
      if (matching.length === 0) return NO;
      return { matched: true, hits: at.multi ? matching.map((element) => ({ key: at.key, element })) : [] };
    }
    case 'pr': {
      const at = elementsOf(rec, f.attrPath);
      if (at === undefined) return NO;
      const matching = at.elements.filter((e) => leaves(e, at.rest).some(present) || (at.rest.length === 0 && present(e)));
      if (matching.length === 0) return NO;
      return { matched: true, hits: at.multi ? matching.map((element) => ({ key: at.key, element })) : [] };
    }
    case 'ne': {
      // Deliberately the negation of eq (see schema.ts): an exclusion must exclude.
      const eq = evaluateNode(rec, { op: 'eq', attrPath: f.attrPath, compValue: f.compValue });
      return { matched: !eq.matched, hits: [] };
    }
    default: {
      const at = elementsOf(rec, f.attrPath);
      if (f.op === 'eq' && f.compValue === null) {
        // `x eq null` asks for absence.
        const isPresent = at !== undefined && at.elements.some((e) => leaves(e, at.rest).some(present));
        return { matched: !isPresent, hits: [] };
      }
      if (at === undefined) return NO;
      const op = f.op;
      const matching = at.elements.filter((e) => leaves(e, at.rest).some((leaf) => compare(op, leaf, f.compValue)));
      if (matching.length === 0) return NO;
      return { matched: true, hits: at.multi ? matching.map((element) => ({ key: at.key, element })) : [] };
    }
  }
}

/** Sub-values under a path without collapsing complex values to their `value` (value paths filter on them). */
function leavesRaw(v: unknown, segs: string[]): unknown[] {
  if (Array.isArray(v)) return v.flatMap((e) => leavesRaw(e, segs));
  if (segs.length === 0) return [v];
  if (!isRecord(v)) return [];
  const found = lookupAttribute(v, segs[0]);
  return found === undefined ? [] : leavesRaw(found.value, segs.slice(1));
}

export function matchFilter(f: CompiledFilter, view: FilterView): FilterOutcome {
  const out = evaluateNode(view, f.ast);
  if (!out.matched) return NO;
  // The same element can satisfy several comparisons; report it once.
  const seen = new Map<string, Set<unknown>>();
  const hits = out.hits.filter((h) => {
    const forKey = seen.get(h.key) ?? new Set<unknown>();
    seen.set(h.key, forKey);
    if (forKey.has(h.element)) return false;
    forKey.add(h.element);
    return true;
  });
  return { matched: true, hits };
}

/** How a value of a multi-valued attribute reads in reasons: a role by its value, a group as it is. */
export function displayElement(e: unknown): unknown {
  if (isRecord(e)) {
    const v = lookupAttribute(e, 'value');
    if (v !== undefined) return v.value;
  }
  return e;
}
