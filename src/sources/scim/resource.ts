/**
 * Incoming SCIM resources → the canonical form lockstep stores: attribute names spelled as
 * the schema spells them (clients may use any case, RFC 7643 §2.1), values type-checked and
 * kept as sent, unknown attributes dropped (they are not in /Schemas, so they are not
 * supported), read-only attributes ignored (RFC 7644 §3.3, §3.5.1).
 */
import { isoDateSchema } from '../../domain/identity.js';
import { badRequest } from './errors.js';
import { findSubAttribute, matchSchemaUrn, resolveAttribute, splitUrn, URN, type AttributeDef, type ResourceTypeDef } from './schemas.js';

import type { Json, JsonObject } from '../../domain/json.js';
export type { Json, JsonObject } from '../../domain/json.js';

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface CoerceOptions {
  /** Drop read-only sub-attributes silently (resource bodies) instead of refusing them. */
  dropReadOnly: boolean;
}

const invalid = (path: string, why: string) => badRequest('invalidValue', `${path}: ${why}`, path);

/** A simple (non-complex) value of type def.type, or undefined for "unassigned". */
function coerceSimple(def: AttributeDef, v: unknown, path: string): Json | undefined {
  if (v === null || v === undefined) return undefined;
  switch (def.type) {
    case 'boolean':
      if (typeof v === 'boolean') return v;
      // Entra (without aadOptscim062020) sends "True" / "False".
      if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
      throw invalid(path, `expected a boolean, got ${JSON.stringify(v)}`);
    case 'integer':
      if (typeof v === 'number' && Number.isInteger(v)) return v;
      if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
      throw invalid(path, `expected an integer, got ${JSON.stringify(v)}`);
    case 'decimal':
      if (typeof v === 'number' && Number.isFinite(v)) return v;
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
      throw invalid(path, `expected a number, got ${JSON.stringify(v)}`);
    case 'dateTime':
      if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) return v;
      throw invalid(path, `expected an xsd:dateTime string, got ${JSON.stringify(v)}`);
    case 'complex':
      throw invalid(path, 'nested complex attributes are not supported');
    default:
      if (typeof v === 'string') return v;
      // HR exports send employee numbers and cost centres as numbers; the text is the same.
      if (typeof v === 'number' && Number.isFinite(v)) return String(v);
      throw invalid(path, `expected a string, got ${JSON.stringify(v)}`);
  }
}

/** A complex value: known sub-attributes only, coerced; undefined when nothing is left. */
function coerceComplex(def: AttributeDef, v: unknown, path: string, opts: CoerceOptions): JsonObject | undefined {
  if (v === null || v === undefined) return undefined;
  // manager as a bare id (Entra), roles as bare strings: the string is the "value" sub-attribute.
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
    const valueDef = findSubAttribute(def, 'value');
    if (!valueDef) throw invalid(path, 'expected an object');
    const value = coerceSimple(valueDef, v, `${path}.value`);
    return value === undefined ? undefined : { value };
  }
  if (!isObject(v)) throw invalid(path, 'expected an object');
  const out: JsonObject = {};
  for (const [k, raw] of Object.entries(v)) {
    const sub = findSubAttribute(def, k);
    if (!sub) continue;
    if (sub.mutability === 'readOnly' && opts.dropReadOnly) continue;
    const value = coerceSimple(sub, raw, `${path}.${sub.name}`);
    if (value !== undefined) out[sub.name] = value;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/** One element of def (ignoring multiValued), or undefined for unassigned. */
export function coerceElement(def: AttributeDef, v: unknown, path: string, opts: CoerceOptions): Json | undefined {
  return def.type === 'complex' ? coerceComplex(def, v, path, opts) : coerceSimple(def, v, path);
}

/**
 * A whole attribute value per its definition. Null, an empty array and an empty complex value
 * are all "unassigned" (RFC 7643 §2.5) and come back as undefined.
 */
export function coerceAttribute(def: AttributeDef, v: unknown, path: string, opts: CoerceOptions): Json | undefined {
  if (v === null || v === undefined) return undefined;
  if (!def.multiValued) {
    // Some clients wrap single values in a one-element array (manager: [{ value }]).
    if (Array.isArray(v)) {
      if (v.length === 0) return undefined;
      if (v.length === 1) return coerceElement(def, v[0], path, opts);
      throw invalid(path, 'expected a single value, got an array');
    }
    return coerceElement(def, v, path, opts);
  }
  const list = Array.isArray(v) ? v : [v];
  const out: Json[] = [];
  list.forEach((e, i) => {
    const c = coerceElement(def, e, `${path}[${i}]`, opts);
    if (c !== undefined) out.push(c);
  });
  return out.length === 0 ? undefined : out;
}

/** Where the attribute lives in a canonical resource: the root, or the extension's object. */
export function container(resource: JsonObject, extension: string | null, create: boolean): JsonObject | undefined {
  if (extension === null) return resource;
  const c = resource[extension];
  if (isObject(c)) return c;
  if (!create) return undefined;
  const fresh: JsonObject = {};
  resource[extension] = fresh;
  return fresh;
}

/** Removes empty extension objects: an extension with no attributes is not part of the resource. */
export function pruneExtensions(rt: ResourceTypeDef, resource: JsonObject): void {
  for (const ext of rt.extensions) {
    const c = resource[ext.id];
    if (c !== undefined && (!isObject(c) || Object.keys(c).length === 0)) delete resource[ext.id];
  }
}

/**
 * A POST/PUT body → the canonical attributes (no id, meta or read-only attributes). Group
 * members are part of the result (the caller moves them to their table).
 */
export function parseResourceBody(rt: ResourceTypeDef, body: unknown): JsonObject {
  if (!isObject(body)) throw badRequest('invalidSyntax', 'the request body must be a JSON object');
  const schemas = Object.entries(body).find(([k]) => k.toLowerCase() === 'schemas')?.[1];
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === rt.schema.id.toLowerCase())) {
    throw badRequest('invalidSyntax', `"schemas" must list ${rt.schema.id}`, 'schemas');
  }
  const out: JsonObject = {};
  const opts: CoerceOptions = { dropReadOnly: true };
  for (const [key, raw] of Object.entries(body)) {
    const lower = key.toLowerCase();
    if (lower === 'schemas' || lower === 'id' || lower === 'meta') continue;
    const extUrn = matchSchemaUrn(rt, key);
    if (extUrn && extUrn !== rt.schema.id) {
      if (raw === null) continue;
      if (!isObject(raw)) throw invalid(extUrn, 'an extension must be an object');
      for (const [k, v] of Object.entries(raw)) assignAttribute(rt, out, extUrn, k, v, opts);
      continue;
    }
    const { urn, rest } = splitUrn(rt, key);
    if (urn === undefined) continue; // an unknown schema's attribute (e.g. Entra's ADSCIM Group schema)
    assignAttribute(rt, out, urn, rest, raw, opts);
  }
  pruneExtensions(rt, out);
  return out;
}

