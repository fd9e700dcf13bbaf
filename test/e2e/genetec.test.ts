import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGenetec, type FakeGenetec } from '../../connectors/genetec/index.js';
import { ServiceFixture, eventually } from '../helpers/serve.js';

/**
 * lockstep serve over ONE (fake) Genetec Security Center that hosts two lock families, as a site
 * with the Security Center CLIQ plugin and Aperio does: CLIQ cylinders (data on key: a system
 * block with offline.revalidationDays, owning no cardholder dates) and Aperio doors (online: a
 * second block, owning the cardholder's dates). A joiner, a mover, a lost card and a leaver go
 * through SCIM and the admin API; explain and the access report say when the revoked CLIQ key
 * stops opening.
 */

const SCIM_TOKEN = 'scim-token-genetec-0123456789abcdef';
const ADMIN_TOKEN = 'admin-token-genetec-0123456789abcdef';
const CLIQ_RULE = '7a0e3c11-0b4f-4f0e-9a3d-c11c00000001';
const APERIO_RULE = '7a0e3c11-0b4f-4f0e-9a3d-ae0100000002';
const DAY = 86_400_000;

interface Explain {
  systems: Array<{
    system: string;
    account: { id: string; state: string; credentials: Array<{ id: string; status: string; keyExpiresAt?: string | null }> } | null;
    offline?: { revalidationDays: number };
  }>;
  offlinePending: Array<{ system: string; accountId: string; groupRef: string; kind: string; revokedAt: string; learnedBy: string }>;
}

