/**
 * SCIM filters (RFC 7644 §3.4.2.2): the one core behind mapping rules' `when` (over identities,
 * src/policy/filter.ts) and the SCIM endpoint's ?filter= and PATCH paths (over stored
 * resources, src/sources/scim/filter.ts). Text → parse → validated tree → matcher.
 *
 * Parsing is scim2-parse-filter's; everything after is ours, because its Tester compares
 * case-sensitively, compares a multi-valued attribute as a whole (`groups eq "X"` never matches
 * an array), cannot tell which value matched, and reads `emails[type eq "work"].value eq "x"`
 * as two tests two different emails can satisfy.
 *
 * A caller's FilterDialect decides what is genuinely its own: which attributes exist and where
 * a path leads (the policy reads any name of an identity; SCIM resolves names against its
 * schemas and refuses unknown ones), which attributes' strings compare as written (RFC 7643
 * caseExact), how a value is typed (SCIM's schema types) and what runs elsewhere (SCIM's SQL
 * works on the same tree); ParseOptions carry the leniencies a caller accepts beyond RFC 7644's
 * grammar (the SCIM endpoint: Entra's `emails[type eq "work"].value eq "x"`). The meaning of a
 * filter is the same for every caller:
 * - attribute names are case-insensitive (an exact spelling is preferred when both exist);
 * - a multi-valued attribute matches when any value does; a complex value without a named
 *   sub-attribute compares by its `value`;
 * - `ne` is `not eq`, also for multi-valued and absent attributes: an exclusion must exclude
 *   (RFC 7644 would let any other value match, which turns exclusions into grants);
 * - `pr` needs a non-empty value (a complex one: a non-empty sub-attribute); `eq null` is
 *   `not pr`, `ne null` is `pr`; no other operator compares with null;
 * - strings compare case-insensitively unless the attribute is caseExact (gt/ge/lt/le in
 *   UTF-16 code unit order, as Postgres' COLLATE "C" for the ASCII the SQL path sees);
 * - a date-time value compares as an instant with eq, ne, gt, ge, lt, le, and then only an
 *   ISO date or date-time can match it; co/sw/ew compare the text;
 * - numbers and booleans match values of their own type; co/sw/ew read a number as its text.
 */
import { parse, type Filter } from 'scim2-parse-filter';
import { LockstepError } from './errors.js';
import { isoInstantMs } from './time.js';

export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';

/**
 * Where an attribute path leads in the records a filter is matched over. Dialects extend it
 * with what they know (SCIM: the schema definitions and the canonical key its SQL uses).
 */
export interface AttributeRef {
  /** Key of the object that holds the attribute (a SCIM extension's URN); null: the record itself. */
  holder: string | null;
  /** The attribute's name. */
  attribute: string;
  /** Sub-attributes under each of its values (`name.givenName` → ['givenName']); empty when the path names none. */
  subPath: readonly string[];
  /** Its strings compare as written (RFC 7643 caseExact) instead of case-insensitively. */
  caseExact: boolean;
}

/** A comparison's value as a dialect types it: with `ms` the value is an instant and compares as one. */
export interface TypedValue {
  value: string | number | boolean;
  ms?: number;
}

export type FilterNode<R extends AttributeRef = AttributeRef> =
  | { kind: 'and' | 'or'; children: Array<FilterNode<R>> }
  | { kind: 'not'; child: FilterNode<R> }
  | { kind: 'pr'; ref: R }
  | {
      kind: 'cmp';
      op: CompareOp;
      ref: R;
      value: string | number | boolean;
      /** Set when the value is an instant (never for co, sw, ew). */
      ms?: number;
      /** The value as text comparisons read it: as a string, lower-cased unless the attribute is caseExact. */
      text: string;
    }
  | { kind: 'valuePath'; ref: R; filter: FilterNode<R> };

/** What a path is resolved for: a comparison, `pr`, or the attribute of a value path `attr[...]`. */
export type PathUse = 'compare' | 'pr' | 'valuePath';

export interface FilterDialect<R extends AttributeRef> {
  /**
   * The reference a path names: at the top (`within` null) or among the sub-attributes of the
   * value path `within`. Throws (an error of the caller's own) to refuse it.
   */
  resolve(path: string, within: R | null, use: PathUse): R;
  /**
   * Checks a comparison and types its value for the attribute; throws to refuse it. Without
   * it values stay as written, and a string that is an ISO date or date-time is an instant
   * (for the operators that compare instants).
   */
  type?(ref: R, op: CompareOp, value: string | number | boolean): TypedValue;
}

