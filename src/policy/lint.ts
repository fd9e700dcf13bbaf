/**
 * Mapping lint (issue 26): what the schema cannot see.
 * - An attribute a rule's `when` reads that is neither an identity attribute nor one a
 *   configured source provides is an error, with the close names (`departmnt` → `department`):
 *   such a rule silently matches nobody and takes doors.
 * - A rule or role bundle that matches nobody in the current population is a warning.
 * - Issues name the rule or access group by id (`rule "dc-ops": when: …`), not by array index.
 * Kept apart from the loader and the evaluator: it reads the compiled policy and adds messages.
 */
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import type { Identity } from '../domain/identity.js';
import { didYouMean } from '../domain/suggest.js';
import type { CompiledPolicy } from './compile.js';
import { identityView, matchFilter } from './filter.js';
import type { MappingIssue, MappingSource } from './loader.js';
export { namedPath } from './paths.js';
import { IDENTITY_ATTRIBUTES, SCIM_ATTRIBUTES } from '../domain/attributes.js';
export { IDENTITY_ATTRIBUTES, SCIM_ATTRIBUTES };

export interface LintIssue {
  severity: 'error' | 'warning';
  /** The rule or role bundle it is about. */
  rule: string | null;
  bundle: string | null;
  /** The attribute that is unknown (errors). */
  attribute?: string;
  /** `rule "dc-ops": when: departmnt is …` */
  message: string;
}

/** Every attribute a rule reads that nobody provides: an error each, with close names. */
export function unknownAttributeIssues(policy: CompiledPolicy, sourceAttributes: Iterable<string>): LintIssue[] {
  const known = [...IDENTITY_ATTRIBUTES, ...sourceAttributes];
  const lower = new Set(known.map((k) => k.toLowerCase()));
  const out: LintIssue[] = [];
  for (const rule of policy.rules) {
    for (const attr of rule.when.attributes) {
      if (lower.has(attr.toLowerCase())) continue;
      out.push({
        severity: 'error',
        rule: rule.id,
        bundle: null,
        attribute: attr,
        message: `rule "${rule.id}": when: ${attr} is not an identity attribute and no configured source provides it${didYouMean(attr, known)}: the rule would match nobody`,
      });
    }
  }
  return out;
}

/**
 * Rules and role bundles that match nobody among `people` (those not deleted): a warning each.
 * A bundle matches nobody when every rule that names it does (or no rule names it).
 */
export function unmatchedIssues(policy: CompiledPolicy, people: Iterable<Identity>): LintIssue[] {
  const hits = new Map<string, number>(policy.rules.map((r) => [r.id, 0]));
  let population = 0;
  for (const p of people) {
    if (p.deletedAt) continue;
    population++;
    const view = identityView(p);
    for (const r of policy.rules) if (matchFilter(r.when, view).matched) hits.set(r.id, (hits.get(r.id) ?? 0) + 1);
  }
  const out: LintIssue[] = [];
  const among = `among the ${population} ${population === 1 ? 'person' : 'people'} in the store`;
  for (const r of policy.rules) {
    if ((hits.get(r.id) ?? 0) === 0)
      out.push({ severity: 'warning', rule: r.id, bundle: null, message: `rule "${r.id}" matches nobody ${among} (when: ${r.when.source})` });
  }
  // bundles a matching rule names, directly or through includes
  const reached = new Set<string>();
  const named = new Set<string>();
  const include = (id: string) => {
    if (reached.has(id)) return;
    reached.add(id);
    for (const inner of policy.mappings.roles[id]?.include ?? []) include(inner);
  };
  for (const rule of policy.mappings.rules) {
    for (const b of rule.roles ?? []) named.add(b);
    if ((hits.get(rule.id) ?? 0) > 0) for (const b of rule.roles ?? []) include(b);
  }
  for (const id of policy.roles.keys()) {
    if (reached.has(id)) continue;
    const included = Object.values(policy.mappings.roles).some((b) => b.include?.includes(id));
    if (!named.has(id) && included) continue; // reached only through another bundle: that one is reported
    out.push({
      severity: 'warning',
      rule: null,
      bundle: id,
      message: named.has(id)
        ? `role bundle "${id}" reaches nobody ${among}: every rule that names it matches nobody`
        : `role bundle "${id}" is named by no rule: it grants nothing`,
    });
  }
  return out;
}

function matchesRuleId(node: unknown, id: string): boolean {
  if (!isMap(node)) return false;
  const pair = node.items.find((p) => isScalar(p.key) && p.key.value === 'id');
  return !!pair && isScalar(pair.value) && pair.value.value === id;
}

/** Where a rule's `when` is, as a mapping issue (file, line, column, path), for the console's error list. */
export function locateRuleIssue(sources: MappingSource[], issue: LintIssue): MappingIssue {
  for (const s of sources) {
    const lines = new LineCounter();
    const doc = parseDocument(s.text, { lineCounter: lines });
    const rules = doc.get('rules', true);
    if (!isSeq(rules) || issue.rule === null) continue;
    const index = rules.items.findIndex((n) => matchesRuleId(n, issue.rule!));
    if (index === -1) continue;
    const item = rules.items[index] as Node;
    const when = isMap(item) ? (item.items.find((p) => isScalar(p.key) && p.key.value === 'when')?.value as Node | undefined) : undefined;
    const at = lines.linePos((when ?? item).range?.[0] ?? 0);
    return { file: s.file, line: at.line, column: at.col, path: `rules[${index}].when`, message: issue.message };
  }
  return { file: sources[0]?.file ?? '', line: 1, column: 1, path: '', message: issue.message };
}
