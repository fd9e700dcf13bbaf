/**
 * SCIM filters (RFC 7644 §3.4.2.2) over stored resources.
 *
 * Parsing is scim2-parse-filter's; everything after is ours, because its Tester compares
 * case-sensitively, compares a multi-valued attribute as a whole, and reads
 * `emails[type eq "work"].value eq "x"` as two tests two different emails can satisfy.
 * A filter is compiled against the schemas (unknown attributes and operator/type mismatches
 * are invalidFilter), then either translated exactly to SQL over indexed columns
 * (userName, externalId, id, active, meta dates, group displayName and members), or
 * evaluated in JS over the resources, after an SQL pre-filter from the parts that translate.
 * Both paths share the semantics below, so a query returns the same set either way:
 * - strings compare case-insensitively unless the attribute is caseExact;
 * - a multi-valued attribute matches when any value does; `ne` is `not eq`;
 * - `pr` needs a non-empty value; `eq null` is `not pr`, `ne null` is `pr`;
 * - dateTime compares as instants; booleans accept "true"/"false" (Entra sends "True").
 */
import { parse, type Filter } from 'scim2-parse-filter';
import { badRequest, type ScimType } from './errors.js';
import { isObject, type Json, type JsonObject } from './resource.js';
import { findSubAttribute, resolveAttribute, splitUrn, type AttributeDef, type ResourceTypeDef } from './schemas.js';

export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';

export interface AttrRef {
  /** Extension URN holding the top attribute; null for core, or inside a value filter. */
  extension: string | null;
  top: AttributeDef;
  sub: AttributeDef | null;
  /** The definition whose values are compared: sub, else top's `value`, else top. */
  leaf: AttributeDef;
  /** Canonical dotted name (`userName`, `meta.created`, `members.value`, `<urn>:manager.value`). */
  key: string;
}

export type CompValue = string | number | boolean | null;

export type FilterNode =
  | { kind: 'and' | 'or'; children: FilterNode[] }
  | { kind: 'not'; child: FilterNode }
  | { kind: 'pr'; ref: AttrRef }
  | { kind: 'cmp'; op: CompareOp; ref: AttrRef; value: CompValue; ms?: number }
  | { kind: 'valuePath'; ref: AttrRef; filter: FilterNode };

export interface CompiledFilter {
  source: string;
  root: FilterNode;
  /** Canonical names of the top-level attributes the filter reads (group `members` needs loading). */
  attributes: Set<string>;
}

/** Scope a filter resolves names in: the resource type, or one complex attribute's sub-attributes. */
type Scope = { kind: 'resource'; rt: ResourceTypeDef } | { kind: 'element'; parent: AttributeDef };

/**
 * `attr[filter].sub op value` is not in RFC 7644's filter grammar, but Entra sends it
 * (`emails[type eq "work"].value eq "x"`) meaning one email satisfying both. Rewrite it to
 * the equivalent `attr[(filter) and sub op value]` before parsing.
 */
