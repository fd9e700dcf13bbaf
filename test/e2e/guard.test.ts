import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../connectors/simulator/index.js';
import { FakeGraph } from '../../src/sources/entra/fake-graph.js';
import { ServiceFixture, eventually } from '../helpers/serve.js';

/**
 * The mass-revocation guard on the service path, with the guard on. A batch source (an HR
 * export, an Entra delta) is judged as one change before anyone is reconciled: over the budget,
 * everyone in it who would lose access waits in one held run and nobody loses anything until it
 * is approved. SCIM, which arrives one person at a time, is held once the revocation budget is
 * spent. One approval applies the held run.
 */

const SCIM_TOKEN = 'scim-token-guard-0123456789abcdef';
const ADMIN_TOKEN = 'admin-token-guard-0123456789abcdef';
/** A second principal: four-eyes keeps the admin token, whose pulls cause the holds, from approving them. */
const OFFICER_TOKEN = 'officer-token-guard-0123456789abcdef';
const N = 16;
const MOVED = 14;
// at most 2 people may lose access within the window before the rest is held
const GUARD = '{ maxRevocationsPercent: 100, maxRevocationsAbsolute: 2, minRevocationsToHold: 3, windowMinutes: 60 }';
const uuid = (n: number, k: number) => `${String(k).repeat(8)}-0000-4000-8000-${String(n).padStart(12, '0')}`;

function hrCsv(site: (i: number) => string): string {
  const rows = ['employeeId,userName,displayName,employeeType,site,active'];
  for (let i = 0; i < N; i++) rows.push(`H${i},hr${i},HR Person ${i},Employee,${site(i)},true`);
  return rows.join('\n') + '\n';
}

