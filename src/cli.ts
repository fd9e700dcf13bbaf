#!/usr/bin/env node
/**
 * The `lockstep` command. Exit codes (also in README):
 *   0 success (plan: no changes, or changes without --detailed-exitcode)
 *   1 error (a system unreachable, a failure inside lockstep)
 *   2 plan --detailed-exitcode: there are changes
 *   3 the run was held by the mass-revocation guard (approve it with `lockstep approve <run>`)
 *   4 some operations failed (they are in the run record and the audit log; the next run retries them)
 *   5 invalid configuration, mappings or input (the message names file, line and field)
 *   6 audit verify --checkpoint: a signed checkpoint does not hold (entries removed from the end or
 *     rewritten since it was taken, or the checkpoint itself forged); the first bad one is named
 *   7 the embedded store (PGlite) is held by another lockstep process that does not share it (another
 *     CLI command, a second serve or worker, a process on another host), or serve's shared socket
 *     cannot be used (e.g. another user); the message names the holder. Beside a running serve, the
 *     commands use the store serve shares (src/store/share.ts)
 */
import { createInterface } from 'node:readline/promises';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { isLockstepError, LockstepError } from './domain/errors.js';
import { loadConfig, resolveFromConfig, type LoadedConfig } from './config/index.js';
import { loadMappings, explainText, formatTestReport, junitXml, parseTests, readTestSources, resolveTestFiles, runMappingTests, type CompiledPolicy } from './policy/index.js';
import { violationReport, violationReportCsv, violationReportText } from './reconcile/index.js';
import { createEngine, checkSystems, openConfiguredStore, type Engine } from './runtime/engine.js';
import { createLogger } from './runtime/logger.js';
import { reconcileFull, localLeases, type Controller } from './queue/controller.js';
import { formatPlan, runReconcile, approveRun, rejectRun, explainIdentity, accessReport, accessReportCsv, roleReport, toCsv, markCredentialLost, type RunOutcome } from './reconcile/index.js';
import { createAccessException, findAccessExceptions, removeAccessException } from './reconcile/index.js';
import { approveAccessRequest, createAccessRequest, denyAccessRequest, findAccessRequests, type Caller } from './reconcile/index.js';
import type { AccessRequest } from './domain/governance.js';
import { decideReviewItem, listReviewCampaigns, reviewReport, reviewReportCsv, startReview, tickReviews } from './reconcile/index.js';
import { syncFileSource, formatRowError, type FileSyncResult } from './sources/file/index.js';
import { generateCheckpointKeys, iterateAudit, verifyAudit, verifyCheckpoints, type AuditVerifyResult } from './store/index.js';
import { describeStoreHolder, StoreInUseError } from './store/lock.js';
import { checkMappingAttributes } from './runtime/mapping-lint.js';
import { unmatchedIssues } from './policy/lint.js';
import { iterateIdentities } from './store/identities.js';
import type { Identity } from './domain/identity.js';
import { personNames, type PersonName } from './store/people.js';
import { resolveShortId } from './store/short-ids.js';
import { acknowledgeIncident, closeIncident, listIncidentViews, recordIncidentReport, type IncidentWithPerson } from './reconcile/incidents.js';

export const EXIT = { ok: 0, error: 1, changes: 2, held: 3, failed: 4, invalid: 5, checkpoint: 6, storeInUse: 7 } as const;

