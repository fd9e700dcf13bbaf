/** Runs: `lockstep plan`, `apply`, and `approve` / `reject` of a run the mass-revocation guard held. */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { LockstepError } from '../domain/errors.js';
import { reconcileFull, localLeases, type Controller } from '../queue/controller.js';
import { formatPlan, runReconcile, approveRun, rejectRun, type RunOutcome } from '../reconcile/index.js';
import type { Engine } from '../runtime/compose.js';
import { EXIT, color, err, out, outcomeExit, printOutcome, withEngine } from './shared.js';

/** plan, apply */
export function registerPlanCommands(program: Command): void {
  program
    .command('plan')
    .description('show what a full reconciliation would change, and why (like terraform plan); the service applies exactly this')
    .option('--json', 'machine-readable plan, with its digest for `apply --expect`')
    .option('--detailed-exitcode', 'exit 2 when there are changes')
    .action(async (o: { json?: boolean; detailedExitcode?: boolean }) => {
      await withEngine(async (engine) => {
        const outcome = await runReconcile(engine.ctx, { kind: 'full' }, { trigger: 'cli plan', actor: 'cli', apply: false });
        if (o.json) out(JSON.stringify({ runId: outcome.run?.id, digest: outcome.digest, plan: outcome.plan }, null, 2));
        else {
          out(formatPlan(outcome.plan, { color }));
          if (outcome.plan.operations.length)
            out(
              `\nPlan digest ${outcome.digest}: \`lockstep apply --yes --expect ${outcome.digest}\` applies exactly this plan, or nothing if the world moved.`,
            );
        }
        if (o.detailedExitcode && outcome.plan.operations.length) process.exitCode = EXIT.changes;
      });
    });

  program
    .command('apply')
    .description('plan and apply a full reconciliation: the plan shown is the plan applied (nothing is applied if the world moved in between)')
    .option('-y, --yes', 'apply without asking (needed when stdin is not a terminal)')
    .option(
      '--expect <digest>',
      'apply only if the plan is still the one with this digest (from `plan --json` or `plan`); confirms it, so no question is asked',
    )
    .option('--json', 'machine-readable result')
    .action(async (o: { yes?: boolean; json?: boolean; expect?: string }) => {
      await withEngine(async (engine) => {
        let expectDigest = o.expect;
        // --expect pins the plan that was shown (by `plan`): that is the confirmation, so it works as printed without a terminal
        if (!o.yes && !o.expect) {
          const preview = await runReconcile(engine.ctx, { kind: 'full' }, { trigger: 'cli apply preview', actor: 'cli', apply: false });
          out(formatPlan(preview.plan, { color }));
          if (preview.plan.operations.length === 0) return;
          if (expectDigest && expectDigest !== preview.digest)
            throw new LockstepError(
              'conflict',
              `the world moved since the plan was shown: it was ${expectDigest}, it is now ${preview.digest}; nothing was applied`,
              { field: 'expect' },
            );
          if (!(await confirm('\nDo you want to perform these actions? Only "yes" will be accepted: '))) {
            err(process.stdin.isTTY ? 'Apply cancelled.' : 'Not applied: stdin is not a terminal; pass --yes to apply without asking.');
            process.exitCode = EXIT.error;
            return;
          }
          // apply the plan that was shown, or nothing
          expectDigest = preview.digest;
        }
        const progress = process.stderr.isTTY && !o.json;
        const { outcome } = await reconcileFull(cliController(engine), {
          trigger: 'cli apply',
          actor: 'cli',
          ...(expectDigest ? { expectDigest } : {}),
          ...(progress ? { onProgress: (d: number, t: number) => process.stderr.write(`\rapplying ${d}/${t}`) } : {}),
        });
        if (progress) process.stderr.write('\n');
        if ((o.yes || o.expect) && !o.json && outcome.plan) out(formatPlan(outcome.plan, { color }));
        printOutcome(outcome as RunOutcome, !!o.json);
        process.exitCode = outcomeExit(outcome as RunOutcome);
      });
    });
}

/** reject, approve (of a held run) */
export function registerRunDecisions(program: Command): void {
  program
    .command('reject <run>')
    .description('rejects a run held by the mass-revocation guard (id or unique prefix): nothing of it is applied')
    .option('--reason <text>', 'why, for the audit log')
    .action(async (run: string, o: { reason?: string }) => {
      await withEngine(async (engine) => {
        const actor = `cli:${process.env.USER ?? 'unknown'}`;
        const r = await rejectRun(engine.ctx, run, actor, o.reason ?? null);
        out(`Run ${r.id} rejected; nothing of it was applied. The people it held are held again on their next look while the cause is there.`);
      });
    });

  program
    .command('approve <run>')
    .description('approve a run held by the mass-revocation guard (id or unique prefix), and apply it')
    .option('--json', 'machine-readable result')
    .action(async (run: string, o: { json?: boolean }) => {
      await withEngine(async (engine) => {
        const actor = `cli:${process.env.USER ?? 'unknown'}`;
        const outcome = await approveRun(engine.ctx, run, actor);
        if (!o.json) out(formatPlan(outcome.plan, { color }));
        printOutcome(outcome, !!o.json);
        process.exitCode = outcomeExit(outcome);
      });
    });
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim().toLowerCase() === 'yes';
  } finally {
    rl.close();
  }
}

/**
 * The controller as the CLI runs it: leases within this process, and nothing to requeue into
 * (a revocation that did not land is recorded overdue; the service's next run, or this
 * command again, retries it).
 */
function cliController(engine: Engine): Controller {
  const ctx = engine.ctx;
  return {
    db: ctx.db,
    now: () => ctx.now(),
    logger: ctx.logger,
    reconcile: (scope, opts) => runReconcile(ctx, scope, opts),
    systems: [...ctx.drivers.keys()],
    leases: localLeases(),
    requeue: async (ids, lane) => {
      if (lane === 'revocation')
        err(`${ids.length} person(s) still have revocations that did not land: they are reported overdue; run apply again or let the service retry them`);
    },
  };
}
