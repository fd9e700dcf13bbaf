/**
 * The mapping lint in the What-if (issue 26): an attribute a rule reads that nothing provides
 * is a 400 naming the rule by id, with file, line and column and the close names; rules and
 * role bundles that match nobody in the current population come back as warnings beside the plan.
 * What the sources provide is read from the people in the store (and SCIM's attributes).
 */
import { LockstepError } from '../domain/errors.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { locateRuleIssue, SCIM_ATTRIBUTES, unknownAttributeIssues, unmatchedIssues, type LintIssue } from '../policy/lint.js';
import type { MappingSource } from '../policy/loader.js';
import type { Identity } from '../domain/identity.js';
import type { EngineContext } from '../reconcile/index.js';
import { iterateIdentities } from '../store/identities.js';
import { storeAttributeNames } from '../store/people.js';

export async function lintWhatIf(
  ctx: EngineContext,
  sources: MappingSource[],
  policy: CompiledPolicy,
  provided?: () => Promise<string[]>,
): Promise<LintIssue[]> {
  const known = [...SCIM_ATTRIBUTES, ...(await storeAttributeNames(ctx.db)), ...(provided ? await provided() : [])];
  const errors = unknownAttributeIssues(policy, known);
  if (errors.length) {
    const details = errors.map((e) => locateRuleIssue(sources, e));
    throw new LockstepError(
      'validation',
      `mappings are invalid (${errors.length} issue${errors.length === 1 ? '' : 's'}):\n${details.map((d) => `${d.file}:${d.line}:${d.column}: ${d.message}`).join('\n')}`,
      {
        field: details[0].path || 'when',
        details: details.map((d, i) => ({ ...d, label: `rule "${errors[i].rule}": when` })),
      },
    );
  }
  const people: Identity[] = [];
  for await (const page of iterateIdentities(ctx.db, 5000, { includeDeleted: false })) people.push(...page);
  return unmatchedIssues(policy, people);
}
