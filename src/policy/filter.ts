/**
 * SCIM filters over an identity, as rules' `when` uses them: the filter core
 * (src/domain/filter.ts) with the policy's dialect, and what the evaluator needs around it.
 *
 * The dialect: any attribute name an identity view has (its fields, then its extra
 * `attributes`), URN prefixes ignored (`urn:...:User:manager.value` is manager.value), every
 * string compared case-insensitively (an identity carries no schema that says caseExact), and
 * values typed as written. Which value of a multi-valued attribute matched (the role, for the
 * audit trail) comes from the core's hits.
 */
import {
  compileFilterTree,
  lookupAttribute,
  matchWithHits,
  topRefs,
  type AttributeRef,
  type FilterDialect,
  type FilterNode,
  type FilterOutcome,
} from '../domain/filter.js';
import { identityInputSchema, type Identity } from '../domain/identity.js';

export { indexRecord, lookupAttribute, type FilterHit, type FilterOutcome } from '../domain/filter.js';

/** The identity as filters see it: core fields, then `attributes` for names no core field has. */
export type FilterView = Record<string, unknown>;

export interface CompiledFilter {
  /** The filter text as written. */
  source: string;
  root: FilterNode;
  /** Top-level attribute names the filter references, as written (URN prefixes removed), deduplicated case-insensitively. */
  attributes: string[];
  /**
   * The filter's top-level `attr eq "text"` conjuncts (value lower-cased). When the identity's
   * attribute is a single string that differs, the filter cannot match: `ruledOut` says so
   * without evaluating it, which is most rules for most people in a large policy.
   */
  guards?: ReadonlyArray<{ name: string; value: string }>;
}

/** `urn:...:User:manager.value` -> manager.value: schema URNs address the same attributes. */
const policyDialect: FilterDialect<AttributeRef> = {
  resolve(path) {
    const i = path.lastIndexOf(':');
    const [attribute, ...subPath] = (i === -1 ? path : path.slice(i + 1)).split('.');
    return { holder: null, attribute: attribute, subPath, caseExact: false };
  },
};

/** Parses a filter; throws a FilterError whose message explains what is wrong. */
export function parseFilter(source: string): CompiledFilter {
  const root = compileFilterTree(source, policyDialect);
  const seen = new Map<string, string>();
  for (const ref of topRefs(root)) {
    const lower = ref.attribute.toLowerCase();
    if (!seen.has(lower)) seen.set(lower, ref.attribute);
  }
  const guards = eqGuards(root);
  return { source, root, attributes: [...seen.values()], ...(guards.length > 0 ? { guards } : {}) };
}

/** Conjuncts whose answer on a single string attribute is its lower-cased text being equal (not instants, not sub-attributes). */
function eqGuards(root: FilterNode): Array<{ name: string; value: string }> {
  const conjuncts = root.kind === 'and' ? root.children : [root];
  const out: Array<{ name: string; value: string }> = [];
  for (const c of conjuncts) {
    if (c.kind !== 'cmp' || c.op !== 'eq' || typeof c.value !== 'string' || c.ms !== undefined) continue;
    if (c.ref.subPath.length === 0) out.push({ name: c.ref.attribute, value: c.text });
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
  return topUses(f.root, []);
}

function topUses(node: FilterNode, out: Array<{ name: string; presence: boolean }>): Array<{ name: string; presence: boolean }> {
  switch (node.kind) {
    case 'and':
    case 'or':
      for (const c of node.children) topUses(c, out);
      break;
    case 'not':
      topUses(node.child, out);
      break;
    default:
      // `x eq null` and `x ne null` are built as `not (x pr)` and `x pr`
      out.push({ name: node.ref.attribute, presence: node.kind === 'pr' && node.ref.subPath.length === 0 });
  }
  return out;
}

export function matchFilter(f: CompiledFilter, view: FilterView): FilterOutcome {
  return matchWithHits(view, f.root);
}

/** How a value of a multi-valued attribute reads in reasons: a role by its value, a group as it is. */
export function displayElement(e: unknown): unknown {
  if (typeof e === 'object' && e !== null && !Array.isArray(e)) {
    const v = lookupAttribute(e as Record<string, unknown>, 'value');
    if (v !== undefined) return v.value;
  }
  return e;
}
