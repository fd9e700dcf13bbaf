/** What people hold and why: `lockstep explain`, `lockstep report` and `report violations`. */
import { writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { explainText } from '../policy/index.js';
import {
  explainIdentity,
  accessReport,
  accessReportCsv,
  roleReport,
  toCsv,
  violationReport,
  violationReportCsv,
  violationReportText,
} from '../governance/index.js';
import { EXIT, out, withEngine } from './shared.js';

/** explain */
export function registerExplainCommand(program: Command): void {
  program
    .command('explain <userName>')
    .description("why a person has (or lacks) which doors: rules, roles, validity, and each system's state")
    .option('--json', 'machine-readable')
    .action(async (who: string, o: { json?: boolean }) => {
      await withEngine(async (engine) => {
        const x = await explainIdentity(engine.ctx, who);
        if (o.json) {
          out(JSON.stringify(x, null, 2));
          return;
        }
        const i = x.identity;
        out(
          `${i.displayName ?? i.userName} <${i.userName}> (source ${i.source}, key ${i.externalId})${x.evaluation.leaver ? ` — LEAVER: ${x.evaluation.leaverReason ?? ''}` : ''}`,
        );
        out(
          `  ${[i.employeeType, i.department, i.jobTitle, i.site].filter(Boolean).join(' · ')}${i.groups.length ? `; groups: ${i.groups.join(', ')}` : ''}${i.roles.length ? `; roles: ${i.roles.map((r) => r.value).join(', ')}` : ''}`,
        );
        if (x.conflict)
          out(
            `  CORRELATION CONFLICT: externalId ${JSON.stringify(x.conflict.externalId)} is also held by ${x.conflict.heldBy.map((o) => `${o.userName} (${o.id}, source ${o.source})`).join(', ')}: no access, and no account by that key, until only one holds it`,
          );
        out('');
        for (const line of explainText(x.evaluation)) out(line);
        // exceptions in force for groups no rule grants now: they still deny them if a rule starts to
        for (const ex of x.exceptions.filter((y) => !x.evaluation.denied.some((d) => d.exception?.id === y.id))) {
          out(
            `! exception ${ex.id}: ${ex.accessGroupId} denied until ${ex.until} (${ex.source === 'review' ? `access review ${ex.sourceRef ?? ''}` : ex.createdBy}): ${ex.reason} (no rule grants it now)`,
          );
        }
        for (const s of x.systems) {
          out(`\n${s.system}: ${s.account ? `account ${s.account.id} (${s.account.state}${s.linked ? ', linked' : ', not linked yet'})` : 'no account'}`);
          for (const m of s.account?.memberships ?? []) out(`  holds ${m.group}${m.from || m.until ? ` [${m.from ?? '…'} → ${m.until ?? '…'}]` : ''}`);
          for (const c of s.account?.credentials ?? [])
            out(
              `  ${c.type} ${c.number ?? c.id}: ${c.status}${c.lastUsedAt ? `, last used ${c.lastUsedAt}` : ', never used'}${c.keyExpiresAt ? `; offline key valid until ${c.keyExpiresAt}` : ''}`,
            );
          if (s.offline) out(`  data-on-card system: offline locks learn a change when a key is next updated (within ${s.offline.revalidationDays} days)`);
          if (s.fitted?.length) out(`  sent as this system can hold it: ${s.fitted.join('; ')}`);
        }
        for (const p of x.offlinePending)
          out(`\nSTILL ON KEYS: ${p.system} took ${p.kind} of ${p.groupRef} at ${p.revokedAt}; offline locks may open for this person until ${p.learnedBy}`);
      });
    });
}

/** report, report violations */
export function registerReportCommands(program: Command): void {
  program
    .command('report')
    .description('the access report: who holds which access group, class, why, until when, last used')
    .addOption(new Option('--format <format>', 'output format').choices(['json', 'csv']).default('json'))
    .addOption(new Option('--group-by <what>', 'group by role bundle').choices(['role']))
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action(async (o: { format: string; groupBy?: string; output?: string }) => {
      await withEngine(async (engine) => {
        const rows = await accessReport(engine.ctx);
        let text: string;
        if (o.groupBy === 'role') {
          const r = roleReport(engine.ctx, rows);
          text =
            o.format === 'csv'
              ? `${toCsv(r.matrix, ['role', 'accessGroupId', 'accessGroup', 'system', 'protectionClass', 'via'])}\n${toCsv(r.holders, ['role', 'userName', 'displayName', 'system', 'accessGroup', 'protectionClass', 'validUntil'])}`
              : JSON.stringify(r, null, 2);
        } else text = o.format === 'csv' ? accessReportCsv(rows) : JSON.stringify({ generatedAt: new Date().toISOString(), rows }, null, 2);
        if (o.output) await writeFile(o.output, text);
        else out(text);
      });
    });

  program.commands
    .find((c) => c.name() === 'report')!
    .command('violations')
    .description('held access that breaks an invariant of the mappings (reported, never revoked on its own); exit 1 if there is any')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'csv']).default('text'))
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action(async (opts: { format: string; output?: string }, cmd: Command) => {
      // `report` has --format and -o too, and takes them wherever they stand: given after `violations`, they are its
      const parent = cmd.parent!;
      const o = {
        format: parent.getOptionValueSource('format') === 'cli' ? String(parent.opts().format) : opts.format,
        output: opts.output ?? (parent.opts().output as string | undefined),
      };
      await withEngine(async (engine) => {
        const r = await violationReport(engine.ctx);
        const text = o.format === 'csv' ? violationReportCsv(r) : o.format === 'json' ? JSON.stringify(r, null, 2) : violationReportText(r);
        if (o.output) await writeFile(o.output, text);
        else out(text);
        if (r.violations.length > 0) process.exitCode = EXIT.error;
      });
    });
}