export function rewriteValuePathSubAttributes(source: string): string {
  let out = '';
  let i = 0;
  const n = source.length;
  while (i < n) {
    const ch = source[i]!;
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
    if (tail[2]!.toLowerCase() !== 'pr') {
      while (k < n && source[k] === ' ') k++;
      const start = k;
      if (source[k] === '"') k = endOfString(source, k);
      else while (k < n && !/[\s)\]]/.test(source[k]!)) k++;
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

/** Parses and compiles a filter; errors are 400 with the given scimType (invalidFilter, or invalidPath in PATCH paths). */
export function compileFilter(rt: ResourceTypeDef, source: string, errorType: ScimType = 'invalidFilter'): CompiledFilter {
  return compileIn({ kind: 'resource', rt }, source, errorType);
}

/** Compiles a value filter over the elements of a complex attribute (PATCH paths: `emails[type eq "work"]`). */
export function compileElementFilter(parent: AttributeDef, source: string, errorType: ScimType = 'invalidPath'): CompiledFilter {
  return compileIn({ kind: 'element', parent }, source, errorType);
}

function compileIn(scope: Scope, source: string, errorType: ScimType): CompiledFilter {
  let ast: Filter;
  try {
    ast = parse(rewriteValuePathSubAttributes(source));
  } catch (e) {
    const raw = e instanceof Error ? e.message : String(e);
    throw badRequest(errorType, `the filter ${JSON.stringify(source)} is not valid SCIM filter syntax (${raw})`);
  }
  const attributes = new Set<string>();
  const root = compileNode(scope, ast, attributes, errorType);
  return { source, root, attributes };
}

function compileNode(scope: Scope, f: Filter, attrs: Set<string>, et: ScimType): FilterNode {
  const fail = (why: string): never => {
    throw badRequest(et, why);
  };
  switch (f.op) {
    case 'and':
    case 'or':
      return { kind: f.op, children: f.filters.map((c) => compileNode(scope, c, attrs, et)) };
    case 'not':
      return { kind: 'not', child: compileNode(scope, f.filter, attrs, et) };
    case '[]': {
      const ref = resolveRef(scope, f.attrPath, fail);
      if (ref.sub || ref.top.type !== 'complex') fail(`${f.attrPath}[...]: a value filter needs a complex attribute`);
      attrs.add(topKey(ref));
      return { kind: 'valuePath', ref, filter: compileNode({ kind: 'element', parent: ref.top }, f.valFilter, new Set(), et) };
    }
    case 'pr': {
      const ref = resolveRef(scope, f.attrPath, fail, true);
      attrs.add(topKey(ref));
      return { kind: 'pr', ref };
    }
    default: {
      const ref = resolveRef(scope, f.attrPath, fail);
      attrs.add(topKey(ref));
      return compileCompare(ref, f.op, f.compValue, fail);
    }
  }
}

function topKey(ref: AttrRef): string {
  return ref.extension ? `${ref.extension}:${ref.top.name}` : ref.top.name;
}

function resolveRef(scope: Scope, attrPath: string, fail: (why: string) => never, allowComplex = false): AttrRef {
  let extension: string | null = null;
  let top: AttributeDef | undefined;
  let rest: string[];
  if (scope.kind === 'resource') {
    const { urn, rest: r } = splitUrn(scope.rt, attrPath);
    if (urn === undefined) fail(`unknown schema in attribute ${JSON.stringify(attrPath)}`);
    const parts = r.split('.');
    const resolved = resolveAttribute(scope.rt, urn ?? null, parts[0]!);
    if (!resolved) fail(`unknown attribute ${JSON.stringify(attrPath)}`);
    top = resolved!.def;
    extension = resolved!.extension;
    rest = parts.slice(1);
  } else {
    const parts = attrPath.split('.');
    top = findSubAttribute(scope.parent, parts[0]!);
    if (!top) fail(`unknown sub-attribute ${JSON.stringify(attrPath)} of ${scope.parent.name}`);
    rest = parts.slice(1);
  }
  if (rest.length > 1) fail(`attribute path ${JSON.stringify(attrPath)} is too deep`);
  let sub: AttributeDef | null = null;
  if (rest.length === 1) {
    sub = findSubAttribute(top!, rest[0]!) ?? null;
    if (!sub) fail(`unknown sub-attribute ${JSON.stringify(attrPath)}`);
  }
  let leaf = sub ?? top!;
  if (!sub && top!.type === 'complex') {
    const value = findSubAttribute(top!, 'value');
    if (value) leaf = value;
    else if (!allowComplex) fail(`${JSON.stringify(attrPath)} is complex: name a sub-attribute (e.g. ${top!.name}.${top!.subAttributes?.[0]?.name})`);
  }
  const base = extension ? `${extension}:${top!.name}` : top!.name;
  const key = sub ? `${base}.${sub.name}` : leaf !== top ? `${base}.${leaf.name}` : base;
  return { extension, top: top!, sub, leaf, key };
}

function compileCompare(ref: AttrRef, op: CompareOp, raw: CompValue, fail: (why: string) => never): FilterNode {
  const t = ref.leaf.type;
  const name = ref.key;
  if (raw === null) {
    if (op === 'eq') return { kind: 'not', child: { kind: 'pr', ref } };
    if (op === 'ne') return { kind: 'pr', ref };
    fail(`${name} ${op} null: only eq and ne compare with null`);
  }
  const ordering = op === 'gt' || op === 'ge' || op === 'lt' || op === 'le';
  const substring = op === 'co' || op === 'sw' || op === 'ew';
  switch (t) {
    case 'boolean': {
      let v = raw;
      if (typeof v === 'string' && /^(true|false)$/i.test(v)) v = v.toLowerCase() === 'true';
      if (typeof v !== 'boolean') fail(`${name} is boolean: compare it with true or false`);
      if (op !== 'eq' && op !== 'ne') fail(`${name} is boolean: only eq, ne and pr apply`);
      return { kind: 'cmp', op, ref, value: v };
    }
    case 'integer':
    case 'decimal': {
      const v = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${name} is numeric: compare it with a number`);
      if (substring) fail(`${name} is numeric: co, sw and ew do not apply`);
      return { kind: 'cmp', op, ref, value: v };
    }
    case 'dateTime': {
      if (typeof raw !== 'string') fail(`${name} is a dateTime: compare it with a quoted date-time`);
      if (substring) return { kind: 'cmp', op, ref, value: raw };
      const ms = Date.parse(raw as string);
      if (Number.isNaN(ms)) fail(`${name}: ${JSON.stringify(raw)} is not a date-time`);
      return { kind: 'cmp', op, ref, value: raw, ms };
    }
    case 'binary':
      if (ordering) fail(`${name} is binary: gt, ge, lt and le do not apply`);
      break;
    case 'complex':
      fail(`${name} is complex: name a sub-attribute`);
  }
  if (typeof raw === 'boolean') fail(`${name} is a ${t}: compare it with a quoted string`);
  return { kind: 'cmp', op, ref, value: String(raw) };
}

// ---------------------------------------------------------------------------------------
// Evaluation over JSON resources

function fold(def: AttributeDef, s: string): string {
  return def.caseExact ? s : s.toLowerCase();
}

function nonEmpty(v: Json | undefined): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.some(nonEmpty);
  if (isObject(v)) return Object.values(v).some(nonEmpty);
  return true;
}

/** The values a reference denotes in a resource (or a multi-valued element, inside value filters). */
export function valuesOf(ctx: JsonObject, ref: AttrRef): Json[] {
  const holder = ref.extension ? ctx[ref.extension] : ctx;
  if (!isObject(holder)) return [];
  const topVal = holder[ref.top.name];
  if (topVal === undefined || topVal === null) return [];
  const elements = Array.isArray(topVal) ? topVal : [topVal];
  if (ref.leaf === ref.top) return elements;
  const out: Json[] = [];
  for (const e of elements) {
    if (isObject(e)) {
      const v = e[ref.leaf.name];
      if (v !== undefined && v !== null) out.push(v);
    }
  }
  return out;
}

function compareOne(op: CompareOp, def: AttributeDef, actual: Json, node: { value: CompValue; ms?: number }): boolean {
  const expected = node.value;
  if (def.type === 'dateTime' && node.ms !== undefined) {
    if (typeof actual !== 'string') return false;
    const a = Date.parse(actual);
    if (Number.isNaN(a)) return false;
    return ordered(op, a, node.ms);
  }
  if (typeof expected === 'boolean') return typeof actual === 'boolean' && (op === 'eq' ? actual === expected : actual !== expected);
  if (typeof expected === 'number') return typeof actual === 'number' && ordered(op, actual, expected);
  if (typeof actual !== 'string' || typeof expected !== 'string') return false;
  const a = fold(def, actual);
  const b = fold(def, expected);
  switch (op) {
    case 'co':
      return a.includes(b);
    case 'sw':
      return a.startsWith(b);
    case 'ew':
      return a.endsWith(b);
    default:
      return ordered(op, a, b);
  }
}

function ordered<T extends string | number>(op: CompareOp, a: T, b: T): boolean {
  switch (op) {
    case 'eq':
      return a === b;
    case 'ne':
      return a !== b;
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

export function matches(ctx: JsonObject, node: FilterNode): boolean {
  switch (node.kind) {
    case 'and':
      return node.children.every((c) => matches(ctx, c));
    case 'or':
      return node.children.some((c) => matches(ctx, c));
    case 'not':
      return !matches(ctx, node.child);
    case 'pr': {
      if (node.ref.leaf !== node.ref.top || node.ref.top.type !== 'complex') return valuesOf(ctx, node.ref).some(nonEmpty);
      const holder = node.ref.extension ? ctx[node.ref.extension] : ctx;
      return isObject(holder) && nonEmpty(holder[node.ref.top.name]);
    }
    case 'cmp': {
      const values = valuesOf(ctx, node.ref);
      if (node.op === 'ne') return !values.some((v) => compareOne('eq', node.ref.leaf, v, node));
      return values.some((v) => compareOne(node.op, node.ref.leaf, v, node));
    }
    case 'valuePath': {
      const holder = node.ref.extension ? ctx[node.ref.extension] : ctx;
      if (!isObject(holder)) return false;
      const v = holder[node.ref.top.name];
      const elements = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
      return elements.some((e) => isObject(e) && matches(e, node.filter));
    }
  }
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