describe('lockstep serve: a mass change from any source is held by the revocation budget and applied by one approval', () => {
  const f = new ServiceFixture({ scim: SCIM_TOKEN, admin: ADMIN_TOKEN });
  let sim: RunningSimulator;
  let graph: FakeGraph;
  /** A webhook receiver on loopback: the CloudEvents the service sends. */
  let hook: Server;
  let hookUrl = '';
  const events: Array<{ type: string; data: any }> = [];
  const scim = (method: string, path: string, body?: unknown) => f.call('scim/v2', method, path, body);
  const api = (method: string, path: string, body?: unknown) => f.call('api/v1', method, path, body);
  const groupsOf = (externalId: string) =>
    sim.state
      .findByExternalId(externalId)
      ?.memberships.map((m) => m.group)
      .sort() ?? [];
  const holding = (externalIds: string[], group: string) => externalIds.filter((e) => groupsOf(e).includes(group));

  /** The open run the budget holds, once it holds `people` people. */
  const heldRun = (people: number) =>
    eventually(async () => {
      const list = await api('GET', '/runs?limit=200');
      const r = (list.json.runs as Array<{ id: string; status: string; trigger: string }>).find(
        (x) => x.status === 'held' && x.trigger === 'guard:revocation-budget',
      );
      if (!r) return null;
      const run = await api('GET', `/runs/${r.id}`);
      return run.json.summary?.heldPeople === people ? run.json : null;
    }, `a held run with ${people} people`);

  const approve = async (id: string) => {
    const res = await fetch(`${f.url}/api/v1/runs/${id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${OFFICER_TOKEN}` } });
    const r = { status: res.status, json: (await res.json()) as any };
    expect(r.status).toBe(200);
    expect(r.json.held).toBe(false);
    return r.json;
  };

  beforeAll(async () => {
    await f.open();
    sim = await startSimulator({
      groups: [
        { id: 'AG-PERIM', name: 'Perimeter', doors: [] },
        { id: 'AG-NORTH', name: 'North hall', doors: [] },
      ],
    });
    graph = await FakeGraph.start({ pageSize: 50 });
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        events.push(JSON.parse(body));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/hooks`;
    for (let i = 0; i < N; i++)
      graph.upsertUser({
        id: uuid(i, 1),
        employeeId: `X${i}`,
        userPrincipalName: `entra${i}@contoso.example`,
        displayName: `Entra Person ${i}`,
        accountEnabled: true,
        employeeType: 'Employee',
      });
    await f.file(
      'hr.csv',
      hrCsv(() => 'North'),
    );
    await f.file(
      'mappings.yaml',
      `version: 1
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
  - { id: north, system: dc1, ref: AG-NORTH, name: North hall, protectionClass: 2 }
rules:
  - { id: staff, when: 'active eq true', grant: [perimeter] }
  - { id: north, when: 'site eq "North"', grant: [north] }
lifecycle: { leaver: revoke, guard: ${GUARD} }
`,
    );
    await f.start(`mappings: [./mappings.yaml]
systems:
  dc1: { type: simulator, options: { url: "${sim.url}", maxAttempts: 2 } }
sources:
  hr: { type: file, path: ./hr.csv, format: csv, full: true, columns: { employeeId: externalId } }
  entra:
    type: entra
    tenantId: 66666666-6666-4666-8666-666666666666
    clientId: 77777777-7777-4777-8777-777777777777
    auth: none
    graphBaseUrl: "${graph.url}"
    groups: all
    intervalMs: 3600000
auth: { tokens: [{ name: officer, token: "${OFFICER_TOKEN}", roles: [approver] }] }
notifications: { everyMs: 200, webhooks: [{ url: "${hookUrl}", events: [run.held, run.approved] }] }
queue: { prefix: ${f.prefix} }
`);
    for (let i = 0; i < N; i++) {
      const r = await scim('POST', '/Users', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        externalId: `S${i}`,
        userName: `scim${i}@contoso.example`,
        active: true,
        displayName: `SCIM Person ${i}`,
      });
      expect(r.status).toBe(201);
    }
    const everyone = [
      ...Array.from({ length: N }, (_, i) => `H${i}`),
      ...Array.from({ length: N }, (_, i) => `S${i}`),
      ...Array.from({ length: N }, (_, i) => `X${i}`),
    ];
    await eventually(() => holding(everyone, 'AG-PERIM').length === 3 * N, 'everyone’s perimeter access');
    await eventually(
      () =>
        holding(
          Array.from({ length: N }, (_, i) => `H${i}`),
          'AG-NORTH',
        ).length === N,
      'the HR people’s north hall access',
    );
  }, 60_000);

  afterAll(async () => {
    await f.close();
    await sim?.close();
    await graph?.close();
    await new Promise((r) => hook?.close(r));
  });

  it('holds an HR export that moves 14 of 16 people to another site after the budget, and one approval applies the rest', async () => {
    const hr = Array.from({ length: N }, (_, i) => `H${i}`);
    await f.file(
      'hr.csv',
      hrCsv((i) => (i < MOVED ? 'South' : 'North')),
    );
    const sync = await api('POST', '/sources/hr/sync');
    expect(sync.status, JSON.stringify(sync.json)).toBe(200);
    // the export is judged as one batch before anyone is reconciled: all 14 wait in one held run
    expect(sync.json.heldRun).toMatchObject({ people: MOVED });
    expect(sync.json.warnings.join('\n')).toMatch(/wait in held run/);
    const held = await heldRun(MOVED);
    expect(held.id).toBe(sync.json.heldRun.runId);
    // nobody lost the north hall before the approval
    expect(holding(hr, 'AG-NORTH')).toHaveLength(N);
    expect(held.error).toMatch(/held until approved/);
    const heldIds = new Set((held.plan.operations as Array<{ externalId: string; kind: string }>).filter((o) => o.kind === 'revoke').map((o) => o.externalId));
    expect(heldIds.size).toBe(MOVED);
    // held revocations are loud: /readyz, /metrics, the console's health view and a CloudEvent
    const ready = (await (await fetch(`${f.url}/readyz`)).json()) as any;
    expect(ready).toMatchObject({ heldRuns: 1, heldPeople: MOVED, heldMemberships: MOVED });
    expect(ready.oldestHeldSince).toBeTruthy();
    expect(ready.held[0]).toMatchObject({ runId: held.id, people: MOVED });
    const metrics = await (await fetch(`${f.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^lockstep_held_people ${MOVED}$`, 'm'));
    expect(metrics).toMatch(new RegExp(`^lockstep_held_memberships ${MOVED}$`, 'm'));
    expect(metrics).toMatch(/^lockstep_held_runs 1$/m);
    expect(metrics).toMatch(/^lockstep_held_oldest_age_seconds \d/m);
    const health = await api('GET', '/console/health');
    expect(health.json.held).toMatchObject({ runs: 1, people: MOVED });
    const paged = await eventually(() => events.find((e) => e.type === 'io.lockstep.run.held'), 'a run.held CloudEvent');
    expect(paged).toMatchObject({ subject: held.id });
    expect(paged.data.people).toHaveLength(MOVED);
    // a held person's own job joins them to the held run again: nothing of theirs is revoked
    // (test/integration/reconcile/batch-hold.test.ts also shows a full run leaving them alone)
    const h0 = await api('GET', '/identities/hr0/explain');
    const own = await api('POST', '/runs', { mode: 'apply', identities: [h0.json.identity.id] });
    expect(own.status, JSON.stringify(own.json)).toBeLessThan(300);
    // the job marked the change pending before the POST answered; it is settled once the job ran (held, not applied)
    await eventually(async () => ((await (await fetch(`${f.url}/readyz`)).json()) as any).pendingChanges === 0, 'the held person’s own job to run');
    expect((await api('GET', `/runs/${held.id}`)).json.summary.heldPeople).toBe(MOVED);
    expect(holding(hr, 'AG-NORTH')).toHaveLength(N);
    await approve(held.id);
    await eventually(() => holding(hr, 'AG-NORTH').length === N - MOVED, 'the approved revocations');
    expect(holding(hr, 'AG-NORTH').sort()).toEqual(['H14', 'H15']);
    const after = (await (await fetch(`${f.url}/readyz`)).json()) as any;
    expect(after).toMatchObject({ heldRuns: 0, heldPeople: 0 });
    // nobody lost anything the change did not take
    expect(holding(hr, 'AG-PERIM')).toHaveLength(N);
  });

  it('holds a SCIM mass-deprovisioning, and a single leaver after the approval goes through at once', async () => {
    const list = await scim('GET', '/Users?filter=' + encodeURIComponent('userName sw "scim"') + '&count=100');
    const users = (list.json.Resources as Array<{ id: string; externalId: string }>).sort(
      (a, b) => Number(a.externalId.slice(1)) - Number(b.externalId.slice(1)),
    );
    expect(users).toHaveLength(N);
    const scimPeople = users.map((u) => u.externalId);
    for (const u of users.slice(0, MOVED)) {
      const r = await scim('PATCH', `/Users/${u.id}`, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'replace', path: 'active', value: false }],
      });
      expect(r.status).toBe(200);
    }
    const held = await heldRun(MOVED - 2);
    expect(holding(scimPeople, 'AG-PERIM')).toHaveLength(N - 2);
    await approve(held.id);
    await eventually(() => holding(scimPeople, 'AG-PERIM').length === N - MOVED, 'the approved revocations');
    // the approval started the window afresh: one leaver now is within the budget
    const r = await scim('PATCH', `/Users/${users[MOVED].id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'active', value: false }],
    });
    expect(r.status).toBe(200);
    await eventually(() => holding(scimPeople, 'AG-PERIM').length === N - MOVED - 1, 'the single leaver’s revocation');
  });

  it('holds an Entra delta that disables 14 users, and one approval applies it', async () => {
    const entra = Array.from({ length: N }, (_, i) => `X${i}`);
    for (let i = 0; i < MOVED; i++)
      graph.upsertUser({
        id: uuid(i, 1),
        employeeId: `X${i}`,
        userPrincipalName: `entra${i}@contoso.example`,
        displayName: `Entra Person ${i}`,
        accountEnabled: false,
        employeeType: 'Employee',
      });
    const sync = await api('POST', '/sources/entra/sync');
    expect(sync.status, JSON.stringify(sync.json)).toBe(200);
    // the delta is judged as one batch: all 14 wait in one held run, nobody lost access yet
    expect(sync.json.heldRun).toMatchObject({ people: MOVED });
    const held = await heldRun(MOVED);
    expect(holding(entra, 'AG-PERIM')).toHaveLength(N);
    await approve(held.id);
    await eventually(() => holding(entra, 'AG-PERIM').length === N - MOVED, 'the approved revocations');
  });
});
