import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../connectors/simulator/index.js';
import { ServiceFixture, eventually } from '../helpers/serve.js';
import { startOidcProvider, type RunningOidcProvider } from '../helpers/oidc-provider.js';

/**
 * `lockstep serve` with OIDC sign-in configured in lockstep.yaml: a person signs in through the
 * local provider, the admin API answers by their roles, and the HR pull one person asks for,
 * held by the revocation budget, cannot be approved by them but can by another approver.
 */

const ADMIN_TOKEN = 'admin-token-auth-serve-0123456789';
const CI_TOKEN = 'ci-token-auth-serve-0123456789ab';
const N = 8;
const LEAVERS = 6;

function hrCsv(active: (i: number) => boolean): string {
  const rows = ['employeeId,userName,displayName,employeeType,active'];
  for (let i = 0; i < N; i++) rows.push(`H${i},hr${i},HR Person ${i},Employee,${active(i)}`);
  return rows.join('\n') + '\n';
}

describe('lockstep serve: OIDC sign-in, roles and four-eyes', () => {
  const f = new ServiceFixture({ admin: ADMIN_TOKEN });
  let sim: RunningSimulator;
  let idp: RunningOidcProvider;
  const holding = () =>
    Array.from({ length: N }, (_, i) => `H${i}`).filter((e) => sim.state.findByExternalId(e)?.memberships.some((m) => m.group === 'AG-PERIM'));

  const request = async (method: string, path: string, o: { cookie?: string; token?: string; body?: unknown } = {}) => {
    const res = await fetch(`${f.url}${path}`, {
      method,
      redirect: 'manual',
      headers: {
        ...(o.cookie ? { cookie: o.cookie, 'x-requested-with': 'lockstep' } : {}),
        ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
        ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  };

  /** /auth/login → provider → /auth/callback, as a browser follows it; the session cookie. */
  const signIn = async (sub: string) => {
    const login = await fetch(`${f.url}/auth/login?returnTo=/ui/&login_hint=${sub}`, { redirect: 'manual' });
    const loginCookie = login.headers
      .getSetCookie()
      .find((c) => c.startsWith('lockstep_login='))!
      .split(';')[0];
    const back = await fetch(login.headers.get('location')!, { redirect: 'manual' });
    const cb = await fetch(back.headers.get('location')!, { redirect: 'manual', headers: { cookie: loginCookie } });
    expect(cb.status).toBe(302);
    expect(cb.headers.get('location')).toBe('/ui/');
    return cb.headers
      .getSetCookie()
      .find((c) => c.startsWith('lockstep_session='))!
      .split(';')[0];
  };

  beforeAll(async () => {
    await f.open();
    idp = await startOidcProvider({
      users: [
        { sub: 'alice', name: 'Alice Approver', email: 'alice@example.com', roles: ['Lockstep.Approver'] },
        { sub: 'olga', name: 'Olga Operator', email: 'olga@example.com', roles: ['Lockstep.Operator', 'Lockstep.Approver'] },
        { sub: 'vic', name: 'Vic Viewer', email: 'vic@example.com', roles: ['Lockstep.Viewer'] },
      ],
    });
    sim = await startSimulator({ groups: [{ id: 'AG-PERIM', name: 'Perimeter', doors: [] }] });
    await f.file(
      'hr.csv',
      hrCsv(() => true),
    );
    await f.file(
      'mappings.yaml',
      `version: 1
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
rules:
  - { id: staff, when: 'active eq true', grant: [perimeter] }
lifecycle: { leaver: revoke, guard: { maxRevocationsPercent: 100, maxRevocationsAbsolute: 2, minRevocationsToHold: 3, windowMinutes: 60 } }
`,
    );
    process.env.LOCKSTEP_TEST_CI_TOKEN = CI_TOKEN;
    await f.start(`mappings: [./mappings.yaml]
systems:
  dc1: { type: simulator, options: { url: "${sim.url}", maxAttempts: 2 } }
sources:
  hr: { type: file, path: ./hr.csv, format: csv, full: true, columns: { employeeId: externalId } }
auth:
  session: { secret: "a-session-secret-for-the-serve-test-0123456789" }
  oidc:
    issuer: "${idp.issuer}"
    clientId: "${idp.clientId}"
    clientSecret: "${idp.clientSecret}"
  tokens:
    - { name: ci, tokenEnv: LOCKSTEP_TEST_CI_TOKEN, roles: [operator] }
queue: { prefix: ${f.prefix} }
`);
    await eventually(() => holding().length === N, 'everyone’s perimeter access');
  }, 60_000);

  afterAll(async () => {
    delete process.env.LOCKSTEP_TEST_CI_TOKEN;
    await f.close();
    await sim?.close();
    await idp?.close();
  });

  it('signs a person in, and answers the admin API by their roles (the default role map: Lockstep.Viewer …)', async () => {
    const vic = await signIn('vic');
    expect((await request('GET', '/auth/me', { cookie: vic })).json).toMatchObject({ subject: 'vic', roles: ['viewer'], via: 'oidc' });
    expect((await request('GET', '/api/v1/runs', { cookie: vic })).status).toBe(200);
    const refused = await request('POST', '/api/v1/sources/hr/sync', { cookie: vic });
    expect(refused.status).toBe(403);
    expect(refused.json.error.message).toMatch(/needs the operator role/);
    expect((await request('GET', '/auth/me', { token: CI_TOKEN })).json).toMatchObject({ subject: 'token:ci', roles: ['operator'] });
    expect((await request('GET', '/auth/me', { token: await idp.accessToken('alice') })).json).toMatchObject({ subject: 'alice', roles: ['approver'] });
  });

  it('holds the HR pull Olga asked for whole, as the batch is over the budget; Olga cannot approve it, Alice can', async () => {
    const olga = await signIn('olga');
    const alice = await signIn('alice');
    await f.file(
      'hr.csv',
      hrCsv((i) => i >= LEAVERS),
    );
    const sync = await request('POST', '/api/v1/sources/hr/sync', { cookie: olga });
    expect(sync.status, JSON.stringify(sync.json)).toBe(200);
    const held = await eventually(async () => {
      const list = await request('GET', '/api/v1/runs?limit=200', { cookie: alice });
      const r = (list.json.runs as Array<{ id: string; status: string }>).find((x) => x.status === 'held');
      if (!r) return null;
      const run = await request('GET', `/api/v1/runs/${r.id}`, { cookie: alice });
      return run.json.summary?.heldPeople === LEAVERS ? run.json : null;
    }, 'a held run with the six leavers of the export');
    expect(held.causedBy).toContain('oidc:Olga Operator (olga)');
    // the export is judged as one batch: nobody lost access before the approval
    expect(sync.json.heldRun).toMatchObject({ runId: held.id, people: LEAVERS });
    expect(holding()).toHaveLength(N);
    const before = await request('GET', '/api/v1/audit?limit=10000', { token: ADMIN_TOKEN });
    expect((before.json.entries as Array<{ action: string }>).filter((x) => x.action === 'revoke')).toEqual([]);

    const own = await request('POST', `/api/v1/runs/${held.id}/approve`, { cookie: olga });
    expect(own.status).toBe(403);
    expect(own.json.error.message).toMatch(/^four-eyes: oidc:Olga Operator \(olga\) started or caused run/);
    const approved = await request('POST', `/api/v1/runs/${held.id}/approve`, { cookie: alice });
    expect(approved.status, JSON.stringify(approved.json)).toBe(200);
    await eventually(() => holding().length === N - LEAVERS, 'the approved revocations');
    // the revocations carry the approver's name
    const log = await request('GET', '/api/v1/audit?limit=10000', { token: ADMIN_TOKEN });
    const revokedBy = new Set((log.json.entries as Array<{ action: string; actor: string }>).filter((x) => x.action === 'revoke').map((x) => x.actor));
    expect([...revokedBy]).toEqual(['oidc:Alice Approver (alice)']);
    const audit = await request('GET', `/api/v1/audit?subject=${held.id}`, { token: ADMIN_TOKEN });
    expect(audit.json.entries.find((x: any) => x.action === 'run.approved').actor).toBe('oidc:Alice Approver (alice)');
  });
});
