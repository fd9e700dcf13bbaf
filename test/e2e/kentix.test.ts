import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKentix, type FakeKentix } from '../../connectors/kentix/index.js';
import { eventually, ServiceFixture } from '../helpers/serve.js';

const SCIM_TOKEN = 'scim-token-kentix-0123456789';
const ADMIN_TOKEN = 'admin-token-kentix-0123456789';

/**
 * A real `lockstep serve` (PostgreSQL, Redis, its queue and workers) driving the fake Kentix
 * SmartAPI over HTTP: a SCIM joiner gets access profiles, a lost token is cleared through the
 * admin API, and a leaver loses the profiles and is deactivated.
 */
describe('lockstep serve with KentixONE: SCIM joiners and leavers, lost tokens', () => {
  const f = new ServiceFixture({ scim: SCIM_TOKEN, admin: ADMIN_TOKEN });
  let kx: FakeKentix;
  const scim = (method: string, path: string, body?: unknown) => f.call('scim/v2', method, path, body);
  const user = (username: string) => kx.userByName(username);

  beforeAll(async () => {
    await f.open();
    kx = await startFakeKentix();
    await f.file('kentix-token', `${kx.token}\n`);
    await f.file(
      'mappings.yaml',
      `version: 1
accessGroups:
  - { id: entrance, system: kx, ref: "1", name: Staff entrance, protectionClass: 1 }
  - { id: server-room, system: kx, ref: "2", name: Server room, protectionClass: 3 }
rules:
  - { id: staff, when: 'active eq true and not (groups eq "Contractors")', grant: [entrance] }
  - { id: dc-ops, when: 'groups eq "DC Operations"', grant: [server-room] }
  - { id: contractors, when: 'groups eq "Contractors"', grant: [entrance], validity: { maxDays: 30 } }
lifecycle: { leaver: suspend }
`,
    );
    await f.start(`mappings: [./mappings.yaml]
systems:
  kx:
    type: kentix
    options: { url: "${kx.url}", tokenFile: "${f.path('kentix-token')}", apiUser: lockstep-api, userGroupId: 2, maxAttempts: 2 }
queue: { prefix: ${f.prefix} }
`);
  });

  afterAll(async () => {
    await f.close();
    await kx?.close();
  });

  it('gives a SCIM joiner the doors of their access profiles, clears a token reported lost, and takes everything from a leaver', async () => {
    const created = await scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      externalId: 'E4711',
      userName: 'kim@contoso.example',
      active: true,
      displayName: 'Kim Keller',
      emails: [{ primary: true, type: 'work', value: 'kim@contoso.example' }],
    });
    expect(created.status).toBe(201);
    const group = await scim('POST', '/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: 'DC Operations',
      members: [{ value: created.json.id }],
    });
    expect(group.status).toBe(201);

    // joiner: a guest user named by the externalId, with both profiles
    const kim = await eventually(() => (user('E4711')?.accessProfiles.length === 2 ? user('E4711') : null), 'the joiner with both access profiles');
    expect(kim).toMatchObject({ name: 'Kim Keller', email: 'kim@contoso.example', accountType: 'guest', isActive: true });
    expect([...kim.accessProfiles].sort()).toEqual([1, 2]);
    expect(kx.mayOpen(kim, 2)).toBe(true); // the server room's doorlock

    // a token enrolled at the desk, then reported lost: cleared at once, an incident opened
    const uid = kx.issueRfid(kim.id, '04C0FFEE1234');
    const lost = await f.call('api/v1', 'POST', `/credentials/kx/rfid-${uid}/lost`, { note: 'left on the train' });
    expect(lost.status).toBe(200);
    expect(lost.json).toMatchObject({
      result: { status: 'applied' },
      account: { id: String(kim.id), externalId: 'E4711' },
      incident: { kind: 'lost-credential' },
    });
    expect(user('E4711')!.rfid).toBeNull();
    expect(kx.recordAccess({ userId: kim.id, medium: 'rfid', doorlockId: 1 }).rfid).toBeNull();

    // leaver: the profiles revoked and the user deactivated
    const disabled = await scim('PATCH', `/Users/${created.json.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'Replace', path: 'active', value: false }],
    });
    expect(disabled.status).toBe(200);
    await eventually(() => user('E4711')?.accessProfiles.length === 0 && user('E4711')?.isActive === false, 'the leaver without profiles, deactivated');
    expect(kx.mayOpen(user('E4711')!, 1)).toBe(false);
    // the SmartAPI user lockstep signs in as is left as it was
    expect(kx.users.get(kx.apiUserId)).toMatchObject({ isActive: true, username: 'lockstep-api' });
  });

  it("bounds a contractor's user by the end of their only access profile (validity on the user)", async () => {
    const created = await scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      externalId: 'C0815',
      userName: 'cas@supplier.example',
      active: true,
      displayName: 'Cas Contractor',
    });
    expect(created.status).toBe(201);
    const group = await scim('POST', '/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: 'Contractors',
      members: [{ value: created.json.id }],
    });
    expect(group.status).toBe(201);
    const cas = await eventually(
      () => (user('C0815')?.accessProfiles.length === 1 && user('C0815')?.deactivateFrom ? user('C0815') : null),
      'the contractor, dated',
    );
    expect(cas.accessProfiles).toEqual([1]);
    // maxDays 30 from the first grant: KentixONE deactivates the user then, even without lockstep
    expect(Math.abs(cas.deactivateFrom! - (Date.now() + 30 * 86_400_000))).toBeLessThan(120_000);
    expect(kx.mayOpen(cas, 1, Date.now())).toBe(true);
    expect(kx.mayOpen(cas, 1, Date.now() + 31 * 86_400_000)).toBe(false);
  });
});
