/**
 * `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9): which attributes a response
 * carries. `id` is always returned (returned: always), `schemas` always describes what is there.
 * Names resolve through the schemas, case-insensitively; names that resolve to nothing are
 * ignored, as the RFC lets a service provider do.
 */
import { badRequest, ScimError } from './errors.js';
import { compileElementFilter, matches, type CompiledFilter } from './filter.js';
import { isObject, type Json, type JsonObject } from './resource.js';
import { findSubAttribute, matchSchemaUrn, resolveAttribute, splitUrn, type ResourceTypeDef } from './schemas.js';

interface Selection {
  extension: string | null;
  /** Canonical attribute name; null selects the whole extension. */
  name: string | null;
  sub: string | null;
  /** `emails[type eq "work"]`: only the values of a multi-valued attribute that match. */
  filter?: CompiledFilter;
}

/**
 * `emails[type eq "work"]` or `emails[type eq "work"].value` (the attribute names Entra's
 * mappings use): the attribute, its values narrowed by the filter. RFC 7644's `attributes`
 * grammar has no filters; an unreadable one is invalidValue rather than a silently empty answer.
 */
function parseFiltered(rt: ResourceTypeDef, item: string): Selection | null {
  const m = /^([^[\]]+)\[(.*)\](?:\.([A-Za-z$][\w$-]*))?$/s.exec(item);
  if (!m) throw badRequest('invalidValue', `attributes: ${JSON.stringify(item)} is not an attribute name`, 'attributes');
  const { urn, rest } = splitUrn(rt, m[1]);
  const r = urn === undefined ? null : resolveAttribute(rt, urn, rest);
  if (!r || !r.def.multiValued || r.def.type !== 'complex') {
    throw badRequest('invalidValue', `attributes: ${JSON.stringify(item)}: a value filter needs a multi-valued complex attribute`, 'attributes');
  }
  const sub = m[3] !== undefined ? findSubAttribute(r.def, m[3]) : undefined;
  if (m[3] !== undefined && !sub) throw badRequest('invalidValue', `attributes: ${r.def.name} has no sub-attribute ${JSON.stringify(m[3])}`, 'attributes');
  let filter: CompiledFilter;
  try {
    filter = compileElementFilter(r.def, m[2], 'invalidValue');
  } catch (e) {
    if (e instanceof ScimError) throw badRequest('invalidValue', `attributes: ${e.message}`, 'attributes');
    throw e;
  }
  return { extension: r.extension, name: r.def.name, sub: sub?.name ?? null, filter };
}

/** Splits at commas outside brackets and quotes (a value filter may hold either). */
function splitList(list: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '[') depth++;
    else if (c === ']') depth = Math.max(0, depth - 1);
    else if (c === ',' && depth === 0) {
      out.push(list.slice(start, i));
      start = i + 1;
    }
  }
  out.push(list.slice(start));
  return out;
}

export interface Projection {
  include: Selection[] | null;
  exclude: Selection[];
}

function parseList(rt: ResourceTypeDef, list: string | undefined): Selection[] {
  if (!list) return [];
  const out: Selection[] = [];
  for (const raw of splitList(list)) {
    const item = raw.trim();
    if (!item) continue;
    if (item.includes('[')) {
      const f = parseFiltered(rt, item);
      if (f) out.push(f);
      continue;
    }
    const ext = matchSchemaUrn(rt, item);
    if (ext && ext !== rt.schema.id) {
      out.push({ extension: ext, name: null, sub: null });
      continue;
    }
    const { urn, rest } = splitUrn(rt, item);
    if (urn === undefined) continue;
    const [name, subName] = rest.split('.');
    const r = resolveAttribute(rt, urn, name ?? '');
    if (!r) continue;
    const sub = subName ? findSubAttribute(r.def, subName) : undefined;
    if (subName && !sub) continue;
    out.push({ extension: r.extension, name: r.def.name, sub: sub?.name ?? null });
  }
  return out;
}