const program = new Command();
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

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
const err = (s: string) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`);

function globals(): { config: string; logLevel?: string } {
  return program.opts();
}

async function withEngine<T>(fn: (e: Engine) => Promise<T>, level = 'warn'): Promise<T> {
  const g = globals();
  const loaded = await loadConfig(g.config);
  const engine = await createEngine(loaded, { logger: createLogger(g.logLevel ?? level), joinSharedStore: true });
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

function fileSources(loaded: LoadedConfig, only?: string) {
  const all = Object.entries(loaded.config.sources).filter(([, s]) => s.type === 'file');
  if (only && !loaded.config.sources[only]) throw new LockstepError('validation', `no source named ${only} in ${loaded.file} (sources: ${Object.keys(loaded.config.sources).join(', ') || 'none'})`, { field: 'source' });
  return all.filter(([name]) => !only || name === only);
}

function printSync(r: FileSyncResult): void {
  out(`source ${r.source}: ${r.rows} rows, ${r.created} new, ${r.updated} changed, ${r.unchanged} unchanged, ${r.leavers} leaver(s) by absence, ${r.errors.length} row(s) skipped`);
  for (const e of r.errors) err(`  ${formatRowError(e)}`);
  if (r.leaversWithheld) err(`  warning: ${r.leaversWithheld}`);
}

function outcomeExit(o: RunOutcome): number {
  if (o.held) return EXIT.held;
  if (o.failed.length) return EXIT.failed;
  return EXIT.ok;
}

function printOutcome(o: RunOutcome, json: boolean): void {
  if (json) {
    out(JSON.stringify({ run: o.run ? { ...o.run, plan: undefined } : null, held: o.held, summary: o.plan.summary, results: o.results, failed: o.failed.map((f) => f.key) }, null, 2));
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
    err(`  failed: ${f.kind} ${f.group?.name ?? f.credentialId ?? ''} for ${f.userName ?? f.accountId}: ${r?.error?.message ?? 'unknown error'}${f.revocation ? ' (a revocation: the next run retries it; it is reported overdue until then)' : ''}`);
  }
}

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
    out(`${policy.accessGroups.size} access groups, ${policy.roles.size} role bundles, ${policy.rules.length} rules, ${Object.keys(loaded.config.systems).length} system(s), ${Object.keys(loaded.config.sources).length} source(s)`);
    await validateMappingTests(loaded.mappingPaths, policy);
  });

/** validate runs the mapping tests beside the mappings too (issue 27): a failed one fails validate (exit 1). */
async function validateMappingTests(mappingPaths: string[], policy: CompiledPolicy): Promise<void> {
  const files = await resolveTestFiles(mappingPaths);
  if (files.length === 0) return;
  const report = runMappingTests(policy, parseTests(await readTestSources(files)));
  out(report.failed === 0 ? `mapping tests: ${report.passed} passed (${files.join(', ')})` : formatTestReport(report));
  if (report.failed > 0) process.exitCode = EXIT.error;
}

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
    if (files.length === 0) throw new LockstepError('config', `no mapping tests (*.test.yaml) in or beside ${(paths.length ? paths : mappingPaths).join(', ')}`, { field: 'paths' });
    const report = runMappingTests(policy, parseTests(await readTestSources(files)));
    if (o.junit) await writeFile(o.junit, junitXml(report));
    out(o.json ? JSON.stringify(report, null, 2) : formatTestReport(report));
    if (report.failed > 0) process.exitCode = EXIT.error;
  });

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
        const { pullEntra } = await import('./sources/entra/index.js');
        const src = loaded.config.sources[o.source];
        if (src?.type !== 'entra') return;
        const changed: string[] = [];
        const r = await pullEntra({ db: engine.ctx.db, source: { ...src, name: o.source }, onChange: (ids) => void changed.push(...ids), logger: engine.ctx.logger, allowMassRemoval: !!o.allowMassRemoval });
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
        if (outcome.plan.operations.length) out(`\nPlan digest ${outcome.digest}: \`lockstep apply --yes --expect ${outcome.digest}\` applies exactly this plan, or nothing if the world moved.`);
      }
      if (o.detailedExitcode && outcome.plan.operations.length) process.exitCode = EXIT.changes;
    });
  });

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim().toLowerCase() === 'yes';
  } finally {
    rl.close();
  }
}

