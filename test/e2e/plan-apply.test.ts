import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../connectors/simulator/index.js';
import { ServiceFixture, eventually } from '../helpers/serve.js';

/**
 * What `lockstep plan` shows is what the service applies: the same estate, planned by the CLI
 * (its own process, its own drivers) and then applied by `serve`'s queued full run, gives the
 * same operations, and the same digest.
 */

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

interface PlannedOp {
  key: string;
  kind: string;
  identityId: string | null;
  accountId: string | null;
}

describe('lockstep plan equals what lockstep serve applies', () => {
  const f = new ServiceFixture({ admin: 'admin-token-plan-0123456789abcdef' });
  let sim: RunningSimulator;
  const api = (method: string, path: string, body?: unknown) => f.call('api/v1', method, path, body);
  const cli = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), '--config', f.path('lockstep.yaml'), ...args], { cwd: ROOT, env: f.env() });

  beforeAll(async () => {
    await f.open();
    sim = await startSimulator({
      groups: [
        { id: 'AG-PERIM', name: 'Perimeter', doors: [] },
        { id: 'AG-NORTH', name: 'North hall', doors: [] },
        { id: 'AG-OTHER', name: 'Not managed', doors: [] },
      ],
    });
    const rows = ['employeeId,userName,displayName,employeeType,site,active'];
    for (let i = 0; i < 12; i++) rows.push(`P${i},p${i},Person ${i},Employee,${i % 2 ? 'North' : 'South'},true`);
    await f.file('hr.csv', rows.join('\n') + '\n');
    await f.file(
      'mappings.yaml',
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
    await f.start(`mappings: [./mappings.yaml]
systems:
  dc1: { type: simulator, options: { url: "${sim.url}", maxAttempts: 2 } }
sources:
  hr: { type: file, path: ./hr.csv, format: csv, full: true, columns: { employeeId: externalId } }
queue: { prefix: ${f.prefix} }
`);
    // the start-up full run comes after the HR import, so the imported people get their doors now, not in an hour
    await eventually(
      () => Array.from({ length: 12 }, (_, i) => `P${i}`).every((e) => (sim.state.findByExternalId(e)?.memberships.length ?? 0) >= 1),
      'the start-up full run',
    );
    // and the start-up run is over (the drift below must not race its last grants)
    await eventually(
      async () =>
        ((await api('GET', '/runs?limit=50')).json.runs as Array<{ scope: string; status: string }>).some((r) => r.scope === 'full' && r.status === 'applied'),
      'the start-up full run to finish',
    );
  }, 60_000);

  afterAll(async () => {
    await f.close();
    await sim?.close();
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
      [
        `dc1|grant|${p1.id}|AG-NORTH`,
        `dc1|change_validity|${p3.id}|AG-NORTH`,
        `dc1|revoke|${sim.state.findByExternalId('P0')!.id}|AG-NORTH`,
        `dc1|revoke|${orphan.id}|AG-PERIM`,
      ].sort(),
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
    expect(
      (applied.results as Array<{ key: string; status: string }>)
        .filter((r) => r.status === 'applied')
        .map((r) => r.key)
        .sort(),
    ).toEqual(keys);
    // the unmanaged group is not lockstep's to touch
    expect(sim.state.getAccount(orphan.id)!.memberships.map((m) => m.group)).toEqual(['AG-OTHER']);

    // converged: the next plan is empty
    const again = JSON.parse((await cli('plan', '--json')).stdout) as { plan: { operations: PlannedOp[] } };
    expect(again.plan.operations).toEqual([]);
    // CLI processes compile TypeScript on start: seconds each on a loaded machine
  }, 120_000);

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
  }, 120_000);
});
