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
  /**
   * The filter's top-level `attr eq "text"` conjuncts (value lower-cased). When the identity's
   * attribute is a single string that differs, the filter cannot match: `ruledOut` says so
   * without evaluating it, which is most rules for most people in a large policy.
   */
  guards?: ReadonlyArray<{ name: string; value: string }>;
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
  const guards = eqGuards(ast);
  return { source, ast, attributes: [...seen.values()], ...(guards.length > 0 ? { guards } : {}) };
}

function eqGuards(ast: Filter): Array<{ name: string; value: string }> {
  const conjuncts = ast.op === 'and' ? ast.filters : [ast];
  const out: Array<{ name: string; value: string }> = [];
  for (const c of conjuncts) {
    if (c.op !== 'eq' || typeof c.compValue !== 'string') continue;
    const segs = attributeSegments(c.attrPath);
    if (segs.length === 1) out.push({ name: segs[0], value: c.compValue.toLowerCase() });
  }
  return out;
}

/** Attribute values `ruledOut` has looked up for one view: name -> lower-cased string, or null when not a single string. */
export type GuardMemo = Map<string, string | null>;

/**
 * True when one of the filter's `attr eq "text"` conjuncts certainly fails on this view, so
 * matchFilter would answer no. A multi-valued, absent or non-string attribute proves nothing
 * here: those filters are left to matchFilter.
 */
export function ruledOut(f: CompiledFilter, view: FilterView, memo: GuardMemo): boolean {
  if (f.guards === undefined) return false;
  for (const g of f.guards) {
    const v = guardValue(view, g.name, memo);
    if (v !== null && v !== g.value) return true;
  }
  return false;
}