program
  .command('apply')
  .description('plan and apply a full reconciliation: the plan shown is the plan applied (nothing is applied if the world moved in between)')
  .option('-y, --yes', 'apply without asking (needed when stdin is not a terminal)')
  .option('--expect <digest>', 'apply only if the plan is still the one with this digest (from `plan --json` or `plan`); confirms it, so no question is asked')
  .option('--json', 'machine-readable result')
  .action(async (o: { yes?: boolean; json?: boolean; expect?: string }) => {
    await withEngine(async (engine) => {
      let expectDigest = o.expect;
      // --expect pins the plan that was shown (by `plan`): that is the confirmation, so it works as printed without a terminal
      if (!o.yes && !o.expect) {
        const preview = await runReconcile(engine.ctx, { kind: 'full' }, { trigger: 'cli apply preview', actor: 'cli', apply: false });
        out(formatPlan(preview.plan, { color }));
        if (preview.plan.operations.length === 0) return;
        if (expectDigest && expectDigest !== preview.digest) throw new LockstepError('conflict', `the world moved since the plan was shown: it was ${expectDigest}, it is now ${preview.digest}; nothing was applied`, { field: 'expect' });
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
      if (lane === 'revocation') err(`${ids.length} person(s) still have revocations that did not land: they are reported overdue; run apply again or let the service retry them`);
    },
  };
}

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
      out(`${i.displayName ?? i.userName} <${i.userName}> (source ${i.source}, key ${i.externalId})${x.evaluation.leaver ? ` — LEAVER: ${x.evaluation.leaverReason ?? ''}` : ''}`);
      out(`  ${[i.employeeType, i.department, i.jobTitle, i.site].filter(Boolean).join(' · ')}${i.groups.length ? `; groups: ${i.groups.join(', ')}` : ''}${i.roles.length ? `; roles: ${i.roles.map((r) => r.value).join(', ')}` : ''}`);
      if (x.conflict) out(`  CORRELATION CONFLICT: externalId ${JSON.stringify(x.conflict.externalId)} is also held by ${x.conflict.heldBy.map((o) => `${o.userName} (${o.id}, source ${o.source})`).join(', ')}: no access, and no account by that key, until only one holds it`);
      out('');
      for (const line of explainText(x.evaluation)) out(line);
      // exceptions in force for groups no rule grants now: they still deny them if a rule starts to
      for (const ex of x.exceptions.filter((y) => !x.evaluation.denied.some((d) => d.exception?.id === y.id))) {
        out(`! exception ${ex.id}: ${ex.accessGroupId} denied until ${ex.until} (${ex.source === 'review' ? `access review ${ex.sourceRef ?? ''}` : ex.createdBy}): ${ex.reason} (no rule grants it now)`);
      }
      for (const s of x.systems) {
        out(`\n${s.system}: ${s.account ? `account ${s.account.id} (${s.account.state}${s.linked ? ', linked' : ', not linked yet'})` : 'no account'}`);
        for (const m of s.account?.memberships ?? []) out(`  holds ${m.group}${m.from || m.until ? ` [${m.from ?? '…'} → ${m.until ?? '…'}]` : ''}`);
        for (const c of s.account?.credentials ?? []) out(`  ${c.type} ${c.number ?? c.id}: ${c.status}${c.lastUsedAt ? `, last used ${c.lastUsedAt}` : ', never used'}${c.keyExpiresAt ? `; offline key valid until ${c.keyExpiresAt}` : ''}`);
        if (s.offline) out(`  data-on-card system: offline locks learn a change when a key is next updated (within ${s.offline.revalidationDays} days)`);
        if (s.fitted?.length) out(`  sent as this system can hold it: ${s.fitted.join('; ')}`);
      }
      for (const p of x.offlinePending) out(`\nSTILL ON KEYS: ${p.system} took ${p.kind} of ${p.groupRef} at ${p.revokedAt}; offline locks may open for this person until ${p.learnedBy}`);
    });
  });

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

