import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../connectors/simulator/index.js';
import { ServiceFixture } from '../helpers/serve.js';

const SCIM_TOKEN = 'scim-token-0123456789abcdef';
const ADMIN_TOKEN = 'admin-token-0123456789abcdef';

/** Polls until the check passes: the service applies changes asynchronously through its queue. */
async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('lockstep serve: a SCIM client provisions, the doors follow without anyone running the CLI', () => {
  const f = new ServiceFixture({ scim: SCIM_TOKEN, admin: ADMIN_TOKEN });
  let sim: RunningSimulator;
  const scim = (method: string, path: string, body?: unknown) => f.call('scim/v2', method, path, body);
  const groupsOf = (externalId: string) =>
    sim.state
      .findByExternalId(externalId)
      ?.memberships.map((m) => m.group)
      .sort() ?? [];

  beforeAll(async () => {
    await f.open();
    sim = await startSimulator({
      groups: [
        { id: 'AG-PERIM', name: 'Perimeter', doors: [] },
        { id: 'AG-WS', name: 'Whitespace', doors: [] },
        { id: 'AG-POWER', name: 'Power room', doors: [] },
      ],
    });
    await f.file(
      'mappings.yaml',
      `version: 1
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
  - { id: whitespace, system: dc1, ref: AG-WS, name: Whitespace, protectionClass: 4 }
  - { id: power, system: dc1, ref: AG-POWER, name: Power room, protectionClass: 3 }
rules:
  - { id: staff, when: 'active eq true', grant: [perimeter] }
  - { id: dc-ops, when: 'groups eq "DC Operations"', grant: [whitespace] }
  - { id: technicians, when: 'roles eq "DC.Technician"', roles: [dc-technician] }
roles:
  dc-technician: { grant: [power] }
lifecycle: { leaver: suspend }
`,
    );
    await f.start(`mappings: [./mappings.yaml]
systems:
  dc1: { type: simulator, options: { url: "${sim.url}", maxAttempts: 2 } }
queue: { prefix: ${f.prefix} }
`);
  });

  afterAll(async () => {
    await f.close();
    await sim?.close();
  });

  it('grants a SCIM user in a mapped group, revokes on PATCH active "False", and leaves nothing active after DELETE', async () => {
    const user = await scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      externalId: 'E42',
      userName: 'grace@contoso.example',
      active: true,
      displayName: 'Grace Hopper',
      emails: [{ primary: true, type: 'work', value: 'grace@contoso.example' }],
    });
    expect(user.status).toBe(201);
    const group = await scim('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'DC Operations', members: [] });
    expect(group.status).toBe(201);
    const added = await scim('PATCH', `/Groups/${group.json.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'Add', path: 'members', value: [{ value: user.json.id }] }],
    });
    expect(added.status).toBe(204);
    await eventually(() => groupsOf('E42').join() === 'AG-PERIM,AG-WS', 'the whitespace and perimeter grants');

    const disabled = await scim('PATCH', `/Users/${user.json.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
    });
    expect(disabled.status).toBe(200);
    await eventually(() => groupsOf('E42').length === 0 && sim.state.findByExternalId('E42')?.state === 'suspended', 'the revocations and suspension');

    // re-enable, then delete: nothing stays active
    await scim('PATCH', `/Users/${user.json.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', value: { active: true } }],
    });
    await eventually(() => groupsOf('E42').length === 2 && sim.state.findByExternalId('E42')?.state === 'active', 'the re-activation');
    expect((await scim('DELETE', `/Users/${user.json.id}`)).status).toBe(204);
    await eventually(() => groupsOf('E42').length === 0 && sim.state.findByExternalId('E42')?.state === 'suspended', 'the leaver after DELETE');
    expect((await scim('GET', `/Users/${user.json.id}`)).status).toBe(404);
  });

  it('gives an Entra user with AppRoleAssignmentsComplex roles the bundle, and a PATCH removing the role revokes it', async () => {
    const user = await scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      externalId: 'E77',
      userName: 'alan@contoso.example',
      active: true,
      roles: [
        { primary: false, type: 'WindowsAzureActiveDirectoryRole', display: 'DC Technician', value: 'DC.Technician' },
        { primary: false, type: 'WindowsAzureActiveDirectoryRole', display: 'Visitor escort', value: 'Escort' },
      ],
    });
    expect(user.status).toBe(201);
    await eventually(() => groupsOf('E77').join() === 'AG-PERIM,AG-POWER', 'the bundle granted through the source role');
    const explain = await fetch(`${f.url}/api/v1/identities/alan@contoso.example/explain`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const power = ((await explain.json()) as { entitlements: Array<{ accessGroup: { id: string }; reasons: unknown[] }> }).entitlements.find(
      (x: { accessGroup: { id: string } }) => x.accessGroup.id === 'power',
    );
    expect(power?.reasons[0]).toMatchObject({ rule: 'technicians', role: 'dc-technician', sourceRole: 'DC.Technician' });

    const removed = await scim('PATCH', `/Users/${user.json.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'Remove', path: 'roles[value eq "DC.Technician"]' }],
    });
    expect(removed.status).toBe(200);
    expect(removed.json.roles.map((r: { value: string }) => r.value)).toEqual(['Escort']);
    await eventually(() => groupsOf('E77').join() === 'AG-PERIM', 'the bundle revoked');
  });

  it('answers the admin API and health on the same port', async () => {
    expect((await fetch(`${f.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${f.url}/readyz`);
    expect(ready.status).toBe(200);
    const runs = await fetch(`${f.url}/api/v1/runs`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(runs.status).toBe(200);
    const metrics = await (await fetch(`${f.url}/metrics`)).text();
    expect(metrics).toMatch(/lockstep_/);
  });
});
