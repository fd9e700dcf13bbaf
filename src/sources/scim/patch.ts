/**
 * SCIM PATCH (RFC 7644 §3.5.2) over canonical resources, with the forms Microsoft Entra and
 * Okta actually send: op names in any case, paths in any case, no-path operations whose value
 * holds dotted (`name.givenName`) and URN-qualified keys, "True"/"False" for booleans, the
 * manager as a bare id, members removed by value list or by `members[value eq "…"]`.
 *
 * scim-patch was the first candidate; it does not fit because it matches attribute names
 * case-sensitively, replaces a whole complex attribute on a no-path `{"name": {...}}` (RFC
 * 7644 §3.5.2.3 keeps unnamed sub-attributes), splits an extension URN used as a key at its
 * last colon, filters with case-sensitive values, and removes by deep equality (Entra's
 * `[{"value": id, "$ref": null}]` matches nothing stored). Paths here resolve through the
 * schemas, so an unknown attribute is invalidPath and a read-only one is mutability.
 */
import { badRequest, mutability } from './errors.js';
import { compileElementFilter, matches, type CompiledFilter, type FilterNode } from './filter.js';
import { canonicalJson } from '../../store/identities.js';
import { coerceAttribute, coerceElement, container, isObject, type Json, type JsonObject } from './resource.js';
import {
  findSubAttribute,
  matchSchemaUrn,
  resolveAttribute,
  splitUrn,
  URN,
  type AttributeDef,
  type ResolvedAttribute,
  type ResourceTypeDef,
} from './schemas.js';

export type PatchOpName = 'add' | 'remove' | 'replace';

export interface PatchOperation {
  op: PatchOpName;
  path?: string;
  /** Absent (not undefined-valued) when the request had no "value" member. */
  value?: unknown;
  hasValue: boolean;
}

/** Validates the PatchOp envelope; the operations come back with lower-cased op names. */
export function parsePatchBody(body: unknown): PatchOperation[] {
  if (!isObject(body)) throw badRequest('invalidSyntax', 'the request body must be a JSON object');
  const get = (name: string) => Object.entries(body).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
  const schemas = get('schemas');
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === URN.patchOp.toLowerCase())) {
    throw badRequest('invalidSyntax', `"schemas" must list ${URN.patchOp}`, 'schemas');
  }
  const ops = get('Operations');
  if (!Array.isArray(ops)) throw badRequest('invalidSyntax', '"Operations" must be an array', 'Operations');
  return ops.map((raw, i) => {
    if (!isObject(raw)) throw badRequest('invalidSyntax', `Operations[${i}] must be an object`, `Operations[${i}]`);
    const field = (name: string) => Object.entries(raw).find(([k]) => k.toLowerCase() === name);
    const op = field('op')?.[1];
    const name = typeof op === 'string' ? op.toLowerCase() : '';
    if (name !== 'add' && name !== 'remove' && name !== 'replace') {
      throw badRequest('invalidSyntax', `Operations[${i}].op must be add, remove or replace (got ${JSON.stringify(op)})`, `Operations[${i}].op`);
    }
    const path = field('path')?.[1];
    if (path !== undefined && path !== null && typeof path !== 'string') {
      throw badRequest('invalidPath', `Operations[${i}].path must be a string`, `Operations[${i}].path`);
    }
    const value = field('value');
    return {
      op: name,
      ...(typeof path === 'string' && path.trim() !== '' ? { path: path.trim() } : {}),
      ...(value ? { value: value[1] } : {}),
      hasValue: value !== undefined,
    };
  });
}

type Target =
  | { kind: 'extension'; urn: string; raw: string }
  | { kind: 'attr'; ref: ResolvedAttribute; filter: CompiledFilter | null; sub: AttributeDef | null; raw: string };

const invalidPath = (path: string, why: string) => badRequest('invalidPath', `path ${JSON.stringify(path)}: ${why}`, path);