const audit = program.command('audit').description('the hash-chained audit log');
function printChain(v: AuditVerifyResult): void {
  if (v.ok) out(`audit log intact: ${v.entries} entries${v.pending ? `; ${v.pending} committed entries could not be chained yet (run again)` : ''}`);
  else err(`AUDIT LOG BROKEN at sequence ${v.firstBadSeq}: ${v.problem}`);
}

const collect = (v: string, prev: string[]) => [...prev, v];

/**
 * `audit verify --checkpoint`: the chain walk, then every checkpoint of every file. Exit 6 when
 * a checkpoint does not hold (it is the stronger evidence), else 1 when the chain is broken.
 */
async function verifyWithCheckpoints(files: string[], publicKeyFiles: string[], json: boolean): Promise<void> {
  const { loadVerifyKeys } = await import('./runtime/checkpoint.js');
  let keys;
  if (publicKeyFiles.length) keys = await loadVerifyKeys({ files: publicKeyFiles });
  else {
    const loaded = await loadConfig(globals().config);
    keys = await loadVerifyKeys({ cfg: loaded.config.audit.checkpoint, base: loaded });
  }
  const texts = await Promise.all(
    files.map((f) =>
      readFile(f, 'utf8').catch((e: NodeJS.ErrnoException) => {
        throw new LockstepError('validation', `--checkpoint ${f}: cannot read it (${e.code ?? e.message})`, { field: 'checkpoint' });
      }),
    ),
  );
  const db = await openConfiguredStore(process.env, { joinShared: true });
  try {
    const results = [];
    // each file on its own, so that a line number names one line of one file
    for (const [i, text] of texts.entries()) results.push({ file: files[i]!, ...(await verifyCheckpoints(db, text, keys)) });
    const chain = results[0]!.chain;
    if (json) out(JSON.stringify({ chain, checkpoints: results.map((r) => ({ ...r, chain: undefined })) }, null, 2));
    else {
      printChain(chain);
      for (const r of results) {
        const f = r.firstBad;
        if (!f) out(`${r.file}: ${r.checkpoints} checkpoint(s) hold${r.anchoredSeq !== null ? `; the log is anchored up to sequence ${r.anchoredSeq}` : ''}`);
        else err(`CHECKPOINT DOES NOT HOLD: ${r.file}:${f.line}${f.seq !== null ? ` (sequence ${f.seq}${f.at ? `, signed ${f.at}` : ''})` : ''}: ${f.problem}${r.bad > 1 ? ` (${r.bad - 1} more bad checkpoint(s) in this file)` : ''}`);
      }
    }
    if (results.some((r) => r.firstBad)) process.exitCode = EXIT.checkpoint;
    else if (!chain.ok) process.exitCode = EXIT.error;
  } finally {
    await db.close();
  }
}

audit
  .command('verify')
  .description('walk the chain; names the first altered, inserted or removed entry; with --checkpoint, also checks the log against signed checkpoints (finds entries removed from the end)')
  .option('--checkpoint <file>', 'signed checkpoints (JSON lines, or syslog lines carrying them); repeatable', collect, [])
  .option('--public-key <file>', 'verify checkpoints with this public key (repeatable; default: audit.checkpoint in lockstep.yaml)', collect, [])
  .option('--json', 'machine-readable result')
  .action(async (o: { checkpoint: string[]; publicKey: string[]; json?: boolean }) => {
    if (o.checkpoint.length) return verifyWithCheckpoints(o.checkpoint, o.publicKey, !!o.json);
    const db = await openConfiguredStore(process.env, { joinShared: true });
    try {
      const v = await verifyAudit(db);
      if (o.json) out(JSON.stringify(v, null, 2));
      else printChain(v);
      if (!v.ok) process.exitCode = EXIT.error;
    } finally {
      await db.close();
    }
  });
