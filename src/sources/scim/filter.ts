/**
 * SCIM filters (RFC 7644 §3.4.2.2) over stored resources: the filter core
 * (src/domain/filter.ts) with the endpoint's dialect, and the translation of its trees to SQL.
 *
 * The dialect resolves names against the resource type's schemas (unknown attributes and
 * operator/type mismatches are invalidFilter), compares caseExact attributes as written, types
 * values by the schema (booleans accept "true"/"false": Entra sends "True"; numbers accept
 * numeric text; dateTime compares as instants) and accepts Entra's
 * `emails[type eq "work"].value eq "x"`. A compiled filter is then either translated exactly to
 * SQL over indexed columns (userName, externalId, id, active, meta dates, group displayName and
 * members), or matched in JS over the resources, after an SQL pre-filter from the parts that
 * translate. The SQL keeps the core's semantics, so a query returns the same set either way.
 */
import {
  compileFilterTree,
  FilterError,
  rewriteValuePathSubAttributes,
  topRefs,
  type AttributeRef,
  type CompareOp,
  type FilterDialect,
  type FilterNode as CoreNode,
  type PathUse,
  type TypedValue,
} from '../../domain/filter.js';
import { badRequest, type ScimType } from './errors.js';
import { findSubAttribute, resolveAttribute, splitUrn, type AttributeDef, type ResourceTypeDef } from './schemas.js';

export { matches, rewriteValuePathSubAttributes } from '../../domain/filter.js';

export interface AttrRef extends AttributeRef {
  /** `holder`: the extension URN holding the top attribute; null for core, or inside a value filter. */
  top: AttributeDef;
  sub: AttributeDef | null;
  /** The definition whose values are compared: sub, else top's `value`, else top. */
  leaf: AttributeDef;
  /** Canonical dotted name (`userName`, `meta.created`, `members.value`, `<urn>:manager.value`). */
  key: string;
}

export type FilterNode = CoreNode<AttrRef>;

export interface CompiledFilter {
  source: string;
  root: FilterNode;
  /** Canonical names of the top-level attributes the filter reads (group `members` needs loading). */
  attributes: Set<string>;
}

/** Scope a filter resolves names in: the resource type, or one complex attribute's sub-attributes. */
type Scope = { kind: 'resource'; rt: ResourceTypeDef } | { kind: 'element'; parent: AttributeDef };

/**
 * A comparison value written without quotes (`externalId eq jyoung`, `userName sw O`,
 * `meta.lastModified gt 2011-05-13T04:42:34Z`), as Microsoft's documentation prints filters and
 * some clients send them, becomes the quoted string it means. A bare `true`, `false` or `null`
 * stays a literal, and so does a number whose text is the number (`count eq 3`); anything else
 * (`00123`, `1e3`, `jyoung`) is a string. The value ends at whitespace, `)` or `]`. Only the SCIM
 * endpoint accepts this; rules in mappings stay strict (they use the core without it).
 */