export interface ParseOptions {
  /**
   * Rewrites of the filter text before it is parsed, in order: leniencies one caller accepts
   * and RFC 7644's grammar does not (a client's unquoted values, say). The text a rewrite
   * returns must be a filter in the grammar, or the parse error names the rewritten text.
   */
  lenience?: ReadonlyArray<(source: string) => string>;
}

/** A filter that is not valid: bad syntax, or a test that cannot mean anything (`x gt null`). */
export class FilterError extends LockstepError {
  /** True when the text does not parse; false when it parses but the dialect or the core refuses it. */
  readonly syntax: boolean;
  constructor(message: string, syntax: boolean) {
    super('validation', message);
    this.name = 'FilterError';
    this.syntax = syntax;
  }
}

// ---------------------------------------------------------------------------------------
// Parsing

/**
 * `attr[filter].sub op value` is not in RFC 7644's filter grammar, but Entra sends it
 * (`emails[type eq "work"].value eq "x"`) meaning one email satisfying both. Rewrites it to
 * the equivalent `attr[(filter) and sub op value]`: a lenience (ParseOptions) for the SCIM
 * endpoint; without it the form is refused.
 */
export function rewriteValuePathSubAttributes(source: string): string {
  let out = '';
  let i = 0;
  const n = source.length;
  while (i < n) {
    const ch = source[i];
    if (ch === '"') {
      const end = endOfString(source, i);
      out += source.slice(i, end);
      i = end;
      continue;
    }
    if (ch !== '[') {
      out += ch;
      i++;
      continue;
    }
    // find the matching ']' (value filters do not nest)
    let j = i + 1;
    while (j < n && source[j] !== ']') j = source[j] === '"' ? endOfString(source, j) : j + 1;
    if (j >= n) return source; // unbalanced: let the parser report it
    const inner = source.slice(i + 1, j);
    const tail = /^\.([A-Za-z][\w$-]*)\s+(eq|ne|co|sw|ew|gt|ge|lt|le|pr)\b/i.exec(source.slice(j + 1));
    if (!tail) {
      out += source.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    let k = j + 1 + tail[0].length;
    let value = '';
    if (tail[2].toLowerCase() !== 'pr') {
      while (k < n && source[k] === ' ') k++;
      const start = k;
      if (source[k] === '"') k = endOfString(source, k);
      else while (k < n && !/[\s)\]]/.test(source[k])) k++;
      value = ` ${source.slice(start, k)}`;
    }
    out += `[(${inner}) and ${tail[1]} ${tail[2]}${value}]`;
    i = k;
  }
  return out;
}

function endOfString(s: string, start: number): number {
  let k = start + 1;
  while (k < s.length && s[k] !== '"') k += s[k] === '\\' ? 2 : 1;
  return Math.min(k + 1, s.length);
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

function parseText(source: string, opts: ParseOptions): Filter {
  let text = source;
  for (const rewrite of opts.lenience ?? []) text = rewrite(text);
  // The parser reads `roles[type eq "a"].value eq "b"` as two independent tests, which can
  // then be satisfied by two different roles: refuse it rather than evaluate it wrongly (a
  // caller that accepts it rewrites it first: rewriteValuePathSubAttributes).
  if (/\]\s*\./.test(text.replace(/"(?:[^"\\]|\\.)*"/g, '""'))) {
    throw new FilterError(
      'a sub-attribute after a value path (attr[...].sub) is not supported; put the test inside the brackets: roles[type eq "x" and value eq "y"]',
      true,
    );
  }
  try {
    return parse(text);
  } catch (e) {
    throw new FilterError(explainParseError(e instanceof Error ? e.message : String(e)), true);
  }
}

/** Parses a filter and builds its tree through the dialect. Throws FilterError, or what the dialect throws. */
export function compileFilterTree<R extends AttributeRef>(source: string, dialect: FilterDialect<R>, opts: ParseOptions = {}): FilterNode<R> {
  return build(parseText(source, opts), null, dialect);
}

const SUBSTRING = new Set<CompareOp>(['co', 'sw', 'ew']);

