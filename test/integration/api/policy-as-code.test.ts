import type { Server } from 'node:http';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/api/index.js';
import { createWhatIfRouter } from '../../../src/api/whatif.js';
import { runReconcile } from '../../../src/reconcile/index.js';
import { upsertIdentity } from '../../../src/store/index.js';
import { createTestEngine, type TestEngine } from '../../helpers/engine.js';

const MAPPINGS = `version: 1
accessGroups:
  - { id: cash, system: dc1, ref: AG-CASH, name: Cash room, protectionClass: 3 }
  - { id: audit-log, system: dc1, ref: AG-AUDIT, name: Audit-log room, protectionClass: 3 }
rules:
  - { id: cash, when: 'groups eq "Cash"', grant: [cash] }
  - { id: audit, when: 'groups eq "Audit"', grant: [audit-log] }
invariants:
  - { id: cash-apart, separate: { accessGroups: [cash, audit-log] } }
`;

const TESTS = `version: 1
now: 2026-06-01T08:00:00Z
tests:
  - name: cash staff get the cash room
    person: { groups: [Cash] }
    expect: { grants: [cash] }
  - name: nobody gets both rooms
    person: { groups: [Cash, Audit] }
    expect: { grants: [], denies: [{ accessGroup: cash, invariant: cash-apart }] }
`;

const VIEWER = 'viewer-token-0123456789';

describe('admin API: invariant violations and the What-if mapping tests', () => {
  let e: TestEngine;
  let server: Server;
  let base: string;
  let dir: string;
  let whatIfServer: Server;
  let whatIfBase: string;

  beforeAll(async () => {
    e = await createTestEngine('postgres', MAPPINGS, { now: '2026-06-01T08:00:00Z' });
    dir = await mkdtemp(join(tmpdir(), 'lockstep-pac-'));
    await writeFile(join(dir, 'bank.yaml'), MAPPINGS);
    await writeFile(join(dir, 'bank.test.yaml'), TESTS);
    const app = createApp({ ctx: e.ctx, adminTokens: [], auth: { tokens: [{ name: 'viewer', token: VIEWER, roles: ['viewer'] }] }, bodyLimitBytes: 65_536 });
    const listen = (a: express.Express) =>
      new Promise<Server>((r) => {
        const s = a.listen(0, '127.0.0.1', () => r(s));
      });
    const urlOf = (s: Server) => {
      const addr = s.address();
      return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    };
    server = await listen(app);
    base = urlOf(server);
    // the router as the console mounts it (behind its own session auth, left out here)
    whatIfServer = await listen(
      express()
        .use(express.json({ limit: '1mb' }))
        .use(createWhatIfRouter({ ctx: e.ctx, mappingPaths: [dir], systems: ['dc1'] })),
    );
    whatIfBase = urlOf(whatIfServer);
    await upsertIdentity(e.ctx.db, { source: 'hr', externalId: 'E1', userName: 'ada@example.com', employeeType: 'Employee', groups: ['Cash', 'Audit'] });
    await runReconcile(e.ctx, { kind: 'full' }, { trigger: 'test', actor: 'test', apply: true });
    // granted outside lockstep: she now holds both rooms
    const account = e.sim.state.findByExternalId('E1') ?? e.sim.state.createAccount({ externalId: 'E1', displayName: 'Ada' });
    e.sim.state.putMembership(account.id, 'AG-CASH', {});
    e.sim.state.putMembership(account.id, 'AG-AUDIT', {});
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => whatIfServer.close(() => r()));
    await e.close();
  });

  it('GET /reports/violations lists held access that breaks an invariant, as JSON and CSV, to readers', async () => {
    const res = await fetch(`${base}/api/v1/reports/violations`, { headers: { authorization: `Bearer ${VIEWER}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { invariants: unknown[]; violations: Array<Record<string, unknown>> };
    expect(body.invariants).toEqual([{ id: 'cash-apart', description: null, says: 'no one holds two of cash, audit-log', violations: 1 }]);
    expect(body.violations).toEqual([expect.objectContaining({ invariant: 'cash-apart', userName: 'ada@example.com', accessGroupIds: ['cash', 'audit-log'] })]);
    const csv = await fetch(`${base}/api/v1/reports/violations?format=csv`, { headers: { authorization: `Bearer ${VIEWER}` } });
    expect(csv.headers.get('content-type')).toMatch(/text\/csv/);
    expect((await csv.text()).split('\n')[0]).toBe('invariant,userName,identityId,accessGroupIds,message');
    expect((await fetch(`${base}/api/v1/reports/violations`)).status).toBe(401);
  });

  it('the What-if runs the mapping tests against the edited mappings and shows what fails', async () => {
    const post = async (files: Array<{ file: string; text: string }>) => {
      const res = await fetch(`${whatIfBase}/plan/what-if`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ files }),
      });
      return {
        status: res.status,
        body: (await res.json()) as { tests: { passed: number; failed: number; invalid: string[]; results: Array<{ name: string; failures: string[] }> } },
      };
    };
    const same = await post([{ file: 'bank.yaml', text: MAPPINGS }]);
    expect(same.status).toBe(200);
    expect(same.body.tests).toMatchObject({ passed: 2, failed: 0, invalid: [] });

    // an edit that drops the invariant: the test that guards it fails, the preview still comes
    const edited = MAPPINGS.replace(/invariants:[\s\S]*$/, '');
    const broken = await post([{ file: 'bank.yaml', text: edited }]);
    expect(broken.status).toBe(200);
    expect(broken.body.tests.failed).toBe(1);
    expect(broken.body.tests.results.find((r) => r.name === 'nobody gets both rooms')!.failures[0]).toMatch(
      /granted but not expected: cash \(rule cash\), audit-log \(rule audit\)/,
    );

    // test documents sent with the mappings are run as sent, and one that does not parse is named
    const sent = await post([
      { file: 'bank.yaml', text: MAPPINGS },
      { file: 'bank.test.yaml', text: TESTS.replace('groups: [Cash] }', 'groups: [Cash], hireDate: soon }') },
    ]);
    expect(sent.body.tests.invalid).toEqual([
      expect.stringMatching(/^bank\.test\.yaml:\d+:\d+: tests\[0\] "cash staff get the cash room": person\.hireDate: must be an ISO 8601 date/),
    ]);
  });
});
