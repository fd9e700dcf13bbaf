// Preloaded (`node --import tsx --import ./test/helpers/cli-help-dump.mjs src/cli.ts`): instead of
// running a command, the CLI prints every command's `--help` text as JSON, [{path, help}], in one
// process. test/unit/docs.test.ts compares them with docs/cli.md.
import { Command } from 'commander';

Command.prototype.parseAsync = async function dumpHelp() {
  const out = [];
  const walk = (cmd, path) => {
    out.push({ path, help: cmd.helpInformation() });
    for (const c of cmd.commands) walk(c, [...path, c.name()]);
  };
  walk(this, []);
  process.stdout.write(JSON.stringify(out));
  return this;
};
