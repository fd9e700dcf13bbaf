import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKeyless, type FakeKeyless } from '../../connectors/keyless/index.js';
import { eventually, ServiceFixture } from '../helpers/serve.js';

/**
 * lockstep serve (real PostgreSQL and Redis) driving the fake Abloy Keyless Administration API
 * over HTTP: a SCIM joiner gets permissions on the locking devices of their groups, a leaver
 * loses them at once, a lost phone cannot be blocked (and lockstep says so), and explain says
 * until when the offline locks may still open for the leaver's operating keys.
 */

const SCIM_TOKEN = 'scim-token-keyless-0123456789';
const ADMIN_TOKEN = 'admin-token-keyless-0123456789';
const DAY = 86_400_000;

describe('lockstep serve with an Abloy Keyless system', () => {
  const f = new ServiceFixture({ scim: SCIM_TOKEN, admin: ADMIN_TOKEN });
  let fake: FakeKeyless;
  const scim = (method: string, path: string, body?: unknown) => f.call('scim/v2', method, path, body);
  const api = (method: string, path: string, body?: unknown) => f.call('api/v1', method, path, body);
  const devicesOf = (externalId: string): string[] => {
    const u = fake.userByExternalId(externalId);
    return u
      ? fake
          .permissionsOf(u.id)
          .map((p) => p.lockingDeviceId)
          .sort()
      : [];
  };

  beforeAll(async () => {
    await f.open();
    fake = await startFakeKeyless();
    await f.file('admin-access-key', `${fake.admin.accessKey}\n`);
    await f.file(
      'mappings.yaml',
      `version: 1
accessGroups:
  - { id: site-entrance, system: cumulus, ref: entrance, name: Site entrance, protectionClass: 1 }
  - { id: key-deposit, system: cumulus, ref: keys, name: Key deposit, protectionClass: 3 }
rules:
  - { id: staff, when: 'active eq true', grant: [site-entrance] }
  - { id: keyholders, when: 'groups eq "Keyholders"', grant: [key-deposit] }
lifecycle: { leaver: suspend }
`,
    );
    await f.start(`mappings: [./mappings.yaml]
systems:
  cumulus:
    type: keyless
    options:
      url: "${fake.url}"
      apiKey: "${fake.apiKey}"
      login: { userId: "${fake.admin.userId}", accessKeyFile: "${f.path('admin-access-key')}" }
      operatingKeyValidityDuration: P8D
      maxAttempts: 2
      accessGroups:
        entrance: { name: Site entrance, lockingDevices: [ld-entrance, ld-yard] }
        keys: { name: Key deposit, lockingDevices: [ld-keys] }
queue: { prefix: ${f.prefix} }
`);
  });

  afterAll(async () => {
    await f.close();
    await fake?.close();
  });

  it('grants a joiner, reports a lost phone it cannot block, revokes a leaver, and explains when the offline locks learn it', async () => {
    const user = await scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      externalId: 'KL-7',
      userName: 'kari@contoso.example',
      active: true,
      displayName: 'Kari Keyless',
      emails: [{ primary: true, type: 'work', value: 'kari@contoso.example' }],
    });
    expect(user.status).toBe(201);
    const group = await scim('POST', '/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: 'Keyholders',
      members: [{ value: user.json.id }],
    });
    expect(group.status).toBe(201);

    // joiner: one OPEN permission per locking device of each group
    await eventually(() => devicesOf('KL-7').join() === 'ld-entrance,ld-keys,ld-yard', 'the joiner’s permissions in Keyless');
    const kl = fake.userByExternalId('KL-7')!;
    expect(kl).toMatchObject({ role: 'USER', name: 'Kari Keyless', email: 'kari@contoso.example' });
    expect(fake.permissionsOf(kl.id).every((p) => p.operationType === 'OPEN' && p.operatingKeyValidityDuration === 'P8D')).toBe(true);

    // Kari installs the app: the phone fetches operating keys and opens the key deposit offline
    const phone = fake.addOperatingDevice(kl.id, { name: 'Kari’s phone' });
    expect(fake.offlineLockOpens(kl.id, 'ld-keys')).toBe(true);

    // a lost phone: the API shows no way to block an operating device, and lockstep says so instead of pretending
    const lost = await api('POST', `/credentials/cumulus/${phone.id}/lost`, { accountId: kl.id, note: 'left on the train' });
    expect(lost.status).toBe(409);
    expect(lost.json.error).toMatchObject({ code: 'precondition' });
    expect(lost.json.error.message).toContain('cumulus cannot set a credential lost');
    expect(fake.operatingDevices.get(phone.id)?.activationStatus).toBe('ACTIVATED');

    // leaver: every permission goes at once (Keyless has no account suspension)
    const t0 = Date.now();
    const disabled = await scim('PATCH', `/Users/${user.json.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'Replace', path: 'active', value: false }],
    });
    expect(disabled.status).toBe(200);
    await eventually(() => devicesOf('KL-7').length === 0, 'the leaver’s permissions deleted');
    expect(fake.users.has(kl.id)).toBe(true);

    // …but the phone's operating key still opens the offline key deposit until it refreshes or expires
    expect(fake.offlineLockOpens(kl.id, 'ld-keys')).toBe(true);
    const explained = await eventually(async () => {
      const x = await api('GET', '/identities/kari@contoso.example/explain');
      return x.status === 200 && x.json.offlinePending.length === 2 ? x.json : null;
    }, 'explain listing the revocations still on the key');
    const pending = explained.offlinePending as Array<{ system: string; groupRef: string; kind: string; revokedAt: string; learnedBy: string }>;
    expect(pending.map((p) => [p.system, p.groupRef, p.kind]).sort()).toEqual([
      ['cumulus', 'entrance', 'revoke'],
      ['cumulus', 'keys', 'revoke'],
    ]);
    for (const p of pending) {
      // the key was refreshed at the latest when lockstep revoked: offline locks learn it within the key's 8 days
      expect(Date.parse(p.learnedBy) - t0).toBeGreaterThanOrEqual(8 * DAY - 1000);
      expect(Date.parse(p.learnedBy) - Date.now()).toBeLessThanOrEqual(8 * DAY);
      expect(fake.offlineLockOpens(kl.id, p.groupRef === 'keys' ? 'ld-keys' : 'ld-yard', Date.parse(p.learnedBy))).toBe(false);
    }
    fake.refreshKeys(kl.id);
    expect(fake.offlineLockOpens(kl.id, 'ld-keys')).toBe(false);
  });
  it('kills a lost phone it cannot block by revoking its holder’s access in Keyless until a date, and says when the offline locks learn it', async () => {
    const user = await scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      externalId: 'KL-8',
      userName: 'lena@contoso.example',
      active: true,
      displayName: 'Lena Lost',
    });
    expect(user.status).toBe(201);
    await eventually(() => devicesOf('KL-8').join() === 'ld-entrance,ld-yard', 'the joiner’s permissions in Keyless');
    const kl = fake.userByExternalId('KL-8')!;
    const phone = fake.addOperatingDevice(kl.id, { name: 'Lena’s phone' });

    const until = new Date(Date.now() + 14 * DAY).toISOString().slice(0, 10);
    const lost = await api('POST', `/credentials/cumulus/${phone.id}/lost`, { accountId: kl.id, note: 'stolen', revokeAccessUntil: until });
    expect(lost.status, JSON.stringify(lost.json)).toBe(202);
    expect(lost.json.revokedAccess.exceptions.map((e: { accessGroupId: string }) => e.accessGroupId)).toEqual(['site-entrance']);
    expect(lost.json.incident).toMatchObject({ kind: 'lost-credential', status: 'open' });
    expect(lost.json.result.error.message).toMatch(/cumulus cannot block the credential itself/);
    // the person is still active at source, yet their doors in Keyless go until the date
    await eventually(() => devicesOf('KL-8').length === 0, 'the lost phone holder’s permissions deleted');
    const list = await api('GET', '/exceptions?identity=lena@contoso.example');
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.json)).toMatch(/reported lost/);
    const explained = await eventually(async () => {
      const x = await api('GET', '/identities/lena@contoso.example/explain');
      return x.status === 200 && x.json.offlinePending.length === 1 ? x.json : null;
    }, 'explain listing the revocation still on the key');
    expect(explained.offlinePending[0]).toMatchObject({ system: 'cumulus', groupRef: 'entrance', kind: 'revoke' });
  });
});