export function parseProjection(rt: ResourceTypeDef, attributes: string | undefined, excludedAttributes: string | undefined): Projection {
  const include = parseList(rt, attributes);
  return { include: attributes !== undefined && attributes.trim() !== '' ? include : null, exclude: parseList(rt, excludedAttributes) };
}

/** Whether the projection returns the attribute (lets the caller skip loading it, e.g. group members). */
export function projects(p: Projection, name: string): boolean {
  if (p.include) return p.include.some((s) => s.extension === null && s.name === name);
  return !p.exclude.some((s) => s.extension === null && s.name === name && s.sub === null);
}

function pick(v: Json | undefined, sub: string | null, filter?: CompiledFilter): Json | undefined {
  if (filter) {
    if (!Array.isArray(v)) return undefined;
    const hits = v.filter((e) => isObject(e) && matches(e, filter.root));
    return hits.length ? pick(hits, sub) : undefined;
  }
  if (v === undefined || sub === null) return v;
  if (Array.isArray(v)) {
    const items = v.filter(isObject).map((e) => (e[sub] === undefined ? {} : { [sub]: e[sub] }));
    return items.some((e) => Object.keys(e).length > 0) ? items : undefined;
  }
  return isObject(v) && v[sub] !== undefined ? { [sub]: v[sub] } : undefined;
}

function merge(a: Json | undefined, b: Json): Json {
  if (Array.isArray(a) && Array.isArray(b)) return a.map((e, i) => (isObject(e) && isObject(b[i]) ? { ...e, ...b[i] } : e));
  if (isObject(a) && isObject(b)) return { ...a, ...b };
  return b;
}

/** The resource as the projection shows it; `resource` is a full rendering and is not modified. */
export function project(rt: ResourceTypeDef, resource: JsonObject, p: Projection): JsonObject {
  if (!p.include && p.exclude.length === 0) return resource;
  let out: JsonObject;
  if (p.include) {
    out = { id: resource.id ?? null };
    for (const s of p.include) {
      if (s.name === null) {
        if (resource[s.extension!] !== undefined) out[s.extension!] = resource[s.extension!]!;
        continue;
      }
      const holder = s.extension ? resource[s.extension] : resource;
      if (!isObject(holder)) continue;
      const v = pick(holder[s.name], s.sub, s.filter);
      if (v === undefined) continue;
      if (s.extension) {
        const target = isObject(out[s.extension]) ? (out[s.extension] as JsonObject) : {};
        target[s.name] = merge(target[s.name], v);
        out[s.extension] = target;
      } else {
        out[s.name] = merge(out[s.name], v);
      }
    }
  } else {
    out = structuredClone(resource);
    for (const s of p.exclude) {
      if (s.name === 'id' && s.extension === null) continue; // returned: always
      if (s.name === null) {
        delete out[s.extension!];
        continue;
      }
      const holder = s.extension ? out[s.extension] : out;
      if (!isObject(holder)) continue;
      if (s.filter) {
        const v = holder[s.name];
        if (!Array.isArray(v)) continue;
        const filter = s.filter;
        const kept = v
          .map((e) => (!isObject(e) || !matches(e, filter.root) ? e : s.sub === null ? null : (({ [s.sub]: _gone, ...rest }) => rest)(e)))
          .filter((e): e is Json => e !== null && !(isObject(e) && Object.keys(e).length === 0));
        if (kept.length) holder[s.name] = kept;
        else delete holder[s.name];
      } else if (s.sub === null) delete holder[s.name];
      else {
        const v = holder[s.name];
        if (Array.isArray(v)) for (const e of v) if (isObject(e)) delete e[s.sub];
        if (isObject(v)) delete v[s.sub];
      }
      if (s.extension && Object.keys(holder).length === 0) delete out[s.extension];
    }
  }
  const schemas = [rt.schema.id, ...rt.extensions.filter((e) => isObject(out[e.id])).map((e) => e.id)];
  const { id, schemas: _old, ...rest } = out;
  return { schemas, id: id ?? null, ...rest };
}
