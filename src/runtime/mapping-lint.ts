/**
 * The mapping lint where the service and the CLI load their mappings (issue 26): an attribute a
 * rule reads that nothing provides is refused at start, as an access group naming a system that
 * is not configured is, since such a rule silently matches nobody and takes doors.
 */
import type { LoadedConfig } from '../config/index.js';
import { LockstepError } from '../domain/errors.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { unknownAttributeIssues, type LintIssue } from '../policy/lint.js';
import { sourceAttributeNames } from '../sources/attributes.js';

export async function mappingAttributeErrors(policy: CompiledPolicy, loaded: LoadedConfig): Promise<LintIssue[]> {
  return unknownAttributeIssues(policy, await sourceAttributeNames(loaded));
}

export async function checkMappingAttributes(policy: CompiledPolicy, loaded: LoadedConfig): Promise<void> {
  const errors = await mappingAttributeErrors(policy, loaded);
  if (errors.length) {
    throw new LockstepError(
      'config',
      `mappings: ${errors.length === 1 ? 'a rule reads an attribute nothing provides' : `${errors.length} rules read attributes nothing provides`}:\n${errors.map((e) => `  ${e.message}`).join('\n')}`,
      {
        field: 'when',
        details: errors,
      },
    );
  }
}