function build<R extends AttributeRef>(f: Filter, within: R | null, d: FilterDialect<R>): FilterNode<R> {
  switch (f.op) {
    case 'and':
    case 'or':
      return { kind: f.op, children: f.filters.map((c) => build(c, within, d)) };
    case 'not':
      return { kind: 'not', child: build(f.filter, within, d) };
    case '[]': {
      const ref = d.resolve(f.attrPath, within, 'valuePath');
      return { kind: 'valuePath', ref, filter: build(f.valFilter, ref, d) };
    }
    case 'pr':
      return { kind: 'pr', ref: d.resolve(f.attrPath, within, 'pr') };
    default: {
      const ref = d.resolve(f.attrPath, within, 'compare');
      const op = f.op;
      if (f.compValue === null) {
        if (op === 'eq') return { kind: 'not', child: { kind: 'pr', ref } };
        if (op === 'ne') return { kind: 'pr', ref };
        throw new FilterError(`${f.attrPath} ${op} null: only eq and ne compare with null`, false);
      }
      const typed = d.type ? d.type(ref, op, f.compValue) : untyped(op, f.compValue);
      const text = String(typed.value);
      const node: Extract<FilterNode<R>, { kind: 'cmp' }> = { kind: 'cmp', op, ref, value: typed.value, text: ref.caseExact ? text : text.toLowerCase() };
      if (typed.ms !== undefined && !SUBSTRING.has(op)) node.ms = typed.ms;
      return node;
    }
  }
}

function untyped(op: CompareOp, value: string | number | boolean): TypedValue {
  if (typeof value !== 'string' || SUBSTRING.has(op)) return { value };
  const ms = isoInstantMs(value);
  return Number.isNaN(ms) ? { value } : { value, ms };
}