export function quoteBareValues(source: string): string {
  const n = source.length;
  const comparison = /([A-Za-z][\w$:.-]*)(\s+)(eq|ne|co|sw|ew|gt|ge|lt|le)(\s+)/iy;
  let out = '';
  let i = 0;
  while (i < n) {
    const ch = source[i];
    if (ch === '"') {
      const end = endOfQuoted(source, i);
      out += source.slice(i, end);
      i = end;
      continue;
    }
    const boundary = i === 0 || /[\s([\].]/.test(source[i - 1]);
    comparison.lastIndex = i;
    const m = boundary ? comparison.exec(source) : null;
    if (!m) {
      out += ch;
      i++;
      continue;
    }
    out += m[0];
    i += m[0].length;
    if (i >= n || source[i] === '"') continue;
    let k = i;
    while (k < n && !/[\s()[\]]/.test(source[k])) k++;
    const word = source.slice(i, k);
    const literal = word === 'true' || word === 'false' || word === 'null' || (/^-?\d/.test(word) && String(Number(word)) === word);
    out += literal || word === '' ? word : JSON.stringify(word);
    i = k;
  }
  return out;
}

function endOfQuoted(s: string, start: number): number {
  let k = start + 1;
  while (k < s.length && s[k] !== '"') k += s[k] === '\\' ? 2 : 1;
  return Math.min(k + 1, s.length);
}

/** What the endpoint accepts beyond RFC 7644's grammar. */
const LENIENCE = { lenience: [quoteBareValues, rewriteValuePathSubAttributes] };

/** Parses and compiles a filter; errors are 400 with the given scimType (invalidFilter, or invalidPath in PATCH paths). */
export function compileFilter(rt: ResourceTypeDef, source: string, errorType: ScimType = 'invalidFilter'): CompiledFilter {
  return compileIn({ kind: 'resource', rt }, source, errorType);
}

/** Compiles a value filter over the elements of a complex attribute (PATCH paths: `emails[type eq "work"]`). */
export function compileElementFilter(parent: AttributeDef, source: string, errorType: ScimType = 'invalidPath'): CompiledFilter {
  return compileIn({ kind: 'element', parent }, source, errorType);
}

function compileIn(scope: Scope, source: string, errorType: ScimType): CompiledFilter {
  let root: FilterNode;
  try {
    root = compileFilterTree(source, dialect(scope, errorType), LENIENCE);
  } catch (e) {
    if (!(e instanceof FilterError)) throw e;
    throw badRequest(errorType, e.syntax ? `the filter ${JSON.stringify(source)} is not valid SCIM filter syntax (${e.message})` : e.message);
  }
  return { source, root, attributes: new Set(topRefs(root).map(topKey)) };
}

function dialect(scope: Scope, et: ScimType): FilterDialect<AttrRef> {
  const fail = (why: string): never => {
    throw badRequest(et, why);
  };
  return {
    resolve: (path, within, use) => resolveUse(within === null ? scope : { kind: 'element', parent: within.top }, path, use, fail),
    type: (ref, op, value) => typed(ref, op, value, fail),
  };
}

function resolveUse(scope: Scope, path: string, use: PathUse, fail: (why: string) => never): AttrRef {
  const ref = resolveRef(scope, path, fail, use === 'pr');
  if (use === 'valuePath' && (ref.sub || ref.top.type !== 'complex')) fail(`${path}[...]: a value filter needs a complex attribute`);
  return ref;
}

function topKey(ref: AttrRef): string {
  return ref.holder ? `${ref.holder}:${ref.top.name}` : ref.top.name;
}

function resolveRef(scope: Scope, attrPath: string, fail: (why: string) => never, allowComplex: boolean): AttrRef {
  let extension: string | null = null;
  let top: AttributeDef | undefined;
  let rest: string[];
  if (scope.kind === 'resource') {
    const { urn, rest: r } = splitUrn(scope.rt, attrPath);
    if (urn === undefined) fail(`unknown schema in attribute ${JSON.stringify(attrPath)}`);
    const parts = r.split('.');
    const resolved = resolveAttribute(scope.rt, urn ?? null, parts[0]);
    if (!resolved) fail(`unknown attribute ${JSON.stringify(attrPath)}`);
    top = resolved.def;
    extension = resolved.extension;
    rest = parts.slice(1);
  } else {
    const parts = attrPath.split('.');
    top = findSubAttribute(scope.parent, parts[0]);
    if (!top) fail(`unknown sub-attribute ${JSON.stringify(attrPath)} of ${scope.parent.name}`);
    rest = parts.slice(1);
  }
  if (rest.length > 1) fail(`attribute path ${JSON.stringify(attrPath)} is too deep`);
  let sub: AttributeDef | null = null;
  if (rest.length === 1) {
    sub = findSubAttribute(top, rest[0]) ?? null;
    if (!sub) fail(`unknown sub-attribute ${JSON.stringify(attrPath)}`);
  }
  let leaf = sub ?? top;
  if (!sub && top.type === 'complex') {
    const value = findSubAttribute(top, 'value');
    if (value) leaf = value;
    else if (!allowComplex) fail(`${JSON.stringify(attrPath)} is complex: name a sub-attribute (e.g. ${top.name}.${top.subAttributes?.[0]?.name})`);
  }
  const base = extension ? `${extension}:${top.name}` : top.name;
  const key = sub ? `${base}.${sub.name}` : leaf !== top ? `${base}.${leaf.name}` : base;
  return { holder: extension, attribute: top.name, subPath: sub ? [sub.name] : [], caseExact: leaf.caseExact, top: top, sub, leaf, key };
}

/** A comparison's value as the attribute's schema type has it; refuses operators that do not fit the type. */
function typed(ref: AttrRef, op: CompareOp, raw: string | number | boolean, fail: (why: string) => never): TypedValue {
  const t = ref.leaf.type;
  const name = ref.key;
  const ordering = op === 'gt' || op === 'ge' || op === 'lt' || op === 'le';
  const substring = op === 'co' || op === 'sw' || op === 'ew';
  switch (t) {
    case 'boolean': {
      let v = raw;
      if (typeof v === 'string' && /^(true|false)$/i.test(v)) v = v.toLowerCase() === 'true';
      if (typeof v !== 'boolean') fail(`${name} is boolean: compare it with true or false`);
      if (op !== 'eq' && op !== 'ne') fail(`${name} is boolean: only eq, ne and pr apply`);
      return { value: v };
    }
    case 'integer':
    case 'decimal': {
      const v = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${name} is numeric: compare it with a number`);
      if (substring) fail(`${name} is numeric: co, sw and ew do not apply`);
      return { value: v };
    }
    case 'dateTime': {
      if (typeof raw !== 'string') fail(`${name} is a dateTime: compare it with a quoted date-time`);
      if (substring) return { value: raw };
      const ms = Date.parse(raw);
      if (Number.isNaN(ms)) fail(`${name}: ${JSON.stringify(raw)} is not a date-time`);
      return { value: raw, ms };
    }
    case 'binary':
      if (ordering) fail(`${name} is binary: gt, ge, lt and le do not apply`);
      break;
    case 'complex':
      fail(`${name} is complex: name a sub-attribute`);
  }
  if (typeof raw === 'boolean') fail(`${name} is a ${t}: compare it with a quoted string`);
  return { value: String(raw) };
}

// ---------------------------------------------------------------------------------------
// Translation to SQL

export type ColumnKind = 'folded' | 'text' | 'uuid' | 'bool' | 'time';

export interface SqlColumn {
  sql: string;
  kind: ColumnKind;
  /** The column is never NULL (pr is then always true). */
  notNull: boolean;
}

/** Columns of one table, by the canonical attribute key they hold, plus group membership. */
export interface SqlTarget {
  columns: Record<string, SqlColumn>;
  /** SQL for "this group has member $n" (uuid parameter), when the target is groups. */
  memberExists?: (param: string) => string;
}

export class SqlParams {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The exact SQL equivalent of node, or null when some part has no column. */
export function toSqlExact(node: FilterNode, target: SqlTarget, p: SqlParams): string | null {
  switch (node.kind) {
    case 'and':
    case 'or': {
      const parts: string[] = [];
      for (const c of node.children) {
        const s = toSqlExact(c, target, p);
        if (s === null) return null;
        parts.push(s);
      }
      return `(${parts.join(node.kind === 'and' ? ' AND ' : ' OR ')})`;
    }
    case 'not': {
      const s = toSqlExact(node.child, target, p);
      // NULL (an absent column value) must count as false before negating, as in JS.
      return s === null ? null : `(NOT COALESCE(${s}, false))`;
    }
    case 'pr': {
      const col = target.columns[node.ref.key];
      if (!col) return null;
      if (col.notNull && col.kind !== 'folded' && col.kind !== 'text') return 'TRUE';
      return col.kind === 'folded' || col.kind === 'text' ? `(${col.sql} IS NOT NULL AND ${col.sql} <> '')` : `(${col.sql} IS NOT NULL)`;
    }
    case 'valuePath': {
      // members[value eq "id"]: the one value filter with a table behind it
      if (node.ref.key !== 'members.value' && node.ref.key !== 'members') return null;
      const f = node.filter;
      if (f.kind === 'cmp' && f.op === 'eq' && f.ref.leaf.name === 'value' && target.memberExists) return memberSql(String(f.value), target, p);
      return null;
    }
    case 'cmp':
      return cmpSql(node, target, p);
  }
}

function memberSql(value: string, target: SqlTarget, p: SqlParams): string {
  const v = value.toLowerCase();
  return UUID.test(v) ? target.memberExists!(p.add(v)) : 'FALSE';
}

function cmpSql(node: Extract<FilterNode, { kind: 'cmp' }>, target: SqlTarget, p: SqlParams): string | null {
  if (node.ref.key === 'members.value' && target.memberExists) {
    return node.op === 'eq' ? memberSql(String(node.value), target, p) : null;
  }
  const col = target.columns[node.ref.key];
  if (!col) return null;
  const { op, value } = node;
  switch (col.kind) {
    case 'bool':
      return typeof value === 'boolean' ? (op === 'eq' ? `(${col.sql} = ${p.add(value)})` : `(${col.sql} IS DISTINCT FROM ${p.add(value)})`) : 'FALSE';
    case 'time': {
      if (node.ms === undefined) return null; // co/sw/ew on a date: done in JS over the text
      const ts = `${p.add(new Date(node.ms).toISOString())}::timestamptz`;
      return op === 'ne' ? `(${col.sql} IS DISTINCT FROM ${ts})` : `(${col.sql} ${sqlOp(op)} ${ts})`;
    }
    case 'uuid': {
      if (typeof value !== 'string') return 'FALSE';
      if (op === 'eq') return UUID.test(value) ? `(${col.sql} = ${p.add(value)}::uuid)` : 'FALSE';
      if (op === 'ne') return UUID.test(value) ? `(${col.sql} <> ${p.add(value)}::uuid)` : 'TRUE';
      return textSql(`${col.sql}::text`, op, value, p);
    }
    default: {
      if (typeof value !== 'string') return 'FALSE';
      const v = col.kind === 'folded' ? value.toLowerCase() : value;
      return textSql(col.sql, op, v, p);
    }
  }
}

function textSql(col: string, op: CompareOp, v: string, p: SqlParams): string {
  switch (op) {
    case 'eq':
      return `(${col} = ${p.add(v)})`;
    case 'ne':
      return `(${col} IS DISTINCT FROM ${p.add(v)})`;
    case 'co':
      return `(${col} LIKE ${p.add(`%${likeEscape(v)}%`)})`;
    case 'sw':
      return `(${col} LIKE ${p.add(`${likeEscape(v)}%`)})`;
    case 'ew':
      return `(${col} LIKE ${p.add(`%${likeEscape(v)}`)})`;
    default:
      // byte order, as JS compares the (folded) strings
      return `(${col} COLLATE "C" ${sqlOp(op)} ${p.add(v)})`;
  }
}

function sqlOp(op: CompareOp): string {
  return { eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=', co: 'LIKE', sw: 'LIKE', ew: 'LIKE' }[op];
}

/**
 * A necessary condition for node in SQL (every match satisfies it), or null if none: the
 * translatable conjuncts of an `and`, all branches of an `or`. Used to narrow the rows the JS
 * evaluator has to look at.
 */
export function toSqlPrefilter(node: FilterNode, target: SqlTarget, p: SqlParams): string | null {
  const exact = toSqlExact(node, target, new SqlParams());
  if (exact !== null) return toSqlExact(node, target, p);
  if (node.kind === 'and') {
    const parts = node.children.map((c) => toSqlPrefilter(c, target, p)).filter((s): s is string => s !== null);
    return parts.length ? `(${parts.join(' AND ')})` : null;
  }
  if (node.kind === 'or') {
    const probe = node.children.map((c) => toSqlPrefilter(c, target, new SqlParams()));
    if (probe.some((s) => s === null)) return null;
    return `(${node.children.map((c) => toSqlPrefilter(c, target, p)).join(' OR ')})`;
  }
  return null;
}