audit
  .command('checkpoint')
  .description('seal the log, sign its head (sequence, hash, time) and write the checkpoint to the sinks of audit.checkpoint now')
  .option('--json', 'machine-readable result')
  .action(async (o: { json?: boolean }) => {
    const loaded = await loadConfig(globals().config);
    const cfg = loaded.config.audit.checkpoint;
    if (!cfg) throw new LockstepError('config', `${loaded.file} configures no audit.checkpoint (a signing key and at least one sink)`, { field: 'audit.checkpoint' });
    const { writeCheckpoint } = await import('./runtime/checkpoint.js');
    const db = await openConfiguredStore(process.env, { joinShared: true });
    try {
      const r = await writeCheckpoint(db, cfg, loaded);
      if (o.json) out(JSON.stringify(r, null, 2));
      else {
        out(`checkpoint of sequence ${r.checkpoint.seq} (hash ${r.checkpoint.hash}) at ${r.checkpoint.at}, key ${r.checkpoint.keyId}`);
        for (const s of r.sinks) (s.ok ? out : err)(`  ${s.sink}: ${s.ok ? 'written' : `FAILED (${s.error})`}`);
      }
      if (r.sinks.some((s) => !s.ok)) process.exitCode = EXIT.error;
    } finally {
      await db.close();
    }
  });
audit
  .command('keygen')
  .description('write a new Ed25519 key pair for signing checkpoints: FILE (private, mode 0600) and FILE.pub')
  .option('-o, --output <file>', 'private key file', './audit-checkpoint.key')
  .option('--force', 'overwrite existing files')
  .action(async (o: { output: string; force?: boolean }) => {
    const pub = `${o.output}.pub`;
    if (!o.force) {
      for (const f of [o.output, pub]) if (existsSync(f)) throw new LockstepError('validation', `${f} exists; pass --force to replace it (checkpoints signed with the old key then need its public key to verify)`, { field: 'output' });
    }
    const k = generateCheckpointKeys();
    await mkdir(dirname(resolve(o.output)), { recursive: true, mode: 0o700 });
    // the private key never goes to stdout or a log; written 0600 from the first byte
    await writeFile(o.output, k.privatePem, { mode: 0o600, flag: o.force ? 'w' : 'wx' });
    await chmod(o.output, 0o600);
    await writeFile(pub, k.publicPem, { mode: 0o644, flag: o.force ? 'w' : 'wx' });
    out(`private key ${o.output} (mode 0600), public key ${pub}, key id ${k.keyId}`);
    out(`Point audit.checkpoint.keyFile at the private key; give the public key to whoever verifies (\`lockstep audit verify --checkpoint FILE --public-key ${pub}\`).`);
  });
audit
  .command('export')
  .description('write the audit log as JSON lines')
  .addOption(new Option('--format <format>', 'output format').choices(['jsonl']).default('jsonl'))
  .option('--subject <id>', 'only entries about this identity, run or account')
  .option('--since <iso>', 'only entries at or after this instant')
  .option('-o, --output <file>', 'write to a file instead of stdout')
  .action(async (o: { subject?: string; since?: string; output?: string }) => {
    const db = await openConfiguredStore(process.env, { joinShared: true });
    try {
      const lines: string[] = [];
      for await (const e of iterateAudit(db, { subject: o.subject, since: o.since })) {
        if (o.output) lines.push(JSON.stringify(e));
        else process.stdout.write(`${JSON.stringify(e)}\n`);
      }
      if (o.output) await writeFile(o.output, lines.join('\n') + (lines.length ? '\n' : ''));
    } finally {
      await db.close();
    }
  });

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
        text = o.format === 'csv'
          ? `${toCsv(r.matrix, ['role', 'accessGroupId', 'accessGroup', 'system', 'protectionClass', 'via'])}\n${toCsv(r.holders, ['role', 'userName', 'displayName', 'system', 'accessGroup', 'protectionClass', 'validUntil'])}`
          : JSON.stringify(r, null, 2);
      } else text = o.format === 'csv' ? accessReportCsv(rows) : JSON.stringify({ generatedAt: new Date().toISOString(), rows }, null, 2);
      if (o.output) await writeFile(o.output, text);
      else out(text);
    });
  });