/** The references of a filter's own attributes, in order (not the sub-attributes value paths test). */
export function topRefs<R extends AttributeRef>(node: FilterNode<R>, out: R[] = []): R[] {
  switch (node.kind) {
    case 'and':
    case 'or':
      for (const c of node.children) topRefs(c, out);
      break;
    case 'not':
      topRefs(node.child, out);
      break;
    default:
      out.push(node.ref);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Reading attributes

type Rec = Readonly<Record<string, unknown>>;

function isRecord(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Keys by lower case of records being matched (see indexRecord); null until the first miss needs it. */
const lowerKeyIndex = new WeakMap<object, Map<string, string> | null>();

/**
 * While the returned function has not been called, case-insensitive lookups in `rec` that miss
 * the exact name cost one map lookup instead of a scan of its keys (absent attributes are
 * looked up many times per identity in a large policy). The index is built on the first miss.
 * The record must not change meanwhile.
 */
export function indexRecord(rec: Rec): () => void {
  lowerKeyIndex.set(rec, null);
  return () => void lowerKeyIndex.delete(rec);
}

function buildIndex(rec: Rec): Map<string, string> {
  const index = new Map<string, string>();
  for (const k of Object.keys(rec)) {
    const lower = k.toLowerCase();
    // the first key in Object.keys order, as the scan would find it
    if (!index.has(lower)) index.set(lower, k);
  }
  lowerKeyIndex.set(rec, index);
  return index;
}

/** The key `name` has in rec: itself when present, else the first key equal to it in any case. */
function keyOf(rec: Rec, name: string): string | undefined {
  if (Object.hasOwn(rec, name)) return name;
  const lower = name.toLowerCase();
  const index = lowerKeyIndex.get(rec);
  if (index !== undefined) return (index ?? buildIndex(rec)).get(lower);
  for (const k of Object.keys(rec)) if (k.length === name.length && k.toLowerCase() === lower) return k;
  return undefined;
}

/** Finds an attribute by name, case-insensitively as SCIM wants, preferring an exact match. */
export function lookupAttribute(rec: Rec, name: string): { key: string; value: unknown } | undefined {
  const key = keyOf(rec, name);
  return key === undefined ? undefined : { key, value: rec[key] };
}

function valueOf(rec: Rec, name: string): unknown {
  const key = keyOf(rec, name);
  return key === undefined ? undefined : rec[key];
}

/** The record holding the reference's attribute: rec, or the object under its holder key. */
function holderOf(rec: Rec, ref: AttributeRef): Rec | undefined {
  if (ref.holder === null) return rec;
  const h = valueOf(rec, ref.holder);
  return isRecord(h) ? h : undefined;
}

/** The attribute's key in its holder and value (an array for a multi-valued one), or undefined when absent. */
function attributeAt(rec: Rec, ref: AttributeRef): { key: string; value: unknown } | undefined {
  const h = holderOf(rec, ref);
  return h === undefined ? undefined : lookupAttribute(h, ref.attribute);
}

function topValue(rec: Rec, ref: AttributeRef): unknown {
  const h = holderOf(rec, ref);
  return h === undefined ? undefined : valueOf(h, ref.attribute);
}

/** The value a leaf compares as: a complex value by its `value`, when it has one. */
function leafOf(v: unknown): unknown {
  if (!isRecord(v)) return v;
  const key = keyOf(v, 'value');
  return key === undefined ? v : v[key];
}

/** The comparable values the reference denotes in rec (absent ones left out), e.g. to sort by. */
export function valuesAt(rec: Rec, ref: AttributeRef): unknown[] {
  const out: unknown[] = [];
  const walk = (v: unknown, i: number): void => {
    if (Array.isArray(v)) {
      for (const e of v) walk(e, i);
    } else if (i === ref.subPath.length) {
      const leaf = leafOf(v);
      if (leaf !== undefined && leaf !== null) out.push(leaf);
    } else if (isRecord(v)) {
      walk(valueOf(v, ref.subPath[i]), i + 1);
    }
  };
  walk(topValue(rec, ref), 0);
  return out;
}

function nonEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.some(nonEmpty);
  if (isRecord(v)) {
    for (const k in v) if (Object.hasOwn(v, k) && nonEmpty(v[k])) return true;
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Matching

type Cmp = Extract<FilterNode, { kind: 'cmp' }>;

function ordered<T extends string | number>(op: CompareOp, a: T, b: T): boolean {
  switch (op) {
    case 'eq':
      return a === b;
    case 'gt':
      return a > b;
    case 'ge':
      return a >= b;
    case 'lt':
      return a < b;
    case 'le':
      return a <= b;
    default:
      return false;
  }
}

/** One value against a comparison (`ne` is matched as not eq, never here). The semantics above, in one place. */
function compare(op: CompareOp, actual: unknown, c: Cmp): boolean {
  if (actual === undefined || actual === null) return false;
  if (c.ms !== undefined) {
    if (typeof actual !== 'string') return false;
    const t = isoInstantMs(actual);
    return !Number.isNaN(t) && ordered(op, t, c.ms);
  }
  switch (op) {
    case 'co':
    case 'sw':
    case 'ew': {
      if (typeof actual !== 'string' && typeof actual !== 'number') return false;
      const s = c.ref.caseExact ? String(actual) : String(actual).toLowerCase();
      return op === 'co' ? s.includes(c.text) : op === 'sw' ? s.startsWith(c.text) : s.endsWith(c.text);
    }
    case 'eq':
      if (typeof actual === 'string') return typeof c.value === 'string' && (c.ref.caseExact ? actual : actual.toLowerCase()) === c.text;
      return actual === c.value;
    default:
      if (typeof actual === 'number') return typeof c.value === 'number' && ordered(op, actual, c.value);
      if (typeof actual === 'string' && typeof c.value === 'string') return ordered(op, c.ref.caseExact ? actual : actual.toLowerCase(), c.text);
      return false;
  }
}

/** Some leaf under v (arrays at any level are each of their values) satisfies the comparison. */
function leafCompares(v: unknown, segs: readonly string[], i: number, op: CompareOp, c: Cmp): boolean {
  if (Array.isArray(v)) {
    for (const e of v) if (leafCompares(e, segs, i, op, c)) return true;
    return false;
  }
  if (i === segs.length) return compare(op, leafOf(v), c);
  if (!isRecord(v)) return false;
  return leafCompares(valueOf(v, segs[i]), segs, i + 1, op, c);
}

/** Some leaf under v is non-empty; without a sub path a complex value counts when any sub-attribute does. */
function leafPresent(v: unknown, segs: readonly string[], i: number): boolean {
  if (Array.isArray(v)) {
    for (const e of v) if (leafPresent(e, segs, i)) return true;
    return false;
  }
  if (i === segs.length) return nonEmpty(i === 0 ? v : leafOf(v));
  if (!isRecord(v)) return false;
  return leafPresent(valueOf(v, segs[i]), segs, i + 1);
}

/** Each value under a value path's attribute that its filter is tried on: complex values as they are, others as `{value}`. */
function candidates(v: unknown, segs: readonly string[], i: number, out: unknown[]): void {
  if (Array.isArray(v)) {
    for (const e of v) candidates(e, segs, i, out);
  } else if (i === segs.length) {
    if (v !== undefined && v !== null) out.push(v);
  } else if (isRecord(v)) {
    candidates(valueOf(v, segs[i]), segs, i + 1, out);
  }
}

function candidateMatches(e: unknown, inner: FilterNode): boolean {
  return matches(isRecord(e) ? e : { value: e }, inner);
}

/** candidates(...).some(candidateMatches) without the list. */
function someCandidate(v: unknown, segs: readonly string[], i: number, inner: FilterNode): boolean {
  if (Array.isArray(v)) {
    for (const e of v) if (someCandidate(e, segs, i, inner)) return true;
    return false;
  }
  if (i === segs.length) return v !== undefined && v !== null && candidateMatches(v, inner);
  if (!isRecord(v)) return false;
  return someCandidate(valueOf(v, segs[i]), segs, i + 1, inner);
}

/** True when the filter holds for the record. */
export function matches(rec: Rec, node: FilterNode): boolean {
  switch (node.kind) {
    case 'and':
      for (const c of node.children) if (!matches(rec, c)) return false;
      return true;
    case 'or':
      for (const c of node.children) if (matches(rec, c)) return true;
      return false;
    case 'not':
      return !matches(rec, node.child);
    case 'pr':
      return leafPresent(topValue(rec, node.ref), node.ref.subPath, 0);
    case 'cmp': {
      const v = topValue(rec, node.ref);
      if (node.op === 'ne') return !leafCompares(v, node.ref.subPath, 0, 'eq', node);
      return leafCompares(v, node.ref.subPath, 0, node.op, node);
    }
    case 'valuePath':
      return someCandidate(topValue(rec, node.ref), node.ref.subPath, 0, node.filter);
  }
}

/** A value of a multi-valued attribute that satisfied a comparison. */
export interface FilterHit {
  /** The record's key of the attribute (e.g. `roles`, `groups`). */
  key: string;
  element: unknown;
}

export interface FilterOutcome {
  matched: boolean;
  /** Values of multi-valued attributes that made the filter true, each once (none from negations). */
  hits: FilterHit[];
}

const NO: FilterOutcome = Object.freeze({ matched: false, hits: Object.freeze([]) as unknown as FilterHit[] });

/**
 * Whether the filter holds and which values of multi-valued attributes made it hold (for the
 * audit trail: the role that matched). Every operand of an `or` that holds contributes.
 */
export function matchWithHits(rec: Rec, node: FilterNode): FilterOutcome {
  if (!matches(rec, node)) return NO;
  const hits: FilterHit[] = [];
  collect(rec, node, hits);
  return { matched: true, hits: hits.length > 1 ? unique(hits) : hits };
}

/** The same value can satisfy several comparisons; report it once. */
function unique(hits: FilterHit[]): FilterHit[] {
  const out: FilterHit[] = [];
  for (const h of hits) if (!out.some((o) => o.key === h.key && o.element === h.element)) out.push(h);
  return out;
}

/** matches, adding the hits of what holds to `out`; leaves `out` as it was when it answers false. */
function collect(rec: Rec, node: FilterNode, out: FilterHit[]): boolean {
  switch (node.kind) {
    case 'and': {
      const mark = out.length;
      for (const c of node.children) {
        if (!collect(rec, c, out)) {
          out.length = mark;
          return false;
        }
      }
      return true;
    }
    case 'or': {
      let any = false;
      for (const c of node.children) if (collect(rec, c, out)) any = true;
      return any;
    }
    case 'not':
      // A negation names no value that matched, so it contributes no hits.
      return !matches(rec, node.child);
    case 'cmp':
      if (node.op === 'ne') return matches(rec, node);
    // falls through
    case 'pr': {
      const at = attributeAt(rec, node.ref);
      if (at === undefined) return false;
      if (!Array.isArray(at.value)) return matches(rec, node);
      const segs = node.ref.subPath;
      let any = false;
      for (const e of at.value) {
        if (node.kind === 'pr' ? leafPresent(e, segs, 0) : leafCompares(e, segs, 0, node.op, node)) {
          out.push({ key: at.key, element: e });
          any = true;
        }
      }
      return any;
    }
    case 'valuePath': {
      const at = attributeAt(rec, node.ref);
      if (at === undefined) return false;
      const found: unknown[] = [];
      candidates(at.value, node.ref.subPath, 0, found);
      let any = false;
      for (const e of found) {
        if (!candidateMatches(e, node.filter)) continue;
        if (Array.isArray(at.value)) out.push({ key: at.key, element: e });
        any = true;
      }
      return any;
    }
  }
}
