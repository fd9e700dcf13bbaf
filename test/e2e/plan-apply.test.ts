import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../connectors/simulator/index.js';
import { serve, type RunningService } from '../../src/runtime/serve.js';
import { createTestStore, type TestStore } from '../helpers/db.js';

/**
 * What `lockstep plan` shows is what the service applies: the same estate, planned by the CLI
 * (its own process, its own drivers) and then applied by `serve`'s queued full run, gives the
 * same operations, and the same digest.
 */

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const ADMIN_TOKEN = 'admin-token-plan-0123456789abcdef';

async function eventually<T>(check: () => T | null | false | Promise<T | null | false>, what: string, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface PlannedOp {
  key: string;
  kind: string;
  identityId: string | null;
  accountId: string | null;
}

describe('lockstep plan equals what lockstep serve applies', () => {
  let dir: string;
  let sim: RunningSimulator;
  let store: TestStore;
  let svc: RunningService;
  const prefix = `lockstep-test-${randomBytes(4).toString('hex')}`;
  let env: NodeJS.ProcessEnv;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${svc.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), '--config', join(dir, 'lockstep.yaml'), ...args], { cwd: ROOT, env });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-plan-'));
    sim = await startSimulator({ groups: [{ id: 'AG-PERIM', name: 'Perimeter', doors: [] }, { id: 'AG-NORTH', name: 'North hall', doors: [] }, { id: 'AG-OTHER', name: 'Not managed', doors: [] }] });
    store = await createTestStore('postgres');
    const rows = ['employeeId,userName,displayName,employeeType,site,active'];
    for (let i = 0; i < 12; i++) rows.push(`P${i},p${i},Person ${i},Employee,${i % 2 ? 'North' : 'South'},true`);
    await writeFile(join(dir, 'hr.csv'), rows.join('\n') + '\n');
    await writeFile(
      join(dir, 'mappings.yaml'),
      `version: 1
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
  - { id: north, system: dc1, ref: AG-NORTH, name: North hall, protectionClass: 2 }
rules:
  - { id: staff, when: 'active eq true', grant: [perimeter] }
  - { id: north, when: 'site eq "North"', grant: [north], validity: { maxDays: 30 } }
lifecycle: { leaver: suspend, orphans: revoke }
`,
    );
    await writeFile(
      join(dir, 'lockstep.yaml'),
      `mappings: [./mappings.yaml]
systems:
  dc1: { type: simulator, options: { url: "${sim.url}", maxAttempts: 2 } }
sources:
  hr: { type: file, path: ./hr.csv, format: csv, full: true, columns: { employeeId: externalId } }
queue: { prefix: ${prefix} }
`,
    );
    env = { ...process.env, PORT: '0', HOST: '127.0.0.1', DATABASE_URL: store.url!, LOCKSTEP_DATA_DIR: join(dir, 'data'), ADMIN_TOKEN, REDIS_URL: 'redis://127.0.0.1:6379', LOCKSTEP_NO_LOCAL_REDIS: '1' };
    svc = await serve({ configPath: join(dir, 'lockstep.yaml'), logLevel: 'silent', env });
    await eventually(() => Array.from({ length: 12 }, (_, i) => `P${i}`).every((e) => (sim.state.findByExternalId(e)?.memberships.length ?? 0) >= 1), 'the start-up full run');
  }, 60_000);

  afterAll(async () => {
    await svc?.close();
    await sim?.close();
    await store?.drop();
    const redis = new Redis('redis://127.0.0.1:6379');
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  });

  it('the service applies exactly the operations `lockstep plan --json` showed, orphans and drift included', async () => {
    // drift only a full run finds: memberships removed or changed in the lock system, an orphan, an unmanaged group
    const p1 = sim.state.findByExternalId('P1')!;
    const p3 = sim.state.findByExternalId('P3')!;
    sim.state.deleteMembership(p1.id, 'AG-NORTH');
    sim.state.putMembership(p3.id, 'AG-NORTH', { from: null, until: null });
    sim.state.putMembership(sim.state.findByExternalId('P0')!.id, 'AG-NORTH', { from: null, until: null });
    const orphan = sim.state.createAccount({ externalId: 'GONE1', displayName: 'Nobody' });
    sim.state.putMembership(orphan.id, 'AG-PERIM', { from: null, until: null });
    sim.state.putMembership(orphan.id, 'AG-OTHER', { from: null, until: null });

    const shown = JSON.parse((await cli('plan', '--json')).stdout) as { digest: string; plan: { operations: PlannedOp[] } };
    const keys = shown.plan.operations.map((o) => o.key).sort();
    expect(keys).toEqual(
      [`dc1|grant|${p1.id}|AG-NORTH`, `dc1|change_validity|${p3.id}|AG-NORTH`, `dc1|revoke|${sim.state.findByExternalId('P0')!.id}|AG-NORTH`, `dc1|revoke|${orphan.id}|AG-PERIM`].sort(),
    );

    const started = await api('POST', '/runs', { mode: 'apply' });
    expect(started.status).toBe(202);
    const id = started.json.runId as string;
    const applied = await eventually(async () => {
      const r = await api('GET', `/runs/${id}`);
      return r.status === 200 && ['applied', 'partial', 'failed'].includes(r.json.status) ? r.json : null;
    }, 'the service’s full run');
    expect(applied.status).toBe('applied');
    expect((applied.plan.operations as PlannedOp[]).map((o) => o.key).sort()).toEqual(keys);
    expect((applied.results as Array<{ key: string; status: string }>).filter((r) => r.status === 'applied').map((r) => r.key).sort()).toEqual(keys);
    // the unmanaged group is not lockstep's to touch
    expect(sim.state.getAccount(orphan.id)!.memberships.map((m) => m.group)).toEqual(['AG-OTHER']);

    // converged: the next plan is empty
    const again = JSON.parse((await cli('plan', '--json')).stdout) as { plan: { operations: PlannedOp[] } };
    expect(again.plan.operations).toEqual([]);
  });

  it('`apply --expect` applies the plan it was shown, and refuses when the world moved since', async () => {
    const p5 = sim.state.findByExternalId('P5')!;
    sim.state.deleteMembership(p5.id, 'AG-NORTH');
    const shown = JSON.parse((await cli('plan', '--json')).stdout) as { digest: string; plan: { operations: PlannedOp[] } };
    expect(shown.plan.operations.map((o) => o.key)).toEqual([`dc1|grant|${p5.id}|AG-NORTH`]);
    // the world moves: another membership goes
    const p7 = sim.state.findByExternalId('P7')!;
    sim.state.deleteMembership(p7.id, 'AG-NORTH');
    const refused = await cli('apply', '--yes', '--expect', shown.digest).catch((e: { code: number; stderr: string }) => e);
    expect((refused as { code: number }).code).not.toBe(0);
    expect((refused as { stderr: string }).stderr).toMatch(/world moved/);
    expect(sim.state.getAccount(p5.id)!.memberships.map((m) => m.group)).not.toContain('AG-NORTH');

    const now = JSON.parse((await cli('plan', '--json')).stdout) as { digest: string };
    const ok = await cli('apply', '--yes', '--expect', now.digest);
    expect(ok.stdout).toMatch(/2 applied|Apply complete/);
    expect(sim.state.getAccount(p5.id)!.memberships.map((m) => m.group)).toContain('AG-NORTH');
    expect(sim.state.getAccount(p7.id)!.memberships.map((m) => m.group)).toContain('AG-NORTH');
  });
});