program
  .commands.find((c) => c.name() === 'report')!
  .command('violations')
  .description('held access that breaks an invariant of the mappings (reported, never revoked on its own); exit 1 if there is any')
  .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'csv']).default('text'))
  .option('-o, --output <file>', 'write to a file instead of stdout')
  .action(async (opts: { format: string; output?: string }, cmd: Command) => {
    // `report` has --format and -o too, and takes them wherever they stand: given after `violations`, they are its
    const parent = cmd.parent!;
    const o = { format: parent.getOptionValueSource('format') === 'cli' ? String(parent.opts().format) : opts.format, output: opts.output ?? (parent.opts().output as string | undefined) };
    await withEngine(async (engine) => {
      const r = await violationReport(engine.ctx);
      const text = o.format === 'csv' ? violationReportCsv(r) : o.format === 'json' ? JSON.stringify(r, null, 2) : violationReportText(r);
      if (o.output) await writeFile(o.output, text);
      else out(text);
      if (r.violations.length > 0) process.exitCode = EXIT.error;
    });
  });

const credential = program.command('credential').description('credentials in lock systems');
credential
  .command('lost <system> <credentialId>')
  .description('mark a credential lost at once and open an incident with the NIS2 reporting clock')
  .option('--account <id>', 'the holding account (found by search otherwise)')
  .option('--note <text>', 'what happened')
  .option('--suspend', 'suspend rather than mark lost')
  .option('--json', 'machine-readable result')
  .action(async (system: string, credentialId: string, o: { account?: string; note?: string; suspend?: boolean; json?: boolean }) => {
    await withEngine(async (engine) => {
      const r = await markCredentialLost(engine.ctx, { system, credentialId, accountId: o.account, note: o.note, actor: `cli:${process.env.USER ?? 'unknown'}`, state: o.suspend ? 'suspended' : 'lost' });
      if (o.json) out(JSON.stringify(r, null, 2));
      else {
        out(`credential ${credentialId} of ${r.account.displayName}: ${r.result.status === 'applied' ? (o.suspend ? 'suspended' : 'marked lost') : `NOT YET APPLIED (${r.result.error?.message})`}`);
        out(`incident ${r.incident.id} opened; NIS2 early warning due by ${r.incident.nis2.earlyWarningDue}, notification by ${r.incident.nis2.notificationDue}`);
      }
      if (r.result.status !== 'applied') process.exitCode = EXIT.failed;
    });
  });

/** The first 8 characters of an id, as lists print them (commands take a unique prefix). */
const shortId = (id: string) => id.slice(0, 8);
/** `Anna Schmidt (anna.schmidt)`, or the id when the store has no such person. */
function personLabel(names: Map<string, PersonName>, id: string | null): string {
  if (!id) return '–';
  const p = names.get(id);
  return p ? (p.displayName && p.displayName !== p.userName ? `${p.displayName} (${p.userName})` : p.userName) : shortId(id);
}

function incidentLine(i: IncidentWithPerson): string {
  const who = i.person ? (i.person.displayName && i.person.displayName !== i.person.userName ? `${i.person.displayName} (${i.person.userName})` : i.person.userName) : '–';
  const clocks = i.nis2.clocks
    .map((c) => `${c.label} ${c.sent ? `sent ${c.sent.sentAt} (${c.sent.reference})` : i.status === 'closed' ? 'not recorded' : `${c.overdue ? 'OVERDUE since' : 'due'} ${c.due}`}`)
    .join('; ');
  const state = i.status === 'closed' ? `closed ${i.closedAt} by ${i.closedBy ?? '?'}: ${i.closeReason ?? ''}` : i.acknowledgedAt ? `open, acknowledged by ${i.acknowledgedBy}` : 'open, not acknowledged';
  return `${shortId(i.id)}  ${i.openedAt}  ${i.kind}  ${who}  ${i.system ?? ''}${i.credentialId ? ` credential ${i.credentialId}` : ''}  [${state}]\n          ${clocks}`;
}