describe('lockstep serve with Genetec Security Center: CLIQ (offline) and Aperio (online) doors of one instance', { timeout: 120_000 }, () => {
  const f = new ServiceFixture({ scim: SCIM_TOKEN, admin: ADMIN_TOKEN });
  let fake: FakeGenetec;
  const scim = (method: string, path: string, body?: unknown) => f.call('scim/v2', method, path, body);
  const api = (method: string, path: string, body?: unknown) => f.call('api/v1', method, path, body);
  const cardholderOf = (externalId: string) => [...fake.cardholders.values()].find((c) => c.customFields.get('LockstepId') === externalId);
  const rulesOf = (externalId: string) => {
    const ch = cardholderOf(externalId);
    return ch
      ? [...fake.accessRules.values()]
          .filter((r) => r.cardholders.has(ch.guid))
          .map((r) => r.guid)
          .sort()
      : [];
  };

  beforeAll(async () => {
    await f.open();
    fake = await startFakeGenetec({
      accessRules: [
        { name: 'CLIQ cylinders: DC1 cages', guid: CLIQ_RULE },
        { name: 'Aperio doors: DC1 offices', guid: APERIO_RULE },
      ],
      customFields: ['LockstepId'],
    });
    const conn = `url: "${fake.url}", username: ${fake.username}, applicationId: "${fake.applicationId}", password: ${fake.password}, maxAttempts: 2`;
    await f.file(
      'mappings.yaml',
      `version: 1
accessGroups:
  - { id: dc1-cages, system: cliq, ref: "${CLIQ_RULE}", name: DC1 cages (CLIQ), protectionClass: 3 }
  - { id: dc1-offices, system: aperio, ref: "${APERIO_RULE}", name: DC1 offices (Aperio), protectionClass: 1 }
rules:
  - { id: staff, when: 'active eq true', grant: [dc1-offices] }
  - { id: dc-ops, when: 'groups eq "DC Operations"', grant: [dc1-cages] }
lifecycle: { leaver: suspend }
`,
    );
    await f.start(`mappings: [./mappings.yaml]
systems:
  cliq: { type: genetec, options: { ${conn}, offline: { revalidationDays: 7 }, validity: none } }
  aperio: { type: genetec, options: { ${conn} } }
queue: { prefix: ${f.prefix} }
`);
  });

  afterAll(async () => {
    await f.close();
    await fake?.close();
  });

  it('a joiner gets both doors, a mover loses the CLIQ cages and explain says when the key stops opening, a lost card is marked, a leaver is deactivated', async () => {
    // joiner: staff (Aperio offices) and DC Operations (CLIQ cages)
    const user = await scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      externalId: 'E42',
      userName: 'grace@contoso.example',
      active: true,
      name: { givenName: 'Grace', familyName: 'Hopper' },
      displayName: 'Grace Hopper',
    });
    expect(user.status).toBe(201);
    const group = await scim('POST', '/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: 'DC Operations',
      members: [{ value: user.json.id }],
    });
    expect(group.status).toBe(201);
    await eventually(() => rulesOf('E42').join() === [APERIO_RULE, CLIQ_RULE].sort().join(), 'the joiner on the CLIQ and Aperio access rules');
    const ch = cardholderOf('E42')!;
    expect(fake.cardholders.size).toBe(1); // both system blocks link the one cardholder
    expect(ch).toMatchObject({ name: 'Grace Hopper', deactivated: false });

    // the badge desk programs her CLIQ key (a credential the CLIQ plugin imports)
    const key = fake.issueCredential(ch.guid);
    const joined = await eventually(async () => {
      const x = (await api('GET', '/identities/grace@contoso.example/explain')).json as Explain;
      const cliq = x.systems.find((s) => s.system === 'cliq');
      return cliq?.account?.credentials.some((c) => c.id === key.guid) ? x : null;
    }, 'the key in explain');
    const cliq = joined.systems.find((s) => s.system === 'cliq')!;
    expect(cliq.offline).toEqual({ revalidationDays: 7 });
    const keyExpiresAt = Date.parse(cliq.account!.credentials.find((c) => c.id === key.guid)!.keyExpiresAt!);
    expect(keyExpiresAt).toBeGreaterThan(Date.now() + 6 * DAY);
    expect(joined.systems.find((s) => s.system === 'aperio')!.offline).toBeUndefined();

    // mover: out of DC Operations; the CLIQ rule goes, Aperio stays
    const removed = await scim('PATCH', `/Groups/${group.json.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'Remove', path: `members[value eq "${user.json.id}"]` }],
    });
    expect(removed.status).toBe(204);
    await eventually(() => rulesOf('E42').join() === APERIO_RULE, 'the CLIQ rule revoked');
    const moved = await eventually(async () => {
      const x = (await api('GET', '/identities/grace@contoso.example/explain')).json as Explain;
      return x.offlinePending.length > 0 ? x : null;
    }, 'the revocation still on the key');
    const pending = moved.offlinePending.find((p) => p.system === 'cliq' && p.groupRef === CLIQ_RULE)!;
    expect(pending).toMatchObject({ accountId: ch.guid, kind: 'revoke' });
    // the key can open the cages until its next revalidation, at the latest 7 days on
    expect(Date.parse(pending.learnedBy)).toBeGreaterThan(Date.now() + 6 * DAY);
    expect(Date.parse(pending.learnedBy)).toBeLessThanOrEqual(Date.now() + 7 * DAY + 60_000);
    const report = (await api('GET', '/reports/access')).json as { rows: Array<{ system: string; groupRef: string; stillOnKeysUntil: string | null }> };
    expect(report.rows.find((r) => r.system === 'cliq' && r.groupRef === CLIQ_RULE)?.stillOnKeysUntil).toBe(pending.learnedBy);
    expect(report.rows.some((r) => r.system === 'aperio' && r.groupRef === APERIO_RULE)).toBe(true);

    // lost card: marked Lost in Security Center at once
    const lost = await api('POST', `/credentials/aperio/${key.guid}/lost`, { note: 'left in a taxi' });
    expect([200, 202]).toContain(lost.status);
    await eventually(() => fake.credentials.get(key.guid)?.lost === true, 'the credential marked lost');

    // leaver: deactivated, the Aperio rule revoked
    const disabled = await scim('PATCH', `/Users/${user.json.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'Replace', path: 'active', value: false }],
    });
    expect(disabled.status).toBe(200);
    await eventually(() => rulesOf('E42').length === 0 && cardholderOf('E42')?.deactivated === true, 'the leaver deactivated with no access rules');
    const left = (await api('GET', '/identities/grace@contoso.example/explain')).json as Explain;
    expect(left.systems.map((s) => s.account?.state)).toEqual(['suspended', 'suspended']);
  });

  it('an unreachable Security Center makes revocations wait and report overdue, then land when it is back', async () => {
    const user = await scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      externalId: 'E77',
      userName: 'alan@contoso.example',
      active: true,
      displayName: 'Alan Turing',
    });
    expect(user.status).toBe(201);
    await eventually(() => rulesOf('E77').join() === APERIO_RULE, 'the joiner on the Aperio rule');
    await fake.close();
    await scim('PATCH', `/Users/${user.json.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'Replace', path: 'active', value: false }],
    });
    // the revocation is not dropped: it is overdue (and /readyz says so) while the server is down
    const overdue = await eventually(
      async () => {
        const body = (await (await fetch(`${f.url}/readyz`)).json()) as Record<string, unknown>;
        const text = JSON.stringify(body);
        const m = /"overdueRevocations":(\d+)/.exec(text);
        return m && Number(m[1]) > 0 ? text : null;
      },
      'an overdue revocation in /readyz',
      60_000,
    );
    expect(overdue).toMatch(/unavailable|ECONNREFUSED/);
    expect(rulesOf('E77').join()).toBe(APERIO_RULE);
    await fake.restart();
    await eventually(() => rulesOf('E77').length === 0 && cardholderOf('E77')?.deactivated === true, 'the leaver applied once the server is back', 60_000);
    await eventually(
      async () => /"overdueRevocations":0/.test(JSON.stringify(await (await fetch(`${f.url}/readyz`)).json())),
      'no overdue revocation left',
      60_000,
    );
  });
});
