/**
 * The `lockstep` command wired together: the command groups registered on the root command in
 * the order `lockstep --help` lists them (docs/cli.md), and main, which maps errors to exit codes.
 */
import { isLockstepError } from '../domain/errors.js';
import { StoreInUseError } from '../store/lock.js';
import { registerAuditCommands } from './audit.js';
import { registerGovernanceCommands } from './governance.js';
import { registerExplainCommand, registerReportCommands } from './people.js';
import { registerPolicyCommands } from './policy.js';
import { registerPlanCommands, registerRunDecisions } from './runs.js';
import { registerServeCommands } from './serve.js';
import { EXIT, err, program } from './shared.js';
import { registerSyncCommand } from './sync.js';

registerPolicyCommands(program);
registerSyncCommand(program);
registerPlanCommands(program);
registerExplainCommand(program);
registerRunDecisions(program);
registerAuditCommands(program);
registerReportCommands(program);
registerGovernanceCommands(program);
registerServeCommands(program);

export async function main(argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof StoreInUseError) {
      err(`error: ${e.message}`);
      process.exitCode = EXIT.storeInUse;
    } else if (isLockstepError(e)) {
      err(`error: ${e.message}`);
      process.exitCode = e.code === 'validation' || e.code === 'config' ? EXIT.invalid : EXIT.error;
    } else {
      err(`error: ${(e as Error).stack ?? String(e)}`);
      process.exitCode = EXIT.error;
    }
  }
}