const incident = program.command('incident').description('incidents (lost credentials) and their NIS2 Art. 23 reports: early warning 24 h, notification 72 h, final report one month');
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
      out(incidentLine(await recordIncidentReport(engine.ctx, id, { step, reference: o.reference, sentAt: o.sentAt ?? null, actor: `cli:${process.env.USER ?? 'unknown'}` })));
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
      if (o.json) out(JSON.stringify({ exception: x, run: outcome.run ? { id: outcome.run.id, status: outcome.run.status } : null, held: outcome.held }, null, 2));
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
      const names = await personNames(engine.ctx.db, list.map((x) => x.identityId));
      for (const x of list) {
        const state = x.removedAt ? ` [removed ${x.removedAt} by ${x.removedBy}: ${x.removedReason}]` : Date.parse(x.until) <= engine.ctx.now().getTime() ? ' [ended]' : '';
        out(`${shortId(x.id)}  ${x.accessGroupId} denied to ${personLabel(names, x.identityId)} until ${x.until} (${x.source}, by ${x.createdBy}): ${x.reason}${state}`);
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

/** The CLI's caller: `cli:$USER`, named by $USER (matched against owners and sponsors), with every role. */
function cliCaller(): Caller {
  const user = process.env.USER ?? 'unknown';
  return { actor: `cli:${user}`, names: [user], roles: ['viewer', 'operator', 'approver', 'auditor'] };
}

function requestLine(r: AccessRequest, names: Map<string, PersonName> = new Map()): string {
  const steps = r.steps.map((s) => `${s.kind}${s.who ? ` ${s.who}` : ''}: ${s.approvedBy ? `approved by ${s.approvedBy}` : 'waiting'}`).join('; ');
  return `${shortId(r.id)}  ${r.status}  ${r.kind} ${r.target} for ${personLabel(names, r.identityId)} ${r.validFrom} → ${r.validUntil} (by ${r.requestedBy}): ${r.justification}  [${steps}]`;
}

const request = program.command('request').description('access requests: an access group or role bundle for a time window, approved by its owner (and sponsor)');
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
      const r = await createAccessRequest(engine.ctx, { who, accessGroup: o.group, role: o.role, from: o.from, until: o.until, justification: o.justification }, cliCaller());
      out(o.json ? JSON.stringify(r, null, 2) : `request ${r.id} created, waiting for ${r.steps.map((s) => (s.who ? `${s.kind} ${s.who}` : 'an approver')).join(' and ')}`);
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
        const names = await personNames(engine.ctx.db, list.map((r) => r.identityId));
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
      for (const c of campaigns) out(`${c.id}  ${c.reviewId}  ${c.status}  started ${c.startedAt} by ${c.startedBy}, deadline ${c.deadline}${c.closedAt ? `, closed ${c.closedAt}` : ''}`);
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

program
  .command('simulator')
  .description("run lockstep's reference lock system (HTTP) on its own")
  .option('-p, --port <port>', 'port', '8181')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--state <file>', 'state file (loaded at start, written on change)')
  .option('--api-key <key>', 'require this API key (env SIMULATOR_API_KEY)', process.env.SIMULATOR_API_KEY)
  .option('--no-validity', 'play a system that stores no validity windows (lockstep enforces them on schedule)')
  .option('--no-suspend', 'play a system that cannot suspend accounts')
  .option('--offline-days <days>', 'play a data-on-card system: offline locks learn changes when a key is updated, within this many days')
  .action(async (o: { port: string; host: string; state?: string; apiKey?: string; validity: boolean; suspend: boolean; offlineDays?: string }) => {
    const { startSimulator } = await import('../connectors/simulator/index.js');
    const offlineDays = o.offlineDays === undefined ? null : Number(o.offlineDays);
    if (offlineDays !== null && !(Number.isInteger(offlineDays) && offlineDays > 0)) throw new LockstepError('validation', `--offline-days must be a whole number of days above 0, not ${o.offlineDays}`, { field: 'offline-days' });
    const profile = { validity: o.validity ? ('membership' as const) : ('none' as const), suspendAccount: o.suspend, offline: offlineDays === null ? null : { revalidationDays: offlineDays } };
    const sim = await startSimulator({ port: Number(o.port), host: o.host, stateFile: o.state, apiKey: o.apiKey, profile });
    out(`simulator listening on ${sim.url}/api${o.state ? ` (state in ${o.state})` : ''}`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await sim.flush();
    await sim.close();
  });

program
  .command('dev-oidc')
  .description('run a local OpenID Connect provider to try sign-in and roles without one (loopback only; never for a real deployment)')
  .option('-p, --port <port>', 'port on 127.0.0.1', '8282')
  .option(
    '--user <sub:Name:role[+role]>',
    'a person it signs in (repeatable); default: ana (viewer), olga (operator), alice (approver), audrey (auditor)',
    (v: string, acc: string[]) => [...acc, v],
    [] as string[],
  )
  .action(async (o: { port: string; user: string[] }) => {
    const { startOidcProvider } = await import('./runtime/dev-oidc.js');
    const ROLES = new Set(['viewer', 'operator', 'approver', 'auditor']);
    const specs = o.user.length ? o.user : ['ana:Ana Viewer:viewer', 'olga:Olga Operator:operator', 'alice:Alice Approver:approver', 'audrey:Audrey Auditor:auditor'];
    const users = specs.map((spec) => {
      const [sub, name, roles] = spec.split(':');
      const list = (roles ?? '').split('+').filter(Boolean);
      if (!sub || !name || list.length === 0 || list.some((r) => !ROLES.has(r))) {
        throw new LockstepError('validation', `--user ${spec}: give sub:Name:role[+role], roles from viewer, operator, approver, auditor`, { field: 'user' });
      }
      return { sub, name, email: `${sub}@example.test`, roles: list };
    });
    const port = Number(o.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new LockstepError('validation', `--port must be a port number (0: any free one), not ${o.port}`, { field: 'port' });
    const idp = await startOidcProvider({ users, port, clientId: 'lockstep-dev', clientSecret: 'lockstep-dev-secret' });
    out(`dev OIDC provider at ${idp.issuer} (signs in anyone it lists: for trying lockstep on this machine only)`);
    for (const u of users) out(`  ${u.sub.padEnd(10)} ${u.name.padEnd(18)} ${u.roles.join(', ')}`);
    out('\nin lockstep.yaml, then restart `npm start` and open the console:');
    out(`  auth:\n    oidc: { issuer: ${idp.issuer}, clientId: ${idp.clientId}, clientSecret: ${idp.clientSecret} }`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await idp.close();
  });

program
  .command('serve')
  .description('run the service: SCIM endpoint, admin API, workers and schedulers (npm start)')
  .action(async () => {
    const { serve } = await import('./runtime/serve.js');
    const service = await serve({ configPath: globals().config, logLevel: globals().logLevel });
    if (service.url) describeStoreHolder({ adminUrl: `${service.url}/api/v1` });
  });

program
  .command('worker')
  .description('run queue workers only (scale out: many processes share Redis and PostgreSQL)')
  .action(async () => {
    const { serve } = await import('./runtime/serve.js');
    await serve({ configPath: globals().config, logLevel: globals().logLevel, workerOnly: true });
  });

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

await main(process.argv);
