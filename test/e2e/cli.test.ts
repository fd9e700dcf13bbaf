import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../helpers/db.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

// each command is a fresh Node process compiling TypeScript through tsx: seconds apiece
describe('lockstep CLI', { timeout: 180_000 }, () => {
  let dir: string;
  let store: TestStore;
  const cli = async (...args: string[]) => {
    try {
      const r = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), '--config', join(dir, 'lockstep.yaml'), ...args], {
        cwd: ROOT, // where tsx resolves
        env: { ...process.env, DATABASE_URL: store.url!, LOCKSTEP_DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'error', NO_COLOR: '1' },
        timeout: 60_000,
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout, stderr: x.stderr };
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-cli-'));
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
  });
  afterAll(async () => {
    await store.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('validate reports a broken mapping with file, line and column, exit 5', async () => {
    await writeFile(join(dir, 'bad.yaml'), "version: 1\nrules:\n  - id: r1\n    when: 'groups eq'\n    grant: [nowhere]\n");
    await writeFile(join(dir, 'bad-config.yaml'), `mappings: [./bad.yaml]\nsystems: { dc1: { type: simulator } }\n`);
    const r = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), '--config', join(dir, 'bad-config.yaml'), 'validate'], {
      cwd: ROOT,
    }).catch((e) => e);
    expect(r.code).toBe(5);
    // named by the rule's id (issue 26), not its index
    expect(r.stderr).toMatch(/bad\.yaml:4:\d+: rule "r1": when/);
    expect(r.stderr).toMatch(/bad\.yaml:5:\d+: rule "r1": grant\[0\]/);
    expect((await cli('validate')).code).toBe(0);
  });

  it('syncs, plans with a detailed exit code, applies, and then plans nothing', async () => {
    const s = await cli('sync');
    expect(s.stdout).toMatch(/source hr: 30 rows, 30 new/);
    const p = await cli('plan', '--detailed-exitcode');
    expect(p.code).toBe(2);
    expect(p.stdout).toMatch(/Plan: \d+ to add, 0 to change, 0 to destroy\./);
    const refused = await cli('apply');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/pass --yes/);
    const a = await cli('apply', '--yes');
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/Apply complete! \d+ applied, 0 failed/);
    const again = await cli('plan', '--detailed-exitcode');
    expect(again.stdout).toMatch(/No changes/);
    expect(again.code).toBe(0);
    const x = await cli('explain', 'anna.schmidt');
    expect(x.stdout).toMatch(/Anna Schmidt/);
    expect(x.stdout).toMatch(/holds AG-/);
  });

  it('audit verify passes, then finds a tampered entry and names its sequence number', async () => {
    const ok = await cli('audit', 'verify');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/audit log intact: \d+ entries/);
    await store.db.query(`UPDATE audit_log SET data = jsonb_set(data, '{userName}', '"mallory"') WHERE seq = 7`);
    const bad = await cli('audit', 'verify');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/AUDIT LOG BROKEN at sequence 7/);
    const exported = await cli('audit', 'export', '--format', 'jsonl');
    expect(exported.stdout.trim().split('\n').length).toBeGreaterThan(7);
  });
});
