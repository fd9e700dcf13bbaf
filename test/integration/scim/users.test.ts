/**
 * /Users over a real express 5 app and a real store (PostgreSQL and PGlite), replaying the
 * requests of Microsoft's "Develop and plan provisioning for a SCIM endpoint" tutorial and
 * its "Known issues ... SCIM 2.0 protocol compliance" page (default and aadOptscim062020
 * behaviour), Okta's SCIM 2.0 spec test expectations, and RFC 7644.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { storeKinds } from '../../helpers/db.js';
import { countIdentities, getIdentity, iterateAudit } from '../../../src/store/index.js';
import { compileFilter, matches } from '../../../src/sources/scim/filter.js';
import { userResourceType } from '../../../src/sources/scim/schemas.js';
import { SCIM, startScim, TOKEN, type ScimHarness } from './harness.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ROTATED = 'rotated-token-fedcba9876543210';
const MAX = 10;

const patch = (...Operations: unknown[]) => ({ schemas: [PATCH], Operations });
const q = (filter: string) => `filter=${encodeURIComponent(filter)}`;

/** A JWKS endpoint on 127.0.0.1:0 and tokens signed by its key. */
async function startIssuer() {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const server: Server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/keys`;
  const sign = (aud: string, key: CryptoKey = privateKey) =>
    new SignJWT({ appid: 'provisioning' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://sts.example.test/tenant/')
      .setAudience(aud)
      .setSubject('entra-provisioning')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key);
  return { url, sign, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe.each(storeKinds)('SCIM /Users on %s', (kind) => {
  let h: ScimHarness;
  let issuer: Awaited<ReturnType<typeof startIssuer>>;

  beforeAll(async () => {
    issuer = await startIssuer();
    h = await startScim(
      kind,
      {
        maxResults: MAX,
        maxBodyBytes: 64 * 1024,
        jwt: { issuer: 'https://sts.example.test/tenant/', audience: 'lockstep-scim', jwksUri: issuer.url, clockToleranceSeconds: 5 },
      },
      { SCIM_TOKEN: ` ${ROTATED} ,` },
    );
  });
  afterAll(async () => {
    await h?.close();
    await issuer?.close();
  });

  const lastCall = () => h.calls.at(-1);
  const auditActions = async (subject: string) => {
    const out: string[] = [];
    for await (const e of iterateAudit(h.store.db, { subject })) out.push(e.action);
    return out;
  };
  /** Every match of a filter, page by page. */
  const listAll = async (filter?: string, extra = '') => {
    const ids: string[] = [];
    const resources: any[] = [];
    for (let start = 1; ; start += MAX) {
      const r = await h.req('GET', `/Users?${filter ? `${q(filter)}&` : ''}startIndex=${start}&count=${MAX}${extra}`);
      expect(r.status).toBe(200);
      resources.push(...r.body.Resources);
      ids.push(...r.body.Resources.map((x: any) => x.id));
      if (start + MAX > r.body.totalResults) return { ids, resources, total: r.body.totalResults as number };
    }
  };

  // ---- Microsoft Entra: "Develop and plan provisioning for a SCIM endpoint", user operations

  let entraId = '';
  const entraUser = {
    schemas: [USER, ENT],
    externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
    userName: 'Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1',
    active: true,
    emails: [{ primary: true, type: 'work', value: 'Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com' }],
    meta: { resourceType: 'User' },
    name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
    roles: [],
  };

  it('creates a user as Entra sends it: 201, Location, ETag, application/scim+json, and the identity in the same write', async () => {
    const before = h.calls.length;
    const r = await h.req('POST', '/Users', entraUser);
    expect(r.status).toBe(201);
    expect(r.headers.get('content-type')).toMatch(/^application\/scim\+json/);
    entraId = r.body.id;
    expect(entraId).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers.get('location')).toBe(`${h.base}/Users/${entraId}`);
    expect(r.headers.get('etag')).toBe('W/"1"');
    expect(r.body).toMatchObject({
      schemas: [USER],
      externalId: entraUser.externalId,
      userName: entraUser.userName,
      active: true,
      name: entraUser.name,
      emails: entraUser.emails,
      meta: { resourceType: 'User', version: 'W/"1"', location: `${h.base}/Users/${entraId}` },
    });
    expect(r.body.meta.created).toBe(r.body.meta.lastModified);
    expect(r.body.roles).toBeUndefined();
    expect(h.calls.slice(before)).toEqual([{ ids: [entraId], leaver: false }]);
    const identity = await getIdentity(h.store.db, entraId);
    expect(identity).toMatchObject({
      source: 'scim',
      externalId: entraUser.externalId,
      userName: entraUser.userName,
      active: true,
      email: entraUser.emails[0].value,
      displayName: 'givenName familyName',
    });
    expect(await auditActions(entraId)).toEqual(['scim.user.created']);
  });

  it('gets the user by id; an unknown id is 404 with an RFC 7644 error body', async () => {
    const r = await h.req('GET', `/Users/${entraId}`);
    expect(r.status).toBe(200);
    expect(r.body.userName).toBe(entraUser.userName);
    for (const id of ['5171a35d-8207-4e06-8ce2-000000000000', '00919288221112222']) {
      const nf = await h.req('GET', `/Users/${id}`);
      expect(nf.status).toBe(404);
      expect(nf.headers.get('content-type')).toMatch(/^application\/scim\+json/);
      expect(nf.body).toEqual({ schemas: [ERROR], status: '404', detail: expect.any(String) });
    }
  });

  it('finds the user by userName in any case and by externalId; no match is an empty ListResponse', async () => {
    const byName = await h.req('GET', `/Users?${q(`userName eq "${entraUser.userName.toUpperCase()}"`)}`);
    expect(byName.status).toBe(200);
    expect(byName.body).toMatchObject({ schemas: [LIST], totalResults: 1, startIndex: 1, itemsPerPage: 1 });
    expect(byName.body.Resources[0].id).toBe(entraId);
    const byExt = await h.req('GET', `/Users?${q(`externalId eq "${entraUser.externalId}"`)}`);
    expect(byExt.body.Resources.map((x: any) => x.id)).toEqual([entraId]);
    const byEmail = await h.req('GET', `/Users?${q(`emails[type eq "work"].value eq "${entraUser.emails[0].value}"`)}`);
    expect(byEmail.body.totalResults).toBe(1);
    const none = await h.req('GET', `/Users?${q('userName eq "non-existent user"')}`);
    expect(none.body).toEqual({ schemas: [LIST], totalResults: 0, itemsPerPage: 0, startIndex: 1, Resources: [] });
  });

  it('applies the multi-valued and single-valued updates, with op names as Entra capitalises them', async () => {
    const multi = await h.req(
      'PATCH',
      `/Users/${entraId}`,
      patch(
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@microsoft.com' },
        { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
      ),
    );
    expect(multi.status).toBe(200);
    expect(multi.body.emails).toEqual([{ primary: true, type: 'work', value: 'updatedEmail@microsoft.com' }]);
    expect(multi.body.name).toEqual({ formatted: 'givenName familyName', familyName: 'updatedFamilyName', givenName: 'givenName' });
    expect(multi.headers.get('etag')).toBe('W/"2"');
    const single = await h.req(
      'PATCH',
      `/Users/${entraId}`,
      patch({ op: 'Replace', path: 'userName', value: '5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com' }),
    );
    expect(single.status).toBe(200);
    expect(single.body.userName).toBe('5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com');
    const identity = await getIdentity(h.store.db, entraId);
    expect(identity).toMatchObject({ userName: '5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com', email: 'updatedEmail@microsoft.com' });
    expect(lastCall()).toEqual({ ids: [entraId], leaver: false });
  });

  it('disables with "value": "False" (Entra default) and false (aadOptscim062020): a leaver at once', async () => {
    const off = await h.req('PATCH', `/Users/${entraId}`, patch({ op: 'Replace', path: 'active', value: 'False' }));
    expect(off.status).toBe(200);
    expect(off.body.active).toBe(false);
    expect(lastCall()).toEqual({ ids: [entraId], leaver: true });
    expect((await getIdentity(h.store.db, entraId))?.active).toBe(false);
    await h.req('PATCH', `/Users/${entraId}`, patch({ op: 'replace', value: { active: true } }));
    expect(lastCall()).toEqual({ ids: [entraId], leaver: false });
    const off2 = await h.req('PATCH', `/Users/${entraId}`, patch({ op: 'replace', path: 'active', value: false }));
    expect(off2.body.active).toBe(false);
    expect(lastCall()).toEqual({ ids: [entraId], leaver: true });
    // re-enabled for what follows
    await h.req('PATCH', `/Users/${entraId}`, patch({ op: 'Replace', path: 'active', value: 'True' }));
  });

  it('applies the known-issues examples: single-value Add, many Replaces, and the no-path multi-attribute replace', async () => {
    const add = await h.req('PATCH', `/Users/${entraId}`, patch({ op: 'Add', path: 'nickName', value: 'Babs' }));
    expect(add.body.nickName).toBe('Babs');
    const legacy = await h.req(
      'PATCH',
      `/Users/${entraId}`,
      patch(
        { op: 'Replace', path: 'displayName', value: 'Pvlo' },
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'TestBcwqnm@test.microsoft.com' },
        { op: 'Replace', path: 'name.givenName', value: 'Gtfd' },
        { op: 'Replace', path: 'name.familyName', value: 'Pkqf' },
        { op: 'Replace', path: `${ENT}:employeeNumber`, value: 'Eqpj' },
      ),
    );
    expect(legacy.status).toBe(200);
    expect(legacy.body).toMatchObject({ displayName: 'Pvlo', name: { givenName: 'Gtfd', familyName: 'Pkqf' }, [ENT]: { employeeNumber: 'Eqpj' } });
    expect(legacy.body.schemas).toEqual([USER, ENT]);
    const compliant = await h.req(
      'PATCH',
      `/Users/${entraId}`,
      patch(
        { op: 'replace', path: 'emails[type eq "work"].value', value: 'TestMhvaes@test.microsoft.com' },
        {
          op: 'replace',
          value: { displayName: 'Bjfe', 'name.givenName': 'Kkom', 'name.familyName': 'Unua', [`${ENT}:employeeNumber`]: 'Aklq', [`${ENT}:manager`]: 'boss-1' },
        },
      ),
    );
    expect(compliant.body).toMatchObject({
      displayName: 'Bjfe',
      emails: [{ value: 'TestMhvaes@test.microsoft.com', type: 'work', primary: true }],
      name: { givenName: 'Kkom', familyName: 'Unua', formatted: 'givenName familyName' },
      [ENT]: { employeeNumber: 'Aklq', manager: { value: 'boss-1' } },
    });
    const identity = await getIdentity(h.store.db, entraId);
    expect(identity).toMatchObject({
      displayName: 'Bjfe',
      manager: 'boss-1',
      email: 'TestMhvaes@test.microsoft.com',
      attributes: { employeeNumber: 'Aklq', givenName: 'Kkom' },
    });
  });

  it('an empty Operations list changes nothing and does not trigger reconciliation', async () => {
    const before = await h.req('GET', `/Users/${entraId}`);
    const calls = h.calls.length;
    const r = await h.req('PATCH', `/Users/${entraId}`, patch());
    expect(r.status).toBe(200);
    expect(r.headers.get('etag')).toBe(before.headers.get('etag'));
    expect(h.calls.length).toBe(calls);
  });

  it('deletes: 204, 404 from then on, the identity kept as a deleted leaver with its audit trail', async () => {
    const del = await h.req('DELETE', `/Users/${entraId}`);
    expect(del.status).toBe(204);
    expect(del.body).toBeUndefined();
    expect(lastCall()).toEqual({ ids: [entraId], leaver: true });
    expect((await h.req('GET', `/Users/${entraId}`)).status).toBe(404);
    expect((await h.req('DELETE', `/Users/${entraId}`)).status).toBe(404);
    expect((await h.req('PATCH', `/Users/${entraId}`, patch({ op: 'replace', path: 'title', value: 'x' }))).status).toBe(404);
    expect((await h.req('GET', `/Users?${q(`externalId eq "${entraUser.externalId}"`)}`)).body.totalResults).toBe(0);
    const identity = await getIdentity(h.store.db, entraId);
    expect(identity?.deletedAt).not.toBeNull();
    expect(identity?.active).toBe(false);
    const actions = await auditActions(entraId);
    expect(actions[0]).toBe('scim.user.created');
    expect(actions.at(-1)).toBe('scim.user.deleted');
    expect(actions.filter((a) => a === 'scim.user.patched').length).toBeGreaterThanOrEqual(5);
  });

  it('creates a new SCIM user when a deleted userName comes back; the same externalId restores the same identity', async () => {
    const again = await h.req('POST', '/Users', { ...entraUser, userName: '5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com' });
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(entraId);
    expect(lastCall()).toEqual({ ids: [entraId], leaver: false });
    const identity = await getIdentity(h.store.db, entraId);
    expect(identity?.deletedAt).toBeNull();
    expect(identity?.attributes).toMatchObject({ scimId: again.body.id });
  });

  // ---- Okta SCIM 2.0 spec test expectations

  it('pages with startIndex/count, caps count at maxResults, and count=0 answers totalResults only', async () => {
    for (let i = 1; i <= MAX + 2; i++) {
      const r = await h.req('POST', '/Users', {
        schemas: [USER],
        userName: `okta-${String(i).padStart(2, '0')}@example.com`,
        name: { givenName: `Given${i}`, familyName: `Family${i}` },
        emails: [{ primary: true, value: `okta-${i}@example.com`, type: 'work' }],
        displayName: `Given${i} Family${i}`,
        active: true,
      });
      expect(r.status).toBe(201);
    }
    const filter = q('userName sw "okta-"');
    const p1 = await h.req('GET', `/Users?${filter}&startIndex=1&count=5`);
    expect(p1.body).toMatchObject({ totalResults: MAX + 2, itemsPerPage: 5, startIndex: 1 });
    const p2 = await h.req('GET', `/Users?${filter}&startIndex=6&count=5`);
    const p3 = await h.req('GET', `/Users?${filter}&startIndex=11&count=5`);
    expect(p3.body.itemsPerPage).toBe(2);
    const seen = [...p1.body.Resources, ...p2.body.Resources, ...p3.body.Resources].map((r: any) => r.userName);
    expect(new Set(seen).size).toBe(MAX + 2);
    const capped = await h.req('GET', `/Users?${filter}&count=1000`);
    expect(capped.body.itemsPerPage).toBe(MAX);
    const countOnly = await h.req('GET', `/Users?${filter}&count=0`);
    expect(countOnly.body).toEqual({ schemas: [LIST], totalResults: MAX + 2, itemsPerPage: 0, startIndex: 1, Resources: [] });
    const unfiltered = await h.req('GET', '/Users?count=1&startIndex=1');
    expect(unfiltered.body.Resources[0]).toMatchObject({ id: expect.any(String), userName: expect.any(String), active: expect.any(Boolean) });
    expect((await h.req('GET', `/Users?${filter}&startIndex=x`)).body).toMatchObject({ status: '400', scimType: 'invalidValue' });
  });

  it('refuses a duplicate userName, in another case, with 409 uniqueness and writes nothing', async () => {
    const identities = await countIdentities(h.store.db, { includeDeleted: true });
    const calls = h.calls.length;
    const r = await h.req('POST', '/Users', { schemas: [USER], userName: 'OKTA-01@EXAMPLE.COM', name: { givenName: 'x', familyName: 'y' } });
    expect(r.status).toBe(409);
    expect(r.body).toEqual({ schemas: [ERROR], status: '409', scimType: 'uniqueness', detail: expect.stringContaining('userName') });
    expect(await countIdentities(h.store.db, { includeDeleted: true })).toBe(identities);
    expect(h.calls.length).toBe(calls);
  });

  it('accepts a create whose externalId a live user holds (RFC 7643 sets no uniqueness on it): a second identity, the holder as they were', async () => {
    const first = await h.req('POST', '/Users', { schemas: [USER], userName: 'holder@example.com', externalId: 'ext-held-1', displayName: 'Holder' });
    expect(first.status).toBe(201);
    const identitiesBefore = await countIdentities(h.store.db, { includeDeleted: true });
    const holderBefore = await getIdentity(h.store.db, first.body.id);
    const calls = h.calls.length;
    const r = await h.req('POST', '/Users', { schemas: [USER], userName: 'intruder@example.com', externalId: 'ext-held-1', displayName: 'Intruder' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ userName: 'intruder@example.com', externalId: 'ext-held-1' });
    // its own identity with the same key (the reconciler then sees a correlation conflict), never the holder's
    expect(await countIdentities(h.store.db, { includeDeleted: true })).toBe(identitiesBefore + 1);
    expect(await getIdentity(h.store.db, first.body.id)).toEqual(holderBefore);
    expect(await getIdentity(h.store.db, r.body.id)).toMatchObject({ externalId: 'ext-held-1', userName: 'intruder@example.com' });
    // both are queued: the holder's access is contested from now on
    expect(h.calls.slice(calls).map((c) => [...c.ids].sort())).toEqual([[first.body.id, r.body.id].sort()]);
    expect(await auditActions(first.body.id)).toEqual(['scim.user.created']);
    // a PATCH onto a key another user holds is accepted the same way
    const moved = await h.req('PATCH', `/Users/${r.body.id}`, patch({ op: 'replace', path: 'externalId', value: 'ext-held-2' }));
    expect(moved.status).toBe(200);
    const back = await h.req('PATCH', `/Users/${r.body.id}`, patch({ op: 'replace', path: 'externalId', value: 'ext-held-1' }));
    expect(back.status).toBe(200);
    await h.req('DELETE', `/Users/${r.body.id}`);
    await h.req('DELETE', `/Users/${first.body.id}`);
  });

  it('answers 401 with an Error body to a missing or wrong token; SCIM_TOKEN and OAuth JWTs are accepted', async () => {
    const url = `${h.base}/Users?${q('userName eq "x"')}`;
    for (const authorization of ['non-token', 'Bearer wrong-token-0123456789abcdef', `Basic ${Buffer.from('a:b').toString('base64')}`, undefined]) {
      const r = await fetch(url, { headers: authorization ? { authorization, accept: SCIM } : { accept: SCIM } });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await r.json()).toEqual({ schemas: [ERROR], status: '401', detail: expect.any(String) });
    }
    expect((await fetch(url, { headers: { authorization: `Bearer ${ROTATED}` } })).status).toBe(200);
    expect((await fetch(url, { headers: { authorization: `bearer ${TOKEN}` } })).status).toBe(200);
    expect((await fetch(url, { headers: { authorization: `Bearer ${await issuer.sign('lockstep-scim')}` } })).status).toBe(200);
    expect((await fetch(url, { headers: { authorization: `Bearer ${await issuer.sign('someone-else')}` } })).status).toBe(401);
    const { privateKey: stranger } = await generateKeyPair('ES256');
    expect((await fetch(url, { headers: { authorization: `Bearer ${await issuer.sign('lockstep-scim', stranger)}` } })).status).toBe(401);
  });

  it('lets exactly one of several concurrent creates of one userName win; the rest get 409', async () => {
    const body = { schemas: [USER], userName: 'race@example.com' };
    const results = await Promise.all(Array.from({ length: 5 }, () => h.req('POST', '/Users', body)));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409]);
    expect((await h.req('GET', `/Users?${q('userName eq "race@example.com"')}`)).body.totalResults).toBe(1);
    await h.req('DELETE', `/Users/${results.find((r) => r.status === 201)!.body.id}`);
  });

  // ---- RFC 7644

  it('answers every filter operator the same whether SQL or the JS evaluator decides it', async () => {
    const made: Record<string, string> = {};
    const people = [
      {
        userName: 'RFC-A@example.com',
        externalId: 'rfc-ext-1',
        title: 'Engineer',
        active: true,
        emails: [{ value: 'a@example.org', type: 'work' }],
        [ENT]: { department: 'DC Operations' },
      },
      {
        userName: 'rfc-b@example.com',
        externalId: 'RFC-EXT-2',
        active: false,
        emails: [
          { value: 'b@example.net', type: 'work' },
          { value: 'b@example.org', type: 'home' },
        ],
      },
      { userName: 'rfc-c@example.org', title: 'Guard', emails: [{ value: 'c@example.org', type: 'work' }], [ENT]: { department: 'Security' } },
      { userName: 'rfc-d_%@example.com', externalId: 'rfc-ext-4', title: '' },
    ];
    for (const p of people) {
      const r = await h.req('POST', '/Users', { schemas: [USER, ENT], ...p });
      expect(r.status).toBe(201);
      made[p.userName] = r.body.id;
    }
    const since = (await h.req('GET', `/Users/${made['rfc-b@example.com']}`)).body.meta.created;
    const filters = [
      'userName eq "rfc-a@EXAMPLE.com"',
      'userName ne "rfc-a@example.com" and userName sw "rfc"',
      'userName co "C@EXAMPLE"',
      'userName sw "RFC-"',
      'userName ew "@example.org"',
      'userName co "_%"',
      'userName gt "rfc-b" and userName lt "rfc-z"',
      'userName ge "rfc-b@example.com" and userName le "rfc-c@example.org"',
      'externalId eq "RFC-EXT-2"',
      'externalId eq "rfc-ext-2"',
      'externalId sw "rfc" or externalId sw "RFC"',
      'externalId pr and userName sw "rfc"',
      'not (externalId pr) and userName sw "rfc"',
      'active eq false',
      'active eq "True" and userName sw "rfc"',
      `meta.created ge "${since}"`,
      `meta.lastModified lt "${since}"`,
      `id eq "${made['rfc-c@example.org']}"`,
      'title pr',
      'title eq "engineer" or userName eq "rfc-c@example.org"',
      'userName sw "rfc" and not (title eq "Engineer")',
      'emails[type eq "work" and value ew "example.org"]',
      'emails[type eq "work"].value eq "b@example.org"',
      'emails co "EXAMPLE.NET"',
      `${ENT}:department eq "dc operations"`,
      `not (${ENT}:department pr) and userName sw "rfc"`,
    ];
    const all = await listAll();
    for (const f of filters) {
      const compiled = compileFilter(userResourceType, f);
      const expected = all.resources
        .filter((r) => matches(r, compiled.root))
        .map((r) => r.id)
        .sort();
      const got = (await listAll(f)).ids.sort();
      expect(got, f).toEqual(expected);
    }
    // spot checks that the expectations themselves are right
    expect((await listAll('userName eq "rfc-a@EXAMPLE.com"')).ids).toEqual([made['RFC-A@example.com']]);
    expect((await listAll('externalId eq "rfc-ext-2"')).ids).toEqual([]);
    expect((await listAll('emails[type eq "work"].value eq "b@example.org"')).ids).toEqual([]);
    expect((await h.req('GET', `/Users?${q('shoeSize eq "42"')}`)).body).toMatchObject({ status: '400', scimType: 'invalidFilter' });
    expect((await h.req('GET', `/Users?${q('userName eq')}`)).body).toMatchObject({ status: '400', scimType: 'invalidFilter' });
  });

  it('sorts by sortBy and sortOrder, unassigned values last', async () => {
    const desc = await h.req('GET', `/Users?${q('userName sw "rfc-"')}&sortBy=userName&sortOrder=descending`);
    expect(desc.body.Resources.map((r: any) => r.userName)).toEqual(['rfc-d_%@example.com', 'rfc-c@example.org', 'rfc-b@example.com', 'RFC-A@example.com']);
    const byTitle = await h.req('GET', `/Users?${q('userName sw "rfc-"')}&sortBy=title`);
    expect(byTitle.body.Resources.map((r: any) => r.title ?? null)).toEqual(['', 'Engineer', 'Guard', null]);
  });

  it('returns only the attributes asked for, or all but the excluded ones', async () => {
    const r = await h.req('GET', `/Users?${q('userName eq "rfc-c@example.org"')}&attributes=userName,emails.value`);
    expect(r.body.Resources[0]).toEqual({ schemas: [USER], id: expect.any(String), userName: 'rfc-c@example.org', emails: [{ value: 'c@example.org' }] });
    const one = await h.req('GET', `/Users/${r.body.Resources[0].id}?excludedAttributes=emails,meta,${ENT}`);
    expect(one.body.emails).toBeUndefined();
    expect(one.body.meta).toBeUndefined();
    expect(one.body[ENT]).toBeUndefined();
    expect(one.body.schemas).toEqual([USER]);
    expect(one.body.title).toBe('Guard');
  });

  it('uses meta.version as the ETag: If-None-Match gives 304, a stale If-Match 412 and changes nothing', async () => {
    const { body } = await h.req('GET', `/Users?${q('userName eq "rfc-c@example.org"')}`);
    const id = body.Resources[0].id;
    const cur = await h.req('GET', `/Users/${id}`);
    const etag = cur.headers.get('etag')!;
    expect(etag).toBe(cur.body.meta.version);
    const notModified = await h.req('GET', `/Users/${id}`, undefined, { 'if-none-match': etag });
    expect(notModified.status).toBe(304);
    const stale = await h.req('PATCH', `/Users/${id}`, patch({ op: 'replace', path: 'title', value: 'Chief' }), { 'if-match': 'W/"999"' });
    expect(stale.status).toBe(412);
    expect(stale.body).toMatchObject({ schemas: [ERROR], status: '412' });
    expect((await h.req('DELETE', `/Users/${id}`, undefined, { 'if-match': 'W/"999"' })).status).toBe(412);
    expect((await h.req('GET', `/Users/${id}`)).body.title).toBe('Guard');
    const ok = await h.req('PATCH', `/Users/${id}`, patch({ op: 'replace', path: 'title', value: 'Chief' }), { 'if-match': etag });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('etag')).not.toBe(etag);
    expect((await h.req('GET', `/Users/${id}`, undefined, { 'if-none-match': etag })).status).toBe(200);
  });

  it('replaces with PUT: attributes not sent are gone, read-only ones in the body are ignored', async () => {
    const { body } = await h.req('GET', `/Users?${q('userName eq "rfc-a@example.com"')}`);
    const cur = body.Resources[0];
    const put = await h.req('PUT', `/Users/${cur.id}`, {
      schemas: [USER],
      id: 'ignored',
      userName: cur.userName,
      externalId: cur.externalId,
      meta: { version: 'W/"1"' },
      displayName: 'Ada',
    });
    expect(put.status).toBe(200);
    expect(put.body.id).toBe(cur.id);
    expect(put.body.title).toBeUndefined();
    expect(put.body[ENT]).toBeUndefined();
    expect(put.body.displayName).toBe('Ada');
    const identity = await getIdentity(h.store.db, cur.id);
    expect(identity?.department).toBeUndefined();
    expect(identity?.displayName).toBe('Ada');
  });

  it('a request that fails validation leaves the user, the identity, the audit log and reconciliation untouched', async () => {
    const { body } = await h.req('GET', `/Users?${q('userName eq "rfc-b@example.com"')}`);
    const id = body.Resources[0].id;
    const before = await h.req('GET', `/Users/${id}`);
    const identity = await getIdentity(h.store.db, id);
    const audit = (await auditActions(id)).length;
    const calls = h.calls.length;
    const attempts: Array<[unknown, number, string]> = [
      [patch({ op: 'replace', path: 'title', value: 'changed' }, { op: 'replace', path: 'shoeSize', value: 44 }), 400, 'invalidPath'],
      [patch({ op: 'replace', path: 'title', value: 'changed' }, { op: 'replace', path: 'id', value: 'x' }), 400, 'mutability'],
      [patch({ op: 'replace', path: 'title', value: 'changed' }, { op: 'remove' }), 400, 'noTarget'],
      [patch({ op: 'replace', path: 'userName', value: 'OKTA-02@example.com' }), 409, 'uniqueness'],
      [patch({ op: 'replace', value: { 'urn:ietf:params:scim:schemas:extension:lockstep:2.0:User:hireDate': 'soon' } }), 400, 'invalidValue'],
    ];
    for (const [b, status, scimType] of attempts) {
      const r = await h.req('PATCH', `/Users/${id}`, b);
      expect(r.status, JSON.stringify(b)).toBe(status);
      expect(r.body).toMatchObject({ schemas: [ERROR], status: String(status), scimType });
    }
    const put = await h.req('PUT', `/Users/${id}`, { schemas: [USER], userName: 'okta-03@example.com' });
    expect(put.status).toBe(409);
    expect((await h.req('GET', `/Users/${id}`)).body).toEqual(before.body);
    expect(await getIdentity(h.store.db, id)).toEqual(identity);
    expect((await auditActions(id)).length).toBe(audit);
    expect(h.calls.length).toBe(calls);
  });

  it('a new externalId is a new correlation key: the old identity leaves, a new one joins', async () => {
    const { body } = await h.req('GET', `/Users?${q('userName eq "rfc-d_%@example.com"')}`);
    const id = body.Resources[0].id;
    const r = await h.req('PATCH', `/Users/${id}`, patch({ op: 'replace', path: 'externalId', value: 'rfc-ext-4b' }));
    expect(r.status).toBe(200);
    const [leave, join] = h.calls.slice(-2);
    expect(leave).toEqual({ ids: [id], leaver: true });
    expect(join.leaver).toBe(false);
    expect(join.ids[0]).not.toBe(id);
    expect((await getIdentity(h.store.db, id))?.deletedAt).not.toBeNull();
    expect(await getIdentity(h.store.db, join.ids[0])).toMatchObject({ externalId: 'rfc-ext-4b', userName: 'rfc-d_%@example.com', deletedAt: null });
  });

  it('rejects malformed JSON, oversize bodies and other media types; accepts application/json and answers scim+json', async () => {
    const bad = await h.req('POST', '/Users', '{"schemas": [');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ schemas: [ERROR], status: '400', scimType: 'invalidSyntax' });
    const big = await h.req('POST', '/Users', { schemas: [USER], userName: 'big', displayName: 'x'.repeat(70 * 1024) });
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ schemas: [ERROR], status: '413' });
    const xml = await h.req('POST', '/Users', '<user/>', { 'content-type': 'application/xml' });
    expect(xml.status).toBe(415);
    expect(xml.body.schemas).toEqual([ERROR]);
    const plain = await h.req('POST', '/Users', { schemas: [USER], userName: 'json@example.com' }, { 'content-type': 'application/json; charset=utf-8' });
    expect(plain.status).toBe(201);
    expect(plain.headers.get('content-type')).toMatch(/^application\/scim\+json/);
    const noSchemas = await h.req('POST', '/Users', { userName: 'x' });
    expect(noSchemas.body).toMatchObject({ status: '400', scimType: 'invalidSyntax' });
    // malformed parameters are not a media type (issue 21): refused, nothing stored
    for (const type of [
      'application/json;;',
      'application/json; charset',
      'application/json;=utf-8',
      'application/scim+json; charset="utf-8',
      'application/json/x',
    ]) {
      const r = await h.req('POST', '/Users', { schemas: [USER], userName: `mt-${type.length}@example.com` }, { 'content-type': type });
      expect(r.status, type).toBe(415);
      expect(r.body.detail, type).toMatch(/not a well-formed media type/);
    }
    const quoted = await h.req(
      'POST',
      '/Users',
      { schemas: [USER], userName: 'quoted@example.com' },
      { 'content-type': 'application/scim+json; charset="utf-8"' },
    );
    expect(quoted.status).toBe(201);
  });

  it('supports POST /Users/.search', async () => {
    const r = await h.req('POST', '/Users/.search', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'],
      filter: 'userName sw "okta-0"',
      attributes: ['userName'],
      startIndex: 1,
      count: 3,
      sortBy: 'userName',
    });
    expect(r.status).toBe(200);
    expect(r.body.totalResults).toBe(9);
    expect(r.body.Resources).toEqual([
      { schemas: [USER], id: expect.any(String), userName: 'okta-01@example.com' },
      { schemas: [USER], id: expect.any(String), userName: 'okta-02@example.com' },
      { schemas: [USER], id: expect.any(String), userName: 'okta-03@example.com' },
    ]);
  });

  it('describes exactly what it supports at /ServiceProviderConfig, /ResourceTypes and /Schemas', async () => {
    const spc = await h.req('GET', '/ServiceProviderConfig');
    expect(spc.body).toMatchObject({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
      patch: { supported: true },
      bulk: { supported: false },
      filter: { supported: true, maxResults: MAX },
      changePassword: { supported: false },
      sort: { supported: true },
      etag: { supported: true },
      authenticationSchemes: [expect.objectContaining({ type: 'oauthbearertoken' })],
    });
    const rts = await h.req('GET', '/ResourceTypes');
    expect(rts.body.Resources.map((r: any) => [r.name, r.endpoint, r.schema])).toEqual([
      ['User', '/Users', USER],
      ['Group', '/Groups', 'urn:ietf:params:scim:schemas:core:2.0:Group'],
    ]);
    expect(rts.body.Resources[0].schemaExtensions.map((e: any) => e.schema)).toEqual([ENT, 'urn:ietf:params:scim:schemas:extension:lockstep:2.0:User']);
    const schemas = await h.req('GET', '/Schemas');
    expect(schemas.body.totalResults).toBe(4);
    const ent = await h.req('GET', `/Schemas/${ENT}`);
    expect(ent.body.attributes.map((a: any) => a.name)).toEqual(['employeeNumber', 'costCenter', 'organization', 'division', 'department', 'manager']);
    const ls = await h.req('GET', '/Schemas/urn:ietf:params:scim:schemas:extension:lockstep:2.0:User');
    expect(ls.body.attributes.map((a: any) => a.name)).toEqual(['employeeType', 'hireDate', 'leaveDate', 'contractEnd', 'sponsor', 'site']);
    expect((await h.req('POST', '/Bulk', { schemas: [] })).status).toBe(501);
    const unknown = await h.req('GET', '/Nope');
    expect(unknown.status).toBe(404);
    expect(unknown.body.schemas).toEqual([ERROR]);
  });
});
