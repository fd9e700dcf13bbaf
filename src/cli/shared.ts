/**
 * What every command group of the CLI shares: the root command with its global options, the
 * exit codes (listed in src/cli.ts), output, the engine a command runs with, and how a run's
 * outcome is printed and exits.
 */
import { Command } from 'commander';
import { loadConfig } from '../config/index.js';
import { createEngine, type Engine } from '../runtime/compose.js';
import { createLogger } from '../runtime/logger.js';
import type { RunOutcome } from '../reconcile/index.js';
import { describeStoreHolder } from '../store/lock.js';

export const EXIT = { ok: 0, error: 1, changes: 2, held: 3, failed: 4, invalid: 5, checkpoint: 6, storeInUse: 7 } as const;

export const program = new Command();
program
  .name('lockstep')
  .description('Keeps physical access in lock systems in lockstep with identity (Entra ID, SCIM, HR exports).')
  .option('-c, --config <file>', 'configuration file (env LOCKSTEP_CONFIG)', process.env.LOCKSTEP_CONFIG ?? './lockstep.yaml')
  .option('--log-level <level>', 'log level for stderr (env LOG_LEVEL)', process.env.LOG_LEVEL)
  .showHelpAfterError()
  // The embedded store's lock file names the command that holds it (src/store/lock.ts): a CLI
  // command beside serve uses the store serve shares (src/store/share.ts); one refused by a
  // holder that does not share it is told who holds it.
  .hook('preAction', (_root, action) => {
    const names: string[] = [];
    for (let c: Command | null = action; c && c !== program; c = c.parent) names.unshift(c.name());
    const command = `lockstep ${names.join(' ')}`;
    const port = process.env.PORT ?? '8080';
    describeStoreHolder({ command, adminUrl: command === 'lockstep serve' && port !== '0' ? `http://localhost:${port}/api/v1` : null });
  });

export const color = process.stdout.isTTY && !process.env.NO_COLOR;
export const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
export const err = (s: string) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`);

export function globals(): { config: string; logLevel?: string } {
  return program.opts();
}

export async function withEngine<T>(fn: (e: Engine) => Promise<T>, level = 'warn'): Promise<T> {
  const g = globals();
  const loaded = await loadConfig(g.config);
  const engine = await createEngine(loaded, { logger: createLogger(g.logLevel ?? level), joinSharedStore: true });
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

export function outcomeExit(o: RunOutcome): number {
  if (o.held) return EXIT.held;
  if (o.failed.length) return EXIT.failed;
  return EXIT.ok;
}

export function printOutcome(o: RunOutcome, json: boolean): void {
  if (json) {
    out(
      JSON.stringify(
        { run: o.run ? { ...o.run, plan: undefined } : null, held: o.held, summary: o.plan.summary, results: o.results, failed: o.failed.map((f) => f.key) },
        null,
        2,
      ),
    );
    return;
  }
  if (o.held) {
    err(`\nRUN HELD: ${o.run?.error}\nReview it with \`lockstep plan\`, then approve it with \`lockstep approve ${o.run?.id}\`.`);
    return;
  }
  const applied = o.results.filter((r) => r.status === 'applied').length;
  out(`\nApply complete! ${applied} applied, ${o.failed.length} failed.${o.run ? ` Run ${o.run.id}.` : ''}`);
  for (const f of o.failed) {
    const r = o.results.find((x) => x.key === f.key);
    err(
      `  failed: ${f.kind} ${f.group?.name ?? f.credentialId ?? ''} for ${f.userName ?? f.accountId}: ${r?.error?.message ?? 'unknown error'}${f.revocation ? ' (a revocation: the next run retries it; it is reported overdue until then)' : ''}`,
    );
  }
}

export const collect = (v: string, prev: string[]) => [...prev, v];