function assignAttribute(rt: ResourceTypeDef, out: JsonObject, urn: string | null, name: string, raw: unknown, opts: CoerceOptions): void {
  const r = resolveAttribute(rt, urn, name);
  if (!r) return;
  const { def, extension } = r;
  if (def.mutability === 'readOnly' || def.name === 'password') return;
  const path = extension ? `${extension}:${def.name}` : def.name;
  const value = coerceAttribute(def, raw, path, opts);
  const c = container(out, extension, value !== undefined);
  if (!c) return;
  if (value === undefined) delete c[def.name];
  else c[def.name] = value;
}

/**
 * Rules every stored resource keeps, checked after POST, PUT and PATCH alike: required
 * attributes, at most one primary value, valid lockstep dates; `active` defaults to true
 * (a user lockstep treats as active says so in its representation).
 */
export function finalizeResource(rt: ResourceTypeDef, resource: JsonObject): JsonObject {
  pruneExtensions(rt, resource);
  // externalId is the identity's key and lock-system correlation key: an empty one keys nothing
  if (resource.externalId === '') throw invalid('externalId', 'must not be empty');
  for (const def of rt.schema.attributes) {
    if (def.required) {
      const v = resource[def.name];
      if (typeof v !== 'string' || v.length === 0) throw invalid(def.name, 'is required');
    }
  }
  const defs: Array<[AttributeDef, Json | undefined, string]> = [
    ...rt.schema.attributes.map((d): [AttributeDef, Json | undefined, string] => [d, resource[d.name], d.name]),
    ...rt.extensions.flatMap((e) => {
      const c = resource[e.id];
      return e.attributes.map((d): [AttributeDef, Json | undefined, string] => [d, isObject(c) ? c[d.name] : undefined, `${e.id}:${d.name}`]);
    }),
  ];
  for (const [def, v, path] of defs) {
    if (def.multiValued && Array.isArray(v) && findSubAttribute(def, 'primary')) {
      if (v.filter((e) => isObject(e) && e.primary === true).length > 1) throw invalid(path, 'at most one value may be primary');
    }
  }
  if (rt.schema.id === URN.user) {
    if (resource.active === undefined) resource.active = true;
    const ext = resource[URN.lockstep];
    if (isObject(ext)) {
      for (const k of ['hireDate', 'leaveDate', 'contractEnd']) {
        const v = ext[k];
        if (v !== undefined && !isoDateSchema.safeParse(v).success) {
          throw invalid(`${URN.lockstep}:${k}`, 'must be an ISO 8601 date (YYYY-MM-DD) or date-time');
        }
      }
    }
  }
  return resource;
}

/** The `schemas` list of a resource: its core schema, then the extensions it has values for. */
export function schemasOf(rt: ResourceTypeDef, resource: JsonObject): string[] {
  return [rt.schema.id, ...rt.extensions.filter((e) => isObject(resource[e.id])).map((e) => e.id)];
}
