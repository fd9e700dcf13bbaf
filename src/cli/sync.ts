/** `lockstep sync`: identities from the configured HR exports (and an Entra source on demand). */
import type { Command } from 'commander';
import { LockstepError } from '../domain/errors.js';
import { resolveFromConfig, type LoadedConfig } from '../config/index.js';
import { formatPlan, runReconcile } from '../reconcile/index.js';
import { syncFileSource, formatRowError, type FileSyncResult } from '../sources/file/index.js';
import { EXIT, color, err, out, outcomeExit, printOutcome, withEngine } from './shared.js';

/** sync */
export function registerSyncCommand(program: Command): void {
  program
    .command('sync')
    .description('import identities from the configured HR export(s) (sources of type file)')
    .option('-s, --source <name>', 'only this source')
    .option('--apply', 'reconcile the changed identities afterwards')
    .option('--allow-mass-removal', 'Entra: let a resync remove more people than maxRemovalPercent (an operator has checked)')
    .option('--json', 'machine-readable output')
    .action(async (o: { source?: string; apply?: boolean; json?: boolean; allowMassRemoval?: boolean }) => {
      await withEngine(async (engine) => {
        const loaded = engine.loaded;
        if (o.source && loaded.config.sources[o.source]?.type === 'entra') {
          const { pullEntra } = await import('../sources/entra/index.js');
          const src = loaded.config.sources[o.source];
          if (src?.type !== 'entra') return;
          const changed: string[] = [];
          const r = await pullEntra({
            db: engine.ctx.db,
            source: { ...src, name: o.source },
            onChange: (ids) => void changed.push(...ids),
            logger: engine.ctx.logger,
            allowMassRemoval: !!o.allowMassRemoval,
          });
          out(JSON.stringify({ ...r, changedIds: undefined, leaverIds: undefined, changed: changed.length }, null, 2));
          if (o.apply && changed.length) {
            const outcome = await runReconcile(engine.ctx, { kind: 'identities', ids: changed }, { trigger: 'cli sync entra', actor: 'cli', apply: true });
            if (!o.json) out(formatPlan(outcome.plan, { color }));
            printOutcome(outcome, !!o.json);
            process.exitCode = outcomeExit(outcome);
          }
          return;
        }
        const changed: string[] = [];
        const results: FileSyncResult[] = [];
        for (const [name, src] of fileSources(loaded, o.source)) {
          if (src.type !== 'file') continue;
          const r = await syncFileSource({ db: engine.ctx.db, name, config: src, path: resolveFromConfig(loaded, src.path), actor: 'cli' });
          results.push(r);
          changed.push(...r.changedIds);
          if (!o.json) printSync(r);
        }
        if (o.json) out(JSON.stringify(results, null, 2));
        if (o.apply && changed.length) {
          const outcome = await runReconcile(engine.ctx, { kind: 'identities', ids: changed }, { trigger: 'cli sync', actor: 'cli', apply: true });
          if (!o.json) out(formatPlan(outcome.plan, { color }));
          printOutcome(outcome, !!o.json);
          process.exitCode = outcomeExit(outcome);
        }
        if (results.some((r) => r.errors.length)) process.exitCode ||= EXIT.invalid;
      });
    });
}

function fileSources(loaded: LoadedConfig, only?: string) {
  const all = Object.entries(loaded.config.sources).filter(([, s]) => s.type === 'file');
  if (only && !loaded.config.sources[only])
    throw new LockstepError('validation', `no source named ${only} in ${loaded.file} (sources: ${Object.keys(loaded.config.sources).join(', ') || 'none'})`, {
      field: 'source',
    });
  return all.filter(([name]) => !only || name === only);
}

function printSync(r: FileSyncResult): void {
  out(
    `source ${r.source}: ${r.rows} rows, ${r.created} new, ${r.updated} changed, ${r.unchanged} unchanged, ${r.leavers} leaver(s) by absence, ${r.errors.length} row(s) skipped`,
  );
  for (const e of r.errors) err(`  ${formatRowError(e)}`);
  if (r.leaversWithheld) err(`  warning: ${r.leaversWithheld}`);
}
