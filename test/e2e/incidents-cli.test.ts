import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findIdentityByUserName, iterateAudit, openIncident } from '../../src/store/index.js';
import { createTestStore, type TestStore } from '../helpers/db.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

/**
 * The CLI as an IAM team uses it (issue 26): the incident lifecycle (list, ack, report, close,
 * by short id), `explain` of a name that is nobody's suggesting close ones, and the apply
 * command `plan` prints working as printed without a terminal.
 */
describe('lockstep incident, explain suggestions, plan → apply (CLI)', { timeout: 240_000 }, () => {
  let dir: string;
  let store: TestStore;
  const cli = async (...args: string[]) => {
    try {
      const r = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), '--config', join(dir, 'lockstep.yaml'), ...args], {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: store.url!, LOCKSTEP_DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'error', NO_COLOR: '1', USER: 'olga' },
        timeout: 60_000,
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-incident-cli-'));
    store = await createTestStore('postgres');
    await copyFile(join(ROOT, 'mappings/examples/datacenter.yaml'), join(dir, 'datacenter.yaml'));
    await copyFile(join(ROOT, 'mappings/examples/hr.csv'), join(dir, 'hr.csv'));
    await writeFile(
      join(dir, 'lockstep.yaml'),
      `mappings: [./datacenter.yaml]
systems:
  dc1: { type: simulator, embedded: { port: 0, stateFile: ./sim.json } }
sources:
  hr: { type: file, path: ./hr.csv, columns: { employeeId: externalId } }
`,
    );
    expect((await cli('sync')).code).toBe(0);
  });
  afterAll(async () => {
    await store?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists an incident by name with its clocks, acknowledges it, records the early warning and closes it, each in the audit log', async () => {
    const anna = (await findIdentityByUserName(store.db, 'anna.schmidt'))!;
    // reported 30 hours ago: its early warning is overdue
    const opened = await openIncident(store.db, {
      kind: 'lost-credential',
      system: 'dc1',
      credentialId: 'CARD-4711',
      identityId: anna.id,
      at: new Date(Date.now() - 30 * 3_600_000).toISOString(),
    });
    const short = opened.id.slice(0, 8);
    const list = await cli('incident', 'list');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(`${short}  `);
    expect(list.stdout).toContain('lost-credential  Anna Schmidt (anna.schmidt)  dc1 credential CARD-4711  [open, not acknowledged]');
    expect(list.stdout).toMatch(/early warning OVERDUE since \S+; notification due \S+; final report due \S+/);
    expect(list.stdout).not.toContain(opened.id);

    const ack = await cli('incident', 'ack', short, '--note', 'on it');
    expect(ack.code, ack.stderr).toBe(0);
    expect(ack.stdout).toContain('[open, acknowledged by cli:olga]');
    const bad = await cli('incident', 'report', short, 'interim', '--reference', 'x');
    expect(bad.code).toBe(5);
    expect(bad.stderr).toMatch(/step must be one of early-warning, notification, final-report/);
    const rep = await cli('incident', 'report', short, 'early-warning', '--reference', 'CSIRT-2026-0042');
    expect(rep.code, rep.stderr).toBe(0);
    expect(rep.stdout).toMatch(/early warning sent \S+ \(CSIRT-2026-0042\); notification due/);
    const again = await cli('incident', 'report', short, 'early-warning', '--reference', 'again');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/was recorded .* by cli:olga/);
    const closed = await cli('incident', 'close', short, '--reason', 'card found at the front desk');
    expect(closed.code, closed.stderr).toBe(0);
    expect(closed.stdout).toContain('closed');
    expect(closed.stdout).toContain('by cli:olga: card found at the front desk');
    expect((await cli('incident', 'list')).stdout.trim()).toBe('no open incidents');
    expect((await cli('incident', 'list', '--closed')).stdout).toContain(short);

    const actions: string[] = [];
    for await (const e of iterateAudit(store.db, { subject: opened.id })) actions.push(`${e.action} ${e.actor}`);
    expect(actions).toEqual(['incident.acknowledged cli:olga', 'incident.reported cli:olga', 'incident.closed cli:olga']);
  });

  it('explains a name that is nobody\'s with the close userNames ("did you mean anna.schmidt?")', async () => {
    const r = await cli('explain', 'ana.schmidt');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no identity with userName or id "ana.schmidt" \(did you mean "anna.schmidt"\?\)/);
  });

  it('prints an apply command that works as printed without a terminal', async () => {
    const plan = await cli('plan');
    expect(plan.code, plan.stderr).toBe(0);
    const printed = /`lockstep (apply [^`]+)`/.exec(plan.stdout)?.[1];
    expect(printed, plan.stdout).toMatch(/^apply --yes --expect [0-9a-f]+$/);
    // stdin is not a terminal here: the command as printed applies
    const applied = await cli(...printed!.split(' '));
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/Apply complete! \d+ applied, 0 failed/);
    // --expect alone confirms too: the digest is the plan that was shown (nothing left to do now)
    const again = JSON.parse((await cli('plan', '--json')).stdout) as { digest: string; plan: { operations: unknown[] } };
    expect(again.plan.operations).toEqual([]);
  });
});