/** Parses `[urn:]attr[.sub]` or `[urn:]attr[filter][.sub]` against the resource type's schemas. */
export function parsePath(rt: ResourceTypeDef, path: string): Target {
  const ext = matchSchemaUrn(rt, path);
  if (ext && ext !== rt.schema.id) return { kind: 'extension', urn: ext, raw: path };
  const { urn, rest } = splitUrn(rt, path);
  if (urn === undefined) throw invalidPath(path, 'unknown schema');
  let name: string;
  let subName: string | undefined;
  let filterText: string | undefined;
  const open = rest.indexOf('[');
  if (open >= 0) {
    name = rest.slice(0, open);
    let close = open + 1;
    while (close < rest.length && rest[close] !== ']') {
      if (rest[close] === '"') {
        close++;
        while (close < rest.length && rest[close] !== '"') close += rest[close] === '\\' ? 2 : 1;
      }
      close++;
    }
    if (close >= rest.length) throw invalidPath(path, 'unbalanced [ ]');
    filterText = rest.slice(open + 1, close);
    const after = rest.slice(close + 1);
    if (after !== '') {
      if (!/^\.[A-Za-z$][\w$-]*$/.test(after)) throw invalidPath(path, `unexpected ${JSON.stringify(after)} after the filter`);
      subName = after.slice(1);
    }
  } else {
    const parts = rest.split('.');
    if (parts.length > 2) throw invalidPath(path, 'too many levels');
    name = parts[0]!;
    subName = parts[1];
  }
  if (!/^[A-Za-z$][\w$-]*$/.test(name)) throw invalidPath(path, 'not an attribute path');
  const ref = resolveAttribute(rt, urn, name) ?? (urn === null ? unprefixedExtensionAttribute(rt, path, name) : null);
  if (!ref) throw invalidPath(path, `no attribute ${JSON.stringify(name)} in ${urn ?? rt.schema.id}`);
  let sub: AttributeDef | null = null;
  if (subName !== undefined) {
    if (ref.def.type !== 'complex') throw invalidPath(path, `${ref.def.name} has no sub-attributes`);
    sub = findSubAttribute(ref.def, subName) ?? null;
    if (!sub) throw invalidPath(path, `${ref.def.name} has no sub-attribute ${JSON.stringify(subName)}`);
  }
  let filter: CompiledFilter | null = null;
  if (filterText !== undefined) {
    if (!ref.def.multiValued || ref.def.type !== 'complex') throw invalidPath(path, `${ref.def.name} is not a multi-valued complex attribute`);
    filter = compileElementFilter(ref.def, filterText, 'invalidPath');
  }
  return { kind: 'attr', ref, filter, sub, raw: path };
}

/**
 * An extension attribute named without its URN (`"path": "manager"`, as Entra's documentation
 * sends it for the enterprise extension): RFC 7644 §3.10 lets a path leave out the schema URN
 * when the name is unambiguous. Resolves when exactly one extension declares the name (the
 * core schema did not); several are invalidPath naming them, none is null (the caller reports it).
 */
function unprefixedExtensionAttribute(rt: ResourceTypeDef, path: string, name: string): ResolvedAttribute | null {
  const found = rt.extensions.map((e) => resolveAttribute(rt, e.id, name)).filter((r): r is ResolvedAttribute => r !== null);
  if (found.length > 1) throw invalidPath(path, `${JSON.stringify(name)} is ambiguous: qualify it with one of ${found.map((r) => r.extension).join(', ')}`);
  return found[0] ?? null;
}

function checkMutability(t: Extract<Target, { kind: 'attr' }>, op: PatchOpName): void {
  const { def } = t.ref;
  if (def.mutability === 'readOnly') throw mutability(`${def.name} is read-only`, t.raw);
  if (t.sub?.mutability === 'readOnly') throw mutability(`${def.name}.${t.sub.name} is read-only`, t.raw);
  if (t.sub?.mutability === 'immutable' && op !== 'add') throw mutability(`${def.name}.${t.sub.name} is immutable`, t.raw);
}

/** Applies the operations to a copy of the resource and returns the copy; the input stays untouched. */
export function applyPatch(rt: ResourceTypeDef, resource: JsonObject, ops: PatchOperation[]): JsonObject {
  const res = structuredClone(resource);
  for (const op of ops) applyOperation(rt, res, op);
  return res;
}

function applyOperation(rt: ResourceTypeDef, res: JsonObject, op: PatchOperation): void {
  if (op.op !== 'remove' && !op.hasValue) throw badRequest('invalidValue', `${op.op} needs a "value"`, op.path);
  if (op.path === undefined) {
    if (op.op === 'remove') throw badRequest('noTarget', 'remove needs a "path"');
    if (!isObject(op.value)) throw badRequest('invalidValue', `${op.op} without a path needs an object of attributes as its value`);
    applyAttributeMap(rt, res, op.op, op.value);
    return;
  }
  const target = parsePath(rt, op.path);
  if (target.kind === 'extension') {
    if (op.op === 'remove') {
      delete res[target.urn];
      return;
    }
    if (!isObject(op.value)) throw badRequest('invalidValue', `${target.urn} needs an object of attributes`, op.path);
    for (const [k, v] of Object.entries(op.value)) applyNamed(rt, res, op.op, `${target.urn}:${k}`, v);
    return;
  }
  checkMutability(target, op.op);
  if (op.op === 'remove') removeAt(res, target, op.hasValue ? op.value : undefined);
  else setAt(res, op.op, target, op.value);
}

/**
 * A no-path add/replace: each key names an attribute (`displayName`, `name.givenName`,
 * `urn:…:User:department`) or an extension (`urn:…:User` → object). Keys that name nothing
 * in the schemas, and read-only ones (id, meta, schemas echoed back), are ignored, as in POST.
 */
