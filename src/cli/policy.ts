/** `lockstep validate` and `lockstep test`: the configuration, the mappings and their tests. */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { LockstepError } from '../domain/errors.js';
import type { Identity } from '../domain/identity.js';
import { loadConfig } from '../config/index.js';
import {
  loadMappings,
  formatTestReport,
  junitXml,
  parseTests,
  readTestSources,
  resolveTestFiles,
  runMappingTests,
  type CompiledPolicy,
} from '../policy/index.js';
import { unmatchedIssues } from '../policy/lint.js';
import { checkSystems, openConfiguredStore } from '../runtime/compose.js';
import { checkMappingAttributes } from '../runtime/mapping-lint.js';
import { iterateIdentities } from '../store/identities.js';
import { EXIT, err, globals, out } from './shared.js';

/** validate, test */
export function registerPolicyCommands(program: Command): void {
  program
    .command('validate')
    .description('check lockstep.yaml and the mapping files; prints every problem with file, line and column')
    .option('--against-store', 'also warn about rules and role bundles that match nobody among the people in the store')
    .action(async (o: { againstStore?: boolean }) => {
      const loaded = await loadConfig(globals().config);
      const { policy, files } = await loadMappings(loaded.mappingPaths);
      checkSystems(policy, loaded);
      // an attribute a rule reads that nothing provides (issue 26): exit 5, with the close names
      await checkMappingAttributes(policy, loaded);
      if (o.againstStore) await warnUnmatched(policy);
      out(`${loaded.file}: ok`);
      for (const f of files) out(`${f}: ok`);
      out(
        `${policy.accessGroups.size} access groups, ${policy.roles.size} role bundles, ${policy.rules.length} rules, ${Object.keys(loaded.config.systems).length} system(s), ${Object.keys(loaded.config.sources).length} source(s)`,
      );
      await validateMappingTests(loaded.mappingPaths, policy);
    });

  program
    .command('test [paths...]')
    .description('run the mapping tests (*.test.yaml beside the mappings, or the files and folders given); exit 1 if one fails')
    .option('-m, --mappings <paths...>', 'the mappings to test (default: the mappings of lockstep.yaml)')
    .option('--junit <file>', 'also write the results as JUnit XML')
    .option('--json', 'machine-readable')
    .action(async (paths: string[], o: { mappings?: string[]; junit?: string; json?: boolean }) => {
      const mappingPaths = o.mappings ?? (await loadConfig(globals().config)).mappingPaths;
      const { policy } = await loadMappings(mappingPaths);
      const files = await resolveTestFiles(paths.length ? paths : mappingPaths);
      if (files.length === 0)
        throw new LockstepError('config', `no mapping tests (*.test.yaml) in or beside ${(paths.length ? paths : mappingPaths).join(', ')}`, {
          field: 'paths',
        });
      const report = runMappingTests(policy, parseTests(await readTestSources(files)));
      if (o.junit) await writeFile(o.junit, junitXml(report));
      out(o.json ? JSON.stringify(report, null, 2) : formatTestReport(report));
      if (report.failed > 0) process.exitCode = EXIT.error;
    });
}

/** validate runs the mapping tests beside the mappings too (issue 27): a failed one fails validate (exit 1). */
async function validateMappingTests(mappingPaths: string[], policy: CompiledPolicy): Promise<void> {
  const files = await resolveTestFiles(mappingPaths);
  if (files.length === 0) return;
  const report = runMappingTests(policy, parseTests(await readTestSources(files)));
  out(report.failed === 0 ? `mapping tests: ${report.passed} passed (${files.join(', ')})` : formatTestReport(report));
  if (report.failed > 0) process.exitCode = EXIT.error;
}

/** validate --against-store: rules and role bundles that match nobody in the current population (warnings, on stderr). */
async function warnUnmatched(policy: CompiledPolicy): Promise<void> {
  const db = await openConfiguredStore(process.env, { joinShared: true });
  try {
    const people: Identity[] = [];
    for await (const page of iterateIdentities(db, 5000, { includeDeleted: false })) people.push(...page);
    const warnings = unmatchedIssues(policy, people);
    for (const w of warnings) err(`warning: ${w.message}`);
    if (warnings.length === 0) out(`every rule and role bundle matches someone among the ${people.length} people in the store`);
  } finally {
    await db.close();
  }
}
