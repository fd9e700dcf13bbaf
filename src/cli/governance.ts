/** Governance: `lockstep credential lost`, `incident`, `exception`, `request` and `review`. */
import { writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { LockstepError } from '../domain/errors.js';
import type { AccessRequest } from '../domain/governance.js';
import { runReconcile } from '../reconcile/index.js';
import {
  reportLostCredential,
  acknowledgeIncident,
  approveAccessRequest,
  closeIncident,
  createAccessException,
  createAccessRequest,
  decideReviewItem,
  denyAccessRequest,
  findAccessExceptions,
  findAccessRequests,
  listIncidentViews,
  listReviewCampaigns,
  recordIncidentReport,
  removeAccessException,
  reviewReport,
  reviewReportCsv,
  startReview,
  tickReviews,
  type Caller,
  type IncidentWithPerson,
} from '../governance/index.js';
import { personNames, type PersonName } from '../store/people.js';
import { resolveShortId } from '../store/short-ids.js';
import { EXIT, out, outcomeExit, printOutcome, withEngine } from './shared.js';

/** credential lost, incident, exception, request, review */
export function registerGovernanceCommands(program: Command): void {
  const credential = program.command('credential').description('credentials in lock systems');
  credential
    .command('lost <system> <credentialId>')
    .description('mark a credential lost at once and open an incident with the NIS2 reporting clock')
    .option('--account <id>', 'the holding account (found by search otherwise)')
    .option('--note <text>', 'what happened')
    .option('--suspend', 'suspend rather than mark lost')
    .option('--revoke-access-until <date>', "where the system cannot block the credential: revoke its holder's access there until DATE instead")
    .option('--json', 'machine-readable result')
    .action(
      async (system: string, credentialId: string, o: { account?: string; note?: string; suspend?: boolean; revokeAccessUntil?: string; json?: boolean }) => {
        await withEngine(async (engine) => {
          const r = await reportLostCredential(engine.ctx, {
            system,
            credentialId,
            accountId: o.account,
            note: o.note,
            actor: `cli:${process.env.USER ?? 'unknown'}`,
            state: o.suspend ? 'suspended' : 'lost',
            ...(o.revokeAccessUntil ? { revokeAccessUntil: o.revokeAccessUntil } : {}),
          });
          if (r.revokedAccess) {
            // the exceptions deny the groups: reconcile the holder now (through the guard and the budget)
            await runReconcile(
              engine.ctx,
              { kind: 'identities', ids: [r.revokedAccess.identityId] },
              { trigger: 'cli:credential-lost', actor: `cli:${process.env.USER ?? 'unknown'}`, apply: true },
            );
          }
          if (o.json) out(JSON.stringify(r, null, 2));
          else {
            out(
              r.revokedAccess
                ? `credential ${credentialId} of ${r.account.displayName}: ${system} cannot block it; access revoked in ${system} until ${r.revokedAccess.until} (${r.revokedAccess.exceptions.map((e) => e.accessGroupId).join(', ') || 'no access groups held'})`
                : `credential ${credentialId} of ${r.account.displayName}: ${r.result.status === 'applied' ? (o.suspend ? 'suspended' : 'marked lost') : `NOT YET APPLIED (${r.result.error?.message})`}`,
            );
            out(
              `incident ${r.incident.id} opened; NIS2 early warning due by ${r.incident.nis2.earlyWarningDue}, notification by ${r.incident.nis2.notificationDue}`,
            );
          }
          if (r.result.status !== 'applied' && !r.revokedAccess) process.exitCode = EXIT.failed;
        });
      },
    );

  const incident = program
    .command('incident')
    .description('incidents (lost credentials) and their NIS2 Art. 23 reports: early warning 24 h, notification 72 h, final report one month');
  incident
    .command('list')
    .description('open incidents with their clocks, newest first (ids shortened: commands take a unique prefix)')
    .option('--all', 'also closed ones')
    .option('--closed', 'only closed ones')
    .option('--json', 'machine-readable')
    .action(async (o: { all?: boolean; closed?: boolean; json?: boolean }) => {
      await withEngine(async (engine) => {
        const list = await listIncidentViews(engine.ctx, o.all ? {} : { status: o.closed ? 'closed' : 'open' });
        if (o.json) return out(JSON.stringify(list, null, 2));
        out(list.length ? list.map(incidentLine).join('\n') : o.all ? 'no incidents' : `no ${o.closed ? 'closed' : 'open'} incidents`);
      });
    });
  incident
    .command('ack <id>')
    .description('acknowledge an incident: you have taken it on (the clocks keep running until the reports are recorded)')
    .option('--note <text>', 'for the audit log')
    .action(async (id: string, o: { note?: string }) => {
      await withEngine(async (engine) => {
        out(incidentLine(await acknowledgeIncident(engine.ctx, id, { actor: `cli:${process.env.USER ?? 'unknown'}`, note: o.note ?? null })));
      });
    });
  incident
    .command('report <id> <step>')
    .description('record that a report was sent (step: early-warning, notification or final-report): its clock stops')
    .requiredOption('--reference <ref>', "the CSIRT's or authority's reference, or where the report is filed")
    .option('--sent-at <iso>', 'when it was sent (ISO date-time with a zone; default now)')
    .action(async (id: string, step: string, o: { reference: string; sentAt?: string }) => {
      await withEngine(async (engine) => {
        out(
          incidentLine(
            await recordIncidentReport(engine.ctx, id, {
              step,
              reference: o.reference,
              sentAt: o.sentAt ?? null,
              actor: `cli:${process.env.USER ?? 'unknown'}`,
            }),
          ),
        );
      });
    });
  incident
    .command('close <id>')
    .description('close an incident with a reason: no clock runs after')
    .requiredOption('--reason <text>', 'why (in the audit log)')
    .action(async (id: string, o: { reason: string }) => {
      await withEngine(async (engine) => {
        out(incidentLine(await closeIncident(engine.ctx, id, { reason: o.reason, actor: `cli:${process.env.USER ?? 'unknown'}` })));
      });
    });

  const exception = program.command('exception').description('access exceptions: deny an access group to a person until a date, whatever the rules grant');
  exception
    .command('add <userName> <accessGroup>')
    .description('record an exception and reconcile the person at once (the revocation goes through the guard and budget)')
    .requiredOption('--until <date>', 'ISO date (end of that day, UTC) or date-time with a zone')
    .requiredOption('--reason <text>', 'why: a review, a manual decision (in the audit log)')
    .option('--json', 'machine-readable result')
    .action(async (who: string, group: string, o: { until: string; reason: string; json?: boolean }) => {
      await withEngine(async (engine) => {
        const actor = `cli:${process.env.USER ?? 'unknown'}`;
        const { exception: x, identity } = await createAccessException(engine.ctx, { who, accessGroupId: group, until: o.until, reason: o.reason, actor });
        const outcome = await runReconcile(engine.ctx, { kind: 'identities', ids: [identity.id] }, { trigger: 'exception', actor, apply: true });
        if (o.json)
          out(JSON.stringify({ exception: x, run: outcome.run ? { id: outcome.run.id, status: outcome.run.status } : null, held: outcome.held }, null, 2));
        else {
          out(`exception ${x.id}: ${group} denied to ${identity.userName} until ${x.until}`);
          printOutcome(outcome, false);
        }
        process.exitCode = outcomeExit(outcome);
      });
    });
  exception
    .command('list')
    .description('exceptions in force, newest first')
    .option('--user <userName>', "only this person's")
    .option('--group <accessGroup>', "only this access group's")
    .option('--all', 'also ended and removed ones')
    .option('--json', 'machine-readable')
    .action(async (o: { user?: string; group?: string; all?: boolean; json?: boolean }) => {
      await withEngine(async (engine) => {
        const list = await findAccessExceptions(engine.ctx, { who: o.user, accessGroupId: o.group, all: o.all });
        if (o.json) return out(JSON.stringify(list, null, 2));
        if (list.length === 0) return out('no exceptions');
        const names = await personNames(
          engine.ctx.db,
          list.map((x) => x.identityId),
        );
        for (const x of list) {
          const state = x.removedAt
            ? ` [removed ${x.removedAt} by ${x.removedBy}: ${x.removedReason}]`
            : Date.parse(x.until) <= engine.ctx.now().getTime()
              ? ' [ended]'
              : '';
          out(
            `${shortId(x.id)}  ${x.accessGroupId} denied to ${personLabel(names, x.identityId)} until ${x.until} (${x.source}, by ${x.createdBy}): ${x.reason}${state}`,
          );
        }
      });
    });
  exception
    .command('remove <id>')
    .description('end an exception early and reconcile the person (they may be granted the group again)')
    .requiredOption('--reason <text>', 'why (in the audit log)')
    .action(async (id: string, o: { reason: string }) => {
      await withEngine(async (engine) => {
        const actor = `cli:${process.env.USER ?? 'unknown'}`;
        const x = await removeAccessException(engine.ctx, await resolveShortId(engine.ctx.db, 'exception', id), { actor, reason: o.reason });
        const outcome = await runReconcile(engine.ctx, { kind: 'identities', ids: [x.identityId] }, { trigger: 'exception', actor, apply: true });
        out(`exception ${x.id} removed`);
        printOutcome(outcome, false);
        process.exitCode = outcomeExit(outcome);
      });
    });

  const request = program
    .command('request')
    .description('access requests: an access group or role bundle for a time window, approved by its owner (and sponsor)');
  request
    .command('create <userName>')
    .description('request access for a person (the class limits apply at once)')
    .option('--group <accessGroup>', 'the access group')
    .option('--role <role>', 'the role bundle (instead of --group)')
    .option('--from <date>', 'ISO date or date-time (default now)')
    .requiredOption('--until <date>', 'ISO date (end of that day, UTC) or date-time')
    .requiredOption('--justification <text>', 'why the access is needed')
    .option('--json', 'machine-readable')
    .action(async (who: string, o: { group?: string; role?: string; from?: string; until: string; justification: string; json?: boolean }) => {
      await withEngine(async (engine) => {
        const r = await createAccessRequest(
          engine.ctx,
          { who, accessGroup: o.group, role: o.role, from: o.from, until: o.until, justification: o.justification },
          cliCaller(),
        );
        out(
          o.json
            ? JSON.stringify(r, null, 2)
            : `request ${r.id} created, waiting for ${r.steps.map((s) => (s.who ? `${s.kind} ${s.who}` : 'an approver')).join(' and ')}`,
        );
      });
    });
  request
    .command('list')
    .description('access requests, newest first')
    .option('--user <userName>', "only this person's")
    .addOption(new Option('--status <status>', 'only these').choices(['pending', 'approved', 'denied']))
    .option('--json', 'machine-readable')
    .action(async (o: { user?: string; status?: 'pending' | 'approved' | 'denied'; json?: boolean }) => {
      await withEngine(async (engine) => {
        const list = await findAccessRequests(engine.ctx, { who: o.user, status: o.status });
        if (o.json) out(JSON.stringify(list, null, 2));
        else {
          const names = await personNames(
            engine.ctx.db,
            list.map((r) => r.identityId),
          );
          out(list.length ? list.map((r) => requestLine(r, names)).join('\n') : 'no requests');
        }
      });
    });
  request
    .command('approve <id>')
    .description("approve as the group's owner or the person's sponsor ($USER); once every step is given the grant is applied")
    .option('--comment <text>', 'for the audit log')
    .action(async (id: string, o: { comment?: string }) => {
      await withEngine(async (engine) => {
        const caller = cliCaller();
        const r = await approveAccessRequest(engine.ctx, await resolveShortId(engine.ctx.db, 'request', id), caller, o.comment ?? null);
        out(requestLine(r, await personNames(engine.ctx.db, [r.identityId])));
        if (r.status === 'approved') {
          const outcome = await runReconcile(engine.ctx, { kind: 'identities', ids: [r.identityId] }, { trigger: 'request', actor: caller.actor, apply: true });
          printOutcome(outcome, false);
          process.exitCode = outcomeExit(outcome);
        }
      });
    });
  request
    .command('deny <id>')
    .description('deny a request, saying why')
    .requiredOption('--comment <text>', 'why (in the audit log)')
    .action(async (id: string, o: { comment: string }) => {
      await withEngine(async (engine) => {
        const r = await denyAccessRequest(engine.ctx, await resolveShortId(engine.ctx.db, 'request', id), cliCaller(), o.comment);
        out(requestLine(r, await personNames(engine.ctx.db, [r.identityId])));
      });
    });

  const review = program.command('review').description('access reviews: campaigns of the reviews the mappings declare');
  review
    .command('list')
    .description('campaigns, newest first (and the reviews declared)')
    .option('--json', 'machine-readable')
    .action(async (o: { json?: boolean }) => {
      await withEngine(async (engine) => {
        const campaigns = await listReviewCampaigns(engine.ctx.db, {});
        if (o.json) return out(JSON.stringify(campaigns, null, 2));
        out(`declared: ${engine.ctx.policy.mappings.reviews.map((r) => `${r.id}${r.every ? ` (every ${r.every})` : ''}`).join(', ') || 'none'}`);
        for (const c of campaigns)
          out(
            `${c.id}  ${c.reviewId}  ${c.status}  started ${c.startedAt} by ${c.startedBy}, deadline ${c.deadline}${c.closedAt ? `, closed ${c.closedAt}` : ''}`,
          );
      });
    });
  review
    .command('start <review>')
    .description('start a campaign of a declared review now')
    .option('--json', 'machine-readable')
    .action(async (id: string, o: { json?: boolean }) => {
      await withEngine(async (engine) => {
        const r = await startReview(engine.ctx, id, cliCaller().actor);
        if (o.json) return out(JSON.stringify(r, null, 2));
        out(`campaign ${r.campaign.id} of ${id}: ${r.items.length} item(s), deadline ${r.campaign.deadline}`);
        for (const i of r.items) out(`  ${i.id}  ${i.userName} ${i.accessGroupId} → ${i.reviewer ? `${i.reviewerKind} ${i.reviewer}` : 'any approver'}`);
      });
    });
  review
    .command('decide <campaign> <item> <decision>')
    .description('keep or revoke one item as its reviewer ($USER); a revoke is applied at once')
    .option('--comment <text>', 'why (required to revoke)')
    .action(async (campaign: string, item: string, decision: string, o: { comment?: string }) => {
      if (decision !== 'keep' && decision !== 'revoke') throw new LockstepError('validation', 'decision must be keep or revoke', { field: 'decision' });
      await withEngine(async (engine) => {
        const caller = cliCaller();
        const d = await decideReviewItem(engine.ctx, campaign, item, caller, decision, o.comment ?? null);
        out(`${d.userName} ${d.accessGroupId}: ${d.decision}${d.exceptionId ? ` (exception ${d.exceptionId})` : ''}`);
        if (d.exceptionId) {
          const outcome = await runReconcile(engine.ctx, { kind: 'identities', ids: [d.identityId] }, { trigger: 'review', actor: caller.actor, apply: true });
          printOutcome(outcome, false);
          process.exitCode = outcomeExit(outcome);
        }
      });
    });
  review
    .command('report <campaign>')
    .description('the evidence: who reviewed what, when, with which outcome')
    .addOption(new Option('--format <format>', 'json or csv').choices(['json', 'csv']).default('json'))
    .option('-o, --output <file>', 'write to a file')
    .action(async (campaign: string, o: { format: 'json' | 'csv'; output?: string }) => {
      await withEngine(async (engine) => {
        const r = await reviewReport(engine.ctx, campaign);
        const text = o.format === 'csv' ? reviewReportCsv(r) : `${JSON.stringify(r, null, 2)}\n`;
        if (o.output) await writeFile(o.output, text);
        else process.stdout.write(text);
      });
    });
  review
    .command('tick')
    .description("what the schedule does now: close campaigns past their deadline, send due reminders, start campaigns whose 'every' came round")
    .action(async () => {
      await withEngine(async (engine) => {
        const actor = 'system:review';
        const t = await tickReviews(engine.ctx, (ids) => runReconcile(engine.ctx, { kind: 'identities', ids }, { trigger: 'review', actor, apply: true }));
        out(`started ${t.started.length}, reminded ${t.reminded.length}, closed ${t.closed.length}, ${t.revoked.length} revoked at a deadline`);
      });
    });
}

/** The first 8 characters of an id, as lists print them (commands take a unique prefix). */
const shortId = (id: string) => id.slice(0, 8);
/** `Anna Schmidt (anna.schmidt)`, or the id when the store has no such person. */
function personLabel(names: Map<string, PersonName>, id: string | null): string {
  if (!id) return '–';
  const p = names.get(id);
  return p ? (p.displayName && p.displayName !== p.userName ? `${p.displayName} (${p.userName})` : p.userName) : shortId(id);
}

function incidentLine(i: IncidentWithPerson): string {
  const who = i.person
    ? i.person.displayName && i.person.displayName !== i.person.userName
      ? `${i.person.displayName} (${i.person.userName})`
      : i.person.userName
    : '–';
  const clocks = i.nis2.clocks
    .map(
      (c) =>
        `${c.label} ${c.sent ? `sent ${c.sent.sentAt} (${c.sent.reference})` : i.status === 'closed' ? 'not recorded' : `${c.overdue ? 'OVERDUE since' : 'due'} ${c.due}`}`,
    )
    .join('; ');
  const state =
    i.status === 'closed'
      ? `closed ${i.closedAt} by ${i.closedBy ?? '?'}: ${i.closeReason ?? ''}`
      : i.acknowledgedAt
        ? `open, acknowledged by ${i.acknowledgedBy}`
        : 'open, not acknowledged';
  return `${shortId(i.id)}  ${i.openedAt}  ${i.kind}  ${who}  ${i.system ?? ''}${i.credentialId ? ` credential ${i.credentialId}` : ''}  [${state}]\n          ${clocks}`;
}

/** The CLI's caller: `cli:$USER`, named by $USER (matched against owners and sponsors), with every role. */
function cliCaller(): Caller {
  const user = process.env.USER ?? 'unknown';
  return { actor: `cli:${user}`, names: [user], roles: ['viewer', 'operator', 'approver', 'auditor'] };
}

function requestLine(r: AccessRequest, names: Map<string, PersonName> = new Map()): string {
  const steps = r.steps.map((s) => `${s.kind}${s.who ? ` ${s.who}` : ''}: ${s.approvedBy ? `approved by ${s.approvedBy}` : 'waiting'}`).join('; ');
  return `${shortId(r.id)}  ${r.status}  ${r.kind} ${r.target} for ${personLabel(names, r.identityId)} ${r.validFrom} → ${r.validUntil} (by ${r.requestedBy}): ${r.justification}  [${steps}]`;
}