function applyAttributeMap(rt: ResourceTypeDef, res: JsonObject, op: 'add' | 'replace', value: JsonObject): void {
  for (const [k, v] of Object.entries(value)) {
    const ext = matchSchemaUrn(rt, k);
    if (ext && ext !== rt.schema.id) {
      if (v === null) {
        if (op === 'replace') delete res[ext];
        continue;
      }
      if (!isObject(v)) throw badRequest('invalidValue', `${ext} needs an object of attributes`, k);
      for (const [sk, sv] of Object.entries(v)) applyNamed(rt, res, op, `${ext}:${sk}`, sv);
      continue;
    }
    applyNamed(rt, res, op, k, v);
  }
}

function applyNamed(rt: ResourceTypeDef, res: JsonObject, op: 'add' | 'replace', key: string, value: unknown): void {
  let target: Target;
  try {
    target = parsePath(rt, key);
  } catch {
    return; // not a supported attribute: ignored, as in a POST body
  }
  if (target.kind !== 'attr' || target.filter) return;
  const { def } = target.ref;
  if (def.mutability === 'readOnly' || def.name === 'password' || target.sub?.mutability === 'readOnly') return;
  setAt(res, op, target, value);
}

const opts = { dropReadOnly: true };

function setAt(res: JsonObject, op: 'add' | 'replace', t: Extract<Target, { kind: 'attr' }>, value: unknown): void {
  const { def, extension } = t.ref;
  if (def.name === 'password') return; // accepted, never stored
  const holder = container(res, extension, true)!;
  const label = t.raw;
  if (t.filter) {
    setFiltered(holder, op, def, t.filter, t.sub, value, label);
  } else if (t.sub) {
    if (def.multiValued) throw invalidPath(label, `${def.name} is multi-valued: select values with a filter, e.g. ${def.name}[type eq "work"].${t.sub.name}`);
    const v = coerceElement(t.sub, value, label, opts);
    const cur: JsonObject = isObject(holder[def.name]) ? (holder[def.name] as JsonObject) : {};
    if (v === undefined) delete cur[t.sub.name];
    else cur[t.sub.name] = v;
    assign(holder, def.name, Object.keys(cur).length ? cur : undefined);
  } else if (def.multiValued) {
    const incoming = (coerceAttribute(def, value, label, opts) as Json[] | undefined) ?? [];
    if (op === 'replace') {
      assign(holder, def.name, incoming.length ? incoming : undefined);
    } else {
      const list = Array.isArray(holder[def.name]) ? [...(holder[def.name] as Json[])] : [];
      const changed: Json[] = [];
      for (const item of incoming) {
        const i = list.findIndex((e) => sameElement(def, e, item));
        if (i === -1) {
          list.push(item);
          changed.push(item);
        } else if (isObject(list[i]) && isObject(item)) {
          // RFC 7644 §3.5.2.1: a value already there is not changed; only what it lacks is added
          const merged = { ...item, ...list[i] };
          if (canonicalJson(merged) !== canonicalJson(list[i])) {
            list[i] = merged;
            changed.push(merged);
          }
        }
      }
      clearOtherPrimaries(list, changed);
      assign(holder, def.name, list.length ? list : undefined);
    }
  } else if (def.type === 'complex') {
    const incoming = coerceAttribute(def, value, label, opts) as JsonObject | undefined;
    if (incoming === undefined) {
      if (op === 'replace') delete holder[def.name];
      return;
    }
    const cur = isObject(holder[def.name]) ? (holder[def.name] as JsonObject) : {};
    // RFC 7644 §3.5.2.3: sub-attributes not in the value are left unchanged
    holder[def.name] = { ...cur, ...incoming };
  } else {
    assign(holder, def.name, coerceAttribute(def, value, label, opts));
  }
}

