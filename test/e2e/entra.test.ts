import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGraph } from '../../src/sources/entra/fake-graph.js';
import { entraSourceSchema, pullEntra } from '../../src/sources/entra/index.js';
import { runReconcile } from '../../src/reconcile/index.js';
import { createTestEngine, membershipsOf, type TestEngine } from '../helpers/engine.js';

const MAPPINGS = `
version: 1
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
  - { id: power, system: dc1, ref: AG-POWER, name: Power room, protectionClass: 3 }
  - { id: whitespace, system: dc1, ref: AG-WS, name: Server whitespace, protectionClass: 4 }
roles:
  dc-technician: { grant: [power] }
rules:
  - { id: staff, when: 'active eq true', grant: [perimeter] }
  - { id: dc-ops, when: 'groups eq "DC Operations"', grant: [whitespace] }
  - { id: technicians, when: 'roles eq "DC.Technician"', roles: [dc-technician] }
lifecycle: { leaver: suspend }
`;

const U1 = '11111111-1111-4111-8111-111111111111';
const U2 = '22222222-2222-4222-8222-222222222222';
const G = '33333333-3333-4333-8333-333333333333';
const SP = '44444444-4444-4444-8444-444444444444';
const ROLE = '55555555-5555-4555-8555-555555555555';

describe('end to end: Entra ID through Graph delta to the lock system', () => {
  let graph: FakeGraph;
  let e: TestEngine;
  const source = () =>
    ({
      ...entraSourceSchema.parse({
        type: 'entra',
        tenantId: '66666666-6666-4666-8666-666666666666',
        clientId: '77777777-7777-4777-8777-777777777777',
        auth: 'none',
        graphBaseUrl: graph.url,
        groups: 'all',
        appRoleApplications: [SP],
      }),
      name: 'entra',
    }) as Parameters<typeof pullEntra>[0]['source'];

  /** One scheduled pull as the service does it: pull, then reconcile whoever changed. */
  const pullAndReconcile = async () => {
    const changed: string[] = [];
    const r = await pullEntra({ db: e.ctx.db, source: source(), onChange: (ids) => void changed.push(...ids) });
    if (changed.length) {
      const out = await runReconcile(e.ctx, { kind: 'identities', ids: changed }, { trigger: 'entra', actor: 'test', apply: true });
      expect(out.failed).toEqual([]);
    }
    return r;
  };

  beforeAll(async () => {
    graph = await FakeGraph.start({ pageSize: 2 });
    e = await createTestEngine('postgres', MAPPINGS, { now: '2026-06-01T08:00:00Z' });
    const user = (id: string, employeeId: string, name: string) => ({
      id,
      employeeId,
      userPrincipalName: `${name}@contoso.example`,
      displayName: name,
      accountEnabled: true,
      employeeType: 'Employee',
    });
    graph.upsertUser(user(U1, 'E1', 'ada'));
    graph.upsertUser(user(U2, 'E2', 'bob'));
    graph.upsertGroup(G, 'DC Operations');
    graph.addMember(G, U1);
    graph.upsertServicePrincipal(SP, 'lockstep', [{ id: ROLE, value: 'DC.Technician', displayName: 'DC Technician' }]);
  });
  afterAll(async () => {
    await graph.close();
    await e.close();
  });

  it('gives people the doors their groups and app roles map to after one pull', async () => {
    graph.assignAppRole(SP, ROLE, U1);
    await pullAndReconcile();
    expect(Object.keys(membershipsOf(e.sim, 'E1')).sort()).toEqual(['AG-PERIM', 'AG-POWER', 'AG-WS']);
    expect(Object.keys(membershipsOf(e.sim, 'E2'))).toEqual(['AG-PERIM']);
  });

  it('grants the access group to a user added to a mapped group', async () => {
    graph.addMember(G, U2);
    await pullAndReconcile();
    expect(Object.keys(membershipsOf(e.sim, 'E2')).sort()).toEqual(['AG-PERIM', 'AG-WS']);
  });

  it('revokes the bundle when the app-role assignment is removed', async () => {
    const ids = graph.assignAppRole(SP, ROLE, U2);
    await pullAndReconcile();
    expect(membershipsOf(e.sim, 'E2')['AG-POWER']).toBeDefined();
    graph.removeAppRoleAssignment(SP, ids);
    await pullAndReconcile();
    expect(membershipsOf(e.sim, 'E2')['AG-POWER']).toBeUndefined();
    expect(membershipsOf(e.sim, 'E2')['AG-WS']).toBeDefined();
  });

  it('leaves a disabled user with no active membership after one pull', async () => {
    graph.upsertUser({
      id: U1,
      employeeId: 'E1',
      userPrincipalName: 'ada@contoso.example',
      displayName: 'ada',
      accountEnabled: false,
      employeeType: 'Employee',
    });
    await pullAndReconcile();
    expect(membershipsOf(e.sim, 'E1')).toEqual({});
    expect(e.sim.state.findByExternalId('E1')!.state).toBe('suspended');
  });
});
