import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../helpers/db.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

// each command is a fresh Node process compiling TypeScript through tsx: seconds apiece
describe('lockstep exception (CLI)', { timeout: 180_000 }, () => {
  let dir: string;
  let store: TestStore;
  let user = 'tester';
  const cli = async (...args: string[]) => {
    try {
      const r = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), '--config', join(dir, 'lockstep.yaml'), ...args], {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: store.url!, LOCKSTEP_DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'error', NO_COLOR: '1', USER: user },
        timeout: 60_000,
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout, stderr: x.stderr };
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-gov-cli-'));
    store = await createTestStore('postgres');
    await copyFile(join(ROOT, 'mappings/examples/datacenter.yaml'), join(dir, 'datacenter.yaml'));
    await copyFile(join(ROOT, 'mappings/examples/hr.csv'), join(dir, 'hr.csv'));
    await writeFile(
      join(dir, 'lockstep.yaml'),
      `mappings: [./datacenter.yaml, ./reviews.yaml]
systems:
  dc1: { type: simulator, embedded: { port: 0, stateFile: ./sim.json } }
sources:
  hr: { type: file, path: ./hr.csv, columns: { employeeId: externalId } }
`,
    );
    // a review declared in a file of its own: reviews merge across files
    await writeFile(
      join(dir, 'reviews.yaml'),
      'version: 1\nreviews:\n  - { id: ws, scope: { accessGroups: [dc1-whitespace] }, reviewers: [manager], deadline: P14D }\n',
    );
    expect((await cli('sync', '--apply')).code).toBe(0);
  });
  afterAll(async () => {
    await store.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('adds an exception that revokes at once, lists it, and removes it, which grants the group again', async () => {
    const bad = await cli('exception', 'add', 'anna.schmidt', 'dc1-nowhere', '--until', '2099-01-01', '--reason', 'x');
    expect(bad.code).toBe(5);
    expect(bad.stderr).toMatch(/accessGroup/);
    const added = await cli(
      'exception',
      'add',
      'anna.schmidt',
      'dc1-perimeter',
      '--until',
      '2099-01-01',
      '--reason',
      'manual decision: badge misuse',
      '--json',
    );
    expect(added.code, added.stderr).toBe(0);
    const { exception, held } = JSON.parse(added.stdout) as { exception: { id: string; createdBy: string }; held: boolean };
    expect(held).toBe(false);
    expect(exception.createdBy).toBe('cli:tester');
    const explain = await cli('explain', 'anna.schmidt');
    expect(explain.stdout).toContain(
      `! dc1-perimeter denied by exception ${exception.id} until 2099-01-01T23:59:59.999Z (cli:tester): manual decision: badge misuse`,
    );
    expect(explain.stdout).not.toMatch(/holds AG-PERIM/);
    // lists name the person and shorten ids; commands take the short id
    const list = await cli('exception', 'list');
    expect(list.stdout).toContain(`${exception.id.slice(0, 8)}  dc1-perimeter denied to Anna Schmidt (anna.schmidt) until`);
    expect(list.stdout).not.toContain(exception.id);
    const removed = await cli('exception', 'remove', exception.id.slice(0, 8), '--reason', 'appeal granted');
    expect(removed.code, removed.stderr).toBe(0);
    expect((await cli('explain', 'anna.schmidt')).stdout).toMatch(/holds AG-PERIM/);
    expect((await cli('exception', 'list')).stdout).toContain('no exceptions');
    // an exception for a group no rule grants her (the SOC's is security staff's): explain still lists it
    const soc = JSON.parse(
      (await cli('exception', 'add', 'anna.schmidt', 'dc1-soc', '--until', '2099-01-01', '--reason', 'never the SOC', '--json')).stdout,
    ) as { exception: { id: string } };
    expect((await cli('explain', 'anna.schmidt')).stdout).toContain(
      `! exception ${soc.exception.id}: dc1-soc denied until 2099-01-01T23:59:59.999Z (cli:tester): never the SOC (no rule grants it now)`,
    );
    const audit = await cli('audit', 'export');
    expect(audit.stdout).toContain('exception.removed');
  });

  it('creates a request, refuses its approval by the requester, and grants it once someone else approves', async () => {
    user = 'tester';
    // within the class's 730 days of the real clock (the CLI runs on it)
    const until = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
    const created = await cli('request', 'create', 'lena.richter', '--group', 'dc1-loading-dock', '--until', until, '--justification', 'inventory', '--json');
    expect(created.code, created.stderr).toBe(0);
    const r = JSON.parse(created.stdout) as { id: string; status: string };
    expect(r.status).toBe('pending');
    const self = await cli('request', 'approve', r.id);
    expect(self.code).not.toBe(0);
    expect(self.stderr).toMatch(/four-eyes/);
    user = 'approver2';
    const ok = await cli('request', 'approve', r.id.slice(0, 8), '--comment', 'fine');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`${r.id.slice(0, 8)}  approved  accessGroup dc1-loading-dock for Lena Richter (lena.richter)`);
    expect((await cli('explain', 'lena.richter')).stdout).toContain(`access request ${r.id}`);
    expect((await cli('request', 'list', '--status', 'approved')).stdout).toContain(`${r.id.slice(0, 8)}  approved`);
  });

  it("starts a review, takes the manager's revoke, and reports it as CSV", async () => {
    user = 'tester';
    const started = await cli('review', 'start', 'ws', '--json');
    expect(started.code, started.stderr).toBe(0);
    const { campaign, items } = JSON.parse(started.stdout) as {
      campaign: { id: string };
      items: Array<{ id: string; userName: string; reviewer: string | null }>;
    };
    const anna = items.find((i) => i.userName === 'anna.schmidt')!;
    expect(anna.reviewer).toBe('ben.keller');
    expect((await cli('review', 'decide', campaign.id, anna.id, 'revoke', '--comment', 'x')).stderr).toMatch(/for manager ben.keller to review/);
    user = 'ben.keller';
    const d = await cli('review', 'decide', campaign.id, anna.id, 'revoke', '--comment', 'no longer in the hall');
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/anna.schmidt dc1-whitespace: revoke \(exception /);
    expect((await cli('explain', 'anna.schmidt')).stdout).toMatch(/! dc1-whitespace denied by exception .*access review ws/);
    const csv = await cli('review', 'report', campaign.id, '--format', 'csv');
    expect(csv.stdout.split('\n')[0]).toBe(
      'id,userName,identityId,accessGroupId,reviewerKind,reviewer,decision,decidedBy,decidedAt,decidedVia,comment,exceptionId',
    );
    expect(csv.stdout).toContain(',revoke,cli:ben.keller,');
    expect((await cli('review', 'list')).stdout).toContain(`${campaign.id}  ws  open`);
  });
});