function setFiltered(
  holder: JsonObject,
  op: 'add' | 'replace',
  def: AttributeDef,
  filter: CompiledFilter,
  sub: AttributeDef | null,
  value: unknown,
  label: string,
): void {
  const list = Array.isArray(holder[def.name]) ? [...(holder[def.name] as Json[])] : [];
  const hits = list.map((e, i) => (isObject(e) && matches(e, filter.root) ? i : -1)).filter((i) => i >= 0);
  const changed: Json[] = [];
  if (hits.length === 0) {
    // `emails[type eq "work"].value` on a user without a work email: Entra expects the email to
    // be created (an "add" where the filter says what the new value is). Other filters: noTarget.
    const seed = equalitySeed(filter.root);
    if (!seed) throw badRequest('noTarget', `path ${JSON.stringify(label)} matches no value`, label);
    const body = sub ? { ...seed, [sub.name]: value as Json } : isObject(value) ? { ...seed, ...value } : { ...seed, value: value as Json };
    const el = coerceElement(def, body, label, opts);
    if (el === undefined) return;
    list.push(el);
    changed.push(el);
  } else {
    for (const i of hits) {
      const cur = list[i] as JsonObject;
      if (sub) {
        const v = coerceElement(sub, value, label, opts);
        const next = { ...cur };
        if (v === undefined) delete next[sub.name];
        else next[sub.name] = v;
        list[i] = next;
      } else {
        const v = coerceElement(def, value, label, opts) as JsonObject | undefined;
        if (v === undefined) {
          list[i] = null;
          continue;
        }
        // add merges into the matched value; replace replaces it (RFC 7644 §3.5.2.3)
        list[i] = op === 'add' ? { ...cur, ...v } : v;
      }
      changed.push(list[i]);
    }
  }
  const kept = list.filter((e) => e !== null && !(isObject(e) && Object.keys(e).length === 0));
  clearOtherPrimaries(kept, changed);
  assign(holder, def.name, kept.length ? kept : undefined);
}

/** `type eq "work"` or `type eq "work" and primary eq true` → the sub-attributes a new value gets. */
function equalitySeed(node: FilterNode): JsonObject | null {
  if (node.kind === 'cmp' && node.op === 'eq' && node.ref.sub === null && node.ref.leaf === node.ref.top) {
    return { [node.ref.top.name]: node.value as Json };
  }
  if (node.kind === 'and') {
    const parts = node.children.map(equalitySeed);
    return parts.every((p) => p !== null) ? (Object.assign({}, ...parts) as JsonObject) : null;
  }
  return null;
}

function removeAt(res: JsonObject, t: Extract<Target, { kind: 'attr' }>, value: unknown): void {
  const { def, extension } = t.ref;
  const holder = container(res, extension, false);
  if (!holder) return;
  if (t.filter) {
    const list = Array.isArray(holder[def.name]) ? (holder[def.name] as Json[]) : [];
    const next = list
      .map((e) => {
        if (!isObject(e) || !matches(e, t.filter!.root)) return e;
        if (!t.sub) return null;
        const copy = { ...e };
        delete copy[t.sub.name];
        return copy;
      })
      .filter((e) => e !== null && !(isObject(e) && Object.keys(e).length === 0));
    assign(holder, def.name, next.length ? next : undefined);
    return;
  }
  if (t.sub) {
    if (def.multiValued) throw invalidPath(t.raw, `${def.name} is multi-valued: select values with a filter`);
    const cur = holder[def.name];
    if (!isObject(cur)) return;
    const copy = { ...cur };
    delete copy[t.sub.name];
    assign(holder, def.name, Object.keys(copy).length ? copy : undefined);
    return;
  }
  if (def.multiValued && value !== undefined && value !== null) {
    // Entra without aadOptscim062020: {"op":"Remove","path":"members","value":[{"value":"id"}]}
    const items = (coerceAttribute(def, value, t.raw, opts) as Json[] | undefined) ?? [];
    const list = Array.isArray(holder[def.name]) ? (holder[def.name] as Json[]) : [];
    const next = list.filter((e) => !items.some((it) => sameElement(def, e, it)));
    assign(holder, def.name, next.length ? next : undefined);
    return;
  }
  delete holder[def.name];
}

function assign(holder: JsonObject, name: string, v: Json | undefined): void {
  if (v === undefined) delete holder[name];
  else holder[name] = v;
}

function foldFor(def: AttributeDef, sub: string, v: Json | undefined): Json | undefined {
  const d = findSubAttribute(def, sub);
  return typeof v === 'string' && d && !d.caseExact ? v.toLowerCase() : v;
}

/**
 * Whether a multi-valued attribute already holds `item`: the same `value` (and the same `type`
 * when both say one) for value/type attributes such as emails and members; the same content
 * otherwise.
 */
export function sameElement(def: AttributeDef, existing: Json, item: Json): boolean {
  if (isObject(existing) && isObject(item) && item.value !== undefined && findSubAttribute(def, 'value')) {
    if (foldFor(def, 'value', existing.value) !== foldFor(def, 'value', item.value)) return false;
    if (item.type !== undefined && existing.type !== undefined && foldFor(def, 'type', existing.type) !== foldFor(def, 'type', item.type)) return false;
    return true;
  }
  return canonicalJson(existing) === canonicalJson(item);
}

/** RFC 7643 §2.4: a value newly set primary makes the others non-primary. */
function clearOtherPrimaries(list: Json[], changed: Json[]): void {
  if (!changed.some((e) => isObject(e) && e.primary === true)) return;
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    if (isObject(e) && e.primary === true && !changed.includes(e)) list[i] = { ...e, primary: false };
  }
}