/** The view's value of a guarded attribute as guards compare it: lower-cased, or null when not a single string. */
export function guardValue(view: FilterView, name: string, memo: GuardMemo): string | null {
  let v = memo.get(name);
  if (v === undefined) {
    const found = lookupAttribute(view, name);
    v = typeof found?.value === 'string' ? found.value.toLowerCase() : null;
    memo.set(name, v);
  }
  return v;
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

/**
 * Split attribute paths, by path. A policy names a few dozen distinct paths and evaluates
 * them for every identity in a full run (100k identities × 140 rules), so splitting them
 * once matters; the cap keeps arbitrary input from growing it without bound.
 */
const segmentCache = new Map<string, readonly string[]>();
const SEGMENT_CACHE_MAX = 10_000;

/** `urn:...:User:manager.value` -> [manager, value]: schema URNs address the same attributes. */
function attributeSegments(attrPath: string): readonly string[] {
  const cached = segmentCache.get(attrPath);
  if (cached !== undefined) return cached;
  const i = attrPath.lastIndexOf(':');
  const segs = Object.freeze((i === -1 ? attrPath : attrPath.slice(i + 1)).split('.'));
  if (segmentCache.size < SEGMENT_CACHE_MAX) segmentCache.set(attrPath, segs);
  return segs;
}

const NO_SEGMENTS: readonly string[] = Object.freeze([]);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Keys by lower case of records being evaluated (see indexRecord); null until the first miss needs it. */
const lowerKeyIndex = new WeakMap<object, Map<string, string> | null>();

/**
 * While the returned function has not been called, case-insensitive lookups in `rec` that miss
 * the exact name cost one map lookup instead of a scan of its keys (absent attributes are
 * looked up many times per identity in a large policy). The index is built on the first miss.
 * The record must not change meanwhile.
 */
export function indexRecord(rec: Record<string, unknown>): () => void {
  lowerKeyIndex.set(rec, null);
  return () => void lowerKeyIndex.delete(rec);
}

function buildIndex(rec: Record<string, unknown>): Map<string, string> {
  const index = new Map<string, string>();
  for (const k of Object.keys(rec)) {
    const lower = k.toLowerCase();
    // the first key in Object.keys order, as the scan would find it
    if (!index.has(lower)) index.set(lower, k);
  }
  lowerKeyIndex.set(rec, index);
  return index;
}

/** Finds an attribute by name, case-insensitively as SCIM wants, preferring an exact match. */
export function lookupAttribute(rec: Record<string, unknown>, name: string): { key: string; value: unknown } | undefined {
  if (Object.hasOwn(rec, name)) return { key: name, value: rec[name] };
  const lower = name.toLowerCase();
  const index = lowerKeyIndex.get(rec);
  const key =
    index === undefined ? Object.keys(rec).find((k) => k.toLowerCase() === lower) : (index ?? buildIndex(rec)).get(lower);
  return key === undefined ? undefined : { key, value: rec[key] };
}

/**
 * Names that always mean the identity's own field, set or not: an attribute called
 * `contractEnd` must not stand in for a missing contractEnd only on some records.
 */
const CORE_FIELDS = [...Object.keys(identityInputSchema.shape), 'id', 'deletedAt', 'createdAt', 'updatedAt', 'version'];
const CORE_EXACT: ReadonlySet<string> = new Set(CORE_FIELDS);
const CORE_LOWER: ReadonlySet<string> = new Set(CORE_FIELDS.map((k) => k.toLowerCase()));

/** Builds the filter view of an identity. */
export function identityView(identity: Identity): FilterView {
  // Built by hand rather than with rest/spread: this runs once per identity per run (100k in a
  // full reconciliation). Names an attribute may not take: the core fields, the identity's own
  // keys (always core fields in practice, hence the cheap exact check first), earlier attributes.
  const view: FilterView = {};
  const src = identity as unknown as Record<string, unknown>;
  let taken: Set<string> | null = null;
  for (const k of Object.keys(src)) {
    if (k === 'attributes') continue;
    view[k] = src[k];
    if (!CORE_EXACT.has(k)) (taken ??= new Set()).add(k.toLowerCase());
  }
  const attributes = identity.attributes;
  if (attributes === undefined || attributes === null) return view;
  for (const k of Object.keys(attributes)) {
    const lower = k.toLowerCase();
    if (CORE_LOWER.has(lower) || taken?.has(lower)) continue;
    (taken ??= new Set()).add(lower);
    view[k] = attributes[k];
  }
  return view;
}

/** Core field names by lower case: a name whose lower case is here can only mean that field. */
const CORE_BY_LOWER: ReadonlyMap<string, string> = new Map(CORE_FIELDS.map((k) => [k.toLowerCase(), k]));
/** Every core field differs from the others in more than case (lookupIdentity relies on it). */
const CORE_DISTINCT = CORE_BY_LOWER.size === CORE_EXACT.size;

/** An attribute name as a filter writes it, prepared for lookupIdentity. */
export interface AttributeName {
  name: string;
  lower: string;
  /** The core field it can only mean (case-insensitively), if any. */
  core: string | undefined;
}

export function attributeName(name: string): AttributeName {
  const lower = name.toLowerCase();
  return { name, lower, core: CORE_BY_LOWER.get(lower) };
}

/**
 * True when lookupIdentity answers for this identity as lookupAttribute would on its view: every
 * own key is a core field (as the store's identities have it). Anything else takes the view.
 */
export function plainIdentity(identity: Identity): boolean {
  if (!CORE_DISTINCT) return false;
  const src = identity as unknown as Record<string, unknown>;
  for (const k in src) if (Object.hasOwn(src, k) && !CORE_EXACT.has(k)) return false;
  return true;
}

/**
 * lookupAttribute(identityView(identity), name) without building the view, for an identity
 * plainIdentity accepts: a core field's name (in any case) means that field and nothing else
 * (the view drops attributes that would shadow one); any other name means the first of the
 * identity's attributes with that name in any case (the view keeps the first of those).
 */
export function lookupIdentity(identity: Identity, n: AttributeName): { key: string; value: unknown } | undefined {
  const src = identity as unknown as Record<string, unknown>;
  if (n.core !== undefined) {
    if (n.core === 'attributes' || !Object.hasOwn(src, n.core)) return undefined;
    return { key: n.core, value: src[n.core] };
  }
  const attributes = identity.attributes as Record<string, unknown> | undefined | null;
  if (attributes === undefined || attributes === null) return undefined;
  for (const k of Object.keys(attributes)) {
    if (k === n.name || k.toLowerCase() === n.lower) return { key: k, value: attributes[k] };
  }
  return undefined;
}

/**
 * Every identity attribute a filter reads, by name as written (URN prefix removed), with
 * whether each read only asks for presence: `x pr`, `x eq null`, `x ne null` on a plain name.
 */
export function attributeUses(f: CompiledFilter): Array<{ name: string; presence: boolean }> {
  const out: Array<{ name: string; presence: boolean }> = [];
  const walk = (node: Filter): void => {
    switch (node.op) {
      case 'and':
      case 'or':
        for (const c of node.filters) walk(c);
        return;
      case 'not':
        walk(node.filter);
        return;
      default: {
        const segs = attributeSegments(node.attrPath);
        const presence =
          segs.length === 1 && (node.op === 'pr' || ((node.op === 'eq' || node.op === 'ne') && (node as { compValue?: unknown }).compValue === null));
        out.push({ name: segs[0]!, presence });
      }
    }
  };
  walk(f.ast);
  return out;
}

/** The comparable values under `segs` in v; complex values without a sub-attribute compare by `value`. */
function leaves(v: unknown, segs: readonly string[]): unknown[] {
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
function elementsOf(rec: Record<string, unknown>, attrPath: string): { key: string; multi: boolean; elements: unknown[]; rest: readonly string[] } | undefined {
  const segs = attributeSegments(attrPath);
  const found = lookupAttribute(rec, segs[0]);
  if (found === undefined) return undefined;
  const multi = Array.isArray(found.value);
  return { key: found.key, multi, elements: multi ? (found.value as unknown[]) : [found.value], rest: segs.length === 1 ? NO_SEGMENTS : segs.slice(1) };
}

function evaluateNode(rec: Record<string, unknown>, f: Filter): FilterOutcome {
  switch (f.op) {
    case 'and': {
      // Evaluation is pure, so stopping at the first failing operand changes nothing but the cost.
      const outs: FilterOutcome[] = [];
      for (const c of f.filters) {
        const o = evaluateNode(rec, c);
        if (!o.matched) return NO;
        outs.push(o);
      }
      return { matched: true, hits: outs.flatMap((o) => o.hits) };
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
      // a plain value (the usual `site eq "S01"`) is its own only leaf: compare it without building the list
      const plain = at.rest.length === 0;
      const matching = at.elements.filter((e) =>
        plain && typeof e !== 'object' ? compare(op, e, f.compValue) : leaves(e, at.rest).some((leaf) => compare(op, leaf, f.compValue)),
      );
      if (matching.length === 0) return NO;
      return { matched: true, hits: at.multi ? matching.map((element) => ({ key: at.key, element })) : [] };
    }
  }
}

/** Sub-values under a path without collapsing complex values to their `value` (value paths filter on them). */
function leavesRaw(v: unknown, segs: readonly string[]): unknown[] {
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
