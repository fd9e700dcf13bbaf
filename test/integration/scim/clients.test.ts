/**
 * The clients' own conformance suites, replayed against the SCIM router over a real store
 * (PostgreSQL and PGlite). The cases are written here from the request and response shapes
 * the suites document; nothing is copied from them:
 *
 * - **okta**: Okta's "SCIM 2.0 SPEC test" (the Runscope collection Okta publishes for OIN
 *   submissions: okta/okta-developer-docs, guides/scim-provisioning-integration-prepare and
 *   build-provisioning-integration/test-scim-api): list shape, ServiceProviderConfig, a random
 *   userName that is not there, create, read back, duplicate userName 409, paging, case-
 *   insensitive userName, unknown id 404, deactivate with active false.
 * - **entra**: Microsoft Entra's "Develop and plan provisioning for a SCIM endpoint" request/
 *   response examples (MicrosoftDocs/entra-docs, app-provisioning/use-scim-to-provision-users-
 *   and-groups.md) and what the SCIM Validator (scimvalidator.microsoft.com,
 *   scim-validator-tutorial.md) sends: its placeholder externalIds, the unprefixed `manager`
 *   path with an array value, unquoted filter values (`externalId eq jyoung`, from the older
 *   MicrosoftDocs/azure-docs provisioning article), `attributes=emails[type eq "work"]`,
 *   groups with `excludedAttributes=members`, member add/remove with `$ref: null`.
 * - **rfc**: RFC 7644 points the suites probe (/Me is 501, a bad sortBy is invalidValue).
 *
 * Each case is one `it`, named `[suite] what`. `SCIM_CLIENTS_TABLE=1 npx vitest run
 * test/integration/scim/clients.test.ts` runs them and prints the results table that
 * src/sources/scim/README.md publishes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeKinds } from '../../helpers/db.js';
import { getIdentity } from '../../../src/store/index.js';
import { startScim, type ScimHarness } from './harness.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

const q = (filter: string) => `filter=${encodeURIComponent(filter)}`;
const patch = (...Operations: unknown[]) => ({ schemas: [PATCH], Operations });

const results: Array<{ store: string; name: string; ok: boolean }> = [];

describe.each(storeKinds)('client conformance suites (%s)', (kind) => {
  let h: ScimHarness;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    h = await startScim(kind, { maxResults: 100 });
  });
  afterAll(async () => {
    await h.close();
  });

  /** One case of a suite: its outcome goes into the results table. */
  const check = (name: string, fn: () => Promise<void>) =>
    it(name, async () => {
      try {
        await fn();
        results.push({ store: kind, name, ok: true });
      } catch (e) {
        results.push({ store: kind, name, ok: false });
        throw e;
      }
    });

  // ---- Okta SCIM 2.0 SPEC test ----------------------------------------------------------
  const oktaUser = (userName: string) => ({
    schemas: [USER],
    userName,
    name: { givenName: 'Okta', familyName: 'Runscope' },
    emails: [{ primary: true, value: userName, type: 'work' }],
    displayName: 'Okta Runscope',
    locale: 'en-US',
    externalId: '00ujl29u0le5T6Aj10h7',
    groups: [],
    password: '1mz050nq',
    active: true,
  });

  check('[okta] /Users answers a ListResponse with totalResults, startIndex, itemsPerPage and Resources', async () => {
    const r = await h.req('GET', '/Users?count=1&startIndex=1');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      schemas: [LIST],
      totalResults: expect.any(Number),
      startIndex: 1,
      itemsPerPage: expect.any(Number),
      Resources: expect.any(Array),
    });
  });

  check('[okta] /ServiceProviderConfig names its schema and filter support', async () => {
    const r = await h.req('GET', '/ServiceProviderConfig');
    expect(r.status).toBe(200);
    expect(r.body.schemas).toContain('urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig');
    expect(r.body.filter.supported).toBe(true);
    expect(r.body.patch.supported).toBe(true);
  });

  check('[okta] a random userName is not there: totalResults 0', async () => {
    const r = await h.req('GET', `/Users?${q('userName eq "b6f3c9a0-random@atko.com"')}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ totalResults: 0, Resources: [] });
  });

  check('[okta] creates a user: 201 with id, the userName and active true', async () => {
    const r = await h.req('POST', '/Users', oktaUser('okta.runscope@atko.com'));
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      id: expect.any(String),
      userName: 'okta.runscope@atko.com',
      active: true,
      name: { givenName: 'Okta', familyName: 'Runscope' },
    });
    expect(r.body.password).toBeUndefined();
    ids.okta = r.body.id;
  });

  check('[okta] reads the new user back by id', async () => {
    const r = await h.req('GET', `/Users/${ids.okta}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: ids.okta, userName: 'okta.runscope@atko.com' });
  });

  check('[okta] a second user with the same userName is 409 uniqueness', async () => {
    const r = await h.req('POST', '/Users', oktaUser('okta.runscope@atko.com'));
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ schemas: [ERROR], status: '409', scimType: 'uniqueness' });
  });

  check('[okta] finds the user by userName eq, and in another case (userName is caseExact false)', async () => {
    for (const name of ['okta.runscope@atko.com', 'OKTA.RUNSCOPE@ATKO.COM']) {
      const r = await h.req('GET', `/Users?${q(`userName eq "${name}"`)}&startIndex=1&count=100`);
      expect(r.body).toMatchObject({ totalResults: 1, Resources: [{ id: ids.okta }] });
    }
  });

  check('[okta] pages with startIndex and count', async () => {
    const r = await h.req('GET', '/Users?startIndex=1&count=1');
    expect(r.body).toMatchObject({ startIndex: 1, itemsPerPage: 1 });
    expect(r.body.Resources).toHaveLength(1);
  });

  check('[okta] an unknown id is 404 with an Error body', async () => {
    const r = await h.req('GET', '/Users/010101010101010101010');
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ schemas: [ERROR], status: '404' });
  });

  check('[okta] deactivates with PATCH replace active false', async () => {
    const r = await h.req('PATCH', `/Users/${ids.okta}`, patch({ op: 'replace', value: { active: false } }));
    expect(r.status).toBe(200);
    expect(r.body.active).toBe(false);
  });

  // ---- Microsoft Entra tutorial and SCIM Validator ---------------------------------------
  const entraUser = (userName: string, externalId: string) => ({
    schemas: [USER, ENT],
    externalId,
    userName,
    active: true,
    emails: [{ primary: true, type: 'work', value: `${userName}` }],
    meta: { resourceType: 'User' },
    name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
    roles: [],
  });

  check('[entra] creates a user with the enterprise extension', async () => {
    const r = await h.req('POST', '/Users', entraUser('Test_User_ab6490ee@testuser.com', '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef'));
    expect(r.status).toBe(201);
    ids.entra = r.body.id;
  });

  check('[entra] a second user with an externalId already in use is accepted (RFC 7643 sets no uniqueness on it)', async () => {
    const r = await h.req('POST', '/Users', entraUser('Test_User_second@testuser.com', '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef'));
    expect(r.status).toBe(201);
    expect(r.body.externalId).toBe('0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef');
    ids.entra2 = r.body.id;
    const both = await h.req('GET', `/Users?${q('externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"')}`);
    expect(both.body.totalResults).toBe(2);
    // two people, two identities: never one identity (and so one lock account) for both
    const [a, b] = [await getIdentity(h.store.db, ids.entra), await getIdentity(h.store.db, ids.entra2)];
    expect(a?.id).not.toBe(b?.id);
    expect(b?.externalId).toBe('0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef');
  });

  check('[entra] finds a user by an unquoted externalId (externalId eq jyoung)', async () => {
    const c = await h.req('POST', '/Users', entraUser('jyoung@testuser.com', 'jyoung'));
    expect(c.status).toBe(201);
    ids.jyoung = c.body.id;
    const r = await h.req('GET', `/Users?${q('externalId eq jyoung')}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ totalResults: 1, Resources: [{ id: ids.jyoung }] });
  });

  check('[entra] unquoted sw and timestamp values compare as strings and instants', async () => {
    const sw = await h.req('GET', `/Users?${q('userName sw j')}`);
    expect(sw.status).toBe(200);
    expect(sw.body.Resources.map((u: { id: string }) => u.id)).toEqual([ids.jyoung]);
    const since = await h.req('GET', `/Users?${q('meta.lastModified gt 2011-05-13T04:42:34Z and userName sw j')}`);
    expect(since.status).toBe(200);
    expect(since.body.totalResults).toBe(1);
    const bool = await h.req('GET', `/Users?${q('active eq true and userName sw j')}`);
    expect(bool.body.totalResults).toBe(1);
  });

  check('[entra] gets a user by query: userName eq, and zero results for a non-existent user', async () => {
    const r = await h.req('GET', `/Users?${q('userName eq "Test_User_ab6490ee@testuser.com"')}`);
    expect(r.body).toMatchObject({ totalResults: 1, Resources: [{ id: ids.entra }] });
    const none = await h.req('GET', `/Users?${q('userName eq "non-existent user"')}`);
    expect(none.body).toEqual({ schemas: [LIST], totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });
  });

  check('[entra] projects attributes=emails[type eq "work"] (never an empty resource)', async () => {
    const r = await h.req('GET', `/Users/${ids.entra}?attributes=${encodeURIComponent('emails[type eq "work"]')}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: ids.entra, emails: [{ type: 'work', value: 'Test_User_ab6490ee@testuser.com', primary: true }] });
    const sub = await h.req(
      'GET',
      `/Users?${q('userName eq "Test_User_ab6490ee@testuser.com"')}&attributes=${encodeURIComponent('emails[type eq "work"].value,userName')}`,
    );
    expect(sub.body.Resources[0]).toEqual({
      schemas: [USER],
      id: ids.entra,
      userName: 'Test_User_ab6490ee@testuser.com',
      emails: [{ value: 'Test_User_ab6490ee@testuser.com' }],
    });
    const bad = await h.req('GET', `/Users/${ids.entra}?attributes=${encodeURIComponent('emails[type eq]')}`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ schemas: [ERROR], status: '400', scimType: 'invalidValue', detail: expect.stringContaining('attributes') });
  });

  check('[entra] updates multi-valued and single-valued attributes with PATCH replace', async () => {
    const r = await h.req(
      'PATCH',
      `/Users/${ids.entra}`,
      patch(
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@microsoft.com' },
        { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
        { op: 'Replace', path: 'userName', value: 'Test_User_updated@testuser.com' },
      ),
    );
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      userName: 'Test_User_updated@testuser.com',
      name: { familyName: 'updatedFamilyName', givenName: 'givenName' },
      emails: [{ value: 'updatedEmail@microsoft.com', type: 'work' }],
    });
  });

  check('[entra] adds a manager with "path": "manager" and an array value (no extension URN)', async () => {
    const r = await h.req('PATCH', `/Users/${ids.entra}`, patch({ op: 'Add', path: 'manager', value: [{ $ref: null, value: ids.jyoung }] }));
    expect(r.status).toBe(200);
    expect(r.body[ENT]).toMatchObject({ manager: { value: ids.jyoung } });
    expect((await getIdentity(h.store.db, ids.entra))?.manager).toBe(ids.jyoung);
    const dept = await h.req('PATCH', `/Users/${ids.entra}`, patch({ op: 'replace', path: 'department', value: 'Facilities' }));
    expect(dept.body[ENT]).toMatchObject({ department: 'Facilities' });
    const unknown = await h.req('PATCH', `/Users/${ids.entra}`, patch({ op: 'replace', path: 'shoeSize', value: 44 }));
    expect(unknown.body).toMatchObject({ status: '400', scimType: 'invalidPath', detail: expect.stringContaining('shoeSize') });
  });

  check('[entra] disables a user with active "False" and deletes it (204, then 404)', async () => {
    const off = await h.req('PATCH', `/Users/${ids.entra2}`, patch({ op: 'Replace', path: 'active', value: 'False' }));
    expect(off.status).toBe(200);
    expect(off.body.active).toBe(false);
    expect((await h.req('DELETE', `/Users/${ids.entra2}`)).status).toBe(204);
    expect((await h.req('GET', `/Users/${ids.entra2}`)).status).toBe(404);
  });

  check('[entra] creates a group, finds it by displayName with excludedAttributes=members, renames it', async () => {
    const c = await h.req('POST', '/Groups', {
      schemas: [GROUP],
      externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159',
      displayName: 'displayName',
      meta: { resourceType: 'Group' },
    });
    expect(c.status).toBe(201);
    ids.group = c.body.id;
    const byName = await h.req('GET', `/Groups?${q('displayName eq "displayName"')}&excludedAttributes=members`);
    expect(byName.body).toMatchObject({ totalResults: 1, Resources: [{ id: ids.group, displayName: 'displayName' }] });
    expect(byName.body.Resources[0].members).toBeUndefined();
    const renamed = await h.req('PATCH', `/Groups/${ids.group}`, patch({ op: 'Replace', path: 'displayName', value: '1879db59updatedDisplayName' }));
    expect(renamed.status).toBe(204);
  });

  check('[entra] adds and removes group members with $ref null', async () => {
    const add = await h.req('PATCH', `/Groups/${ids.group}`, patch({ op: 'Add', path: 'members', value: [{ $ref: null, value: ids.jyoung }] }));
    expect(add.status).toBe(204);
    expect((await h.req('GET', `/Groups/${ids.group}`)).body.members).toEqual([expect.objectContaining({ value: ids.jyoung })]);
    const remove = await h.req('PATCH', `/Groups/${ids.group}`, patch({ op: 'Remove', path: 'members', value: [{ $ref: null, value: ids.jyoung }] }));
    expect(remove.status).toBe(204);
    expect((await h.req('GET', `/Groups/${ids.group}`)).body.members).toBeUndefined();
    expect((await h.req('DELETE', `/Groups/${ids.group}`)).status).toBe(204);
  });

  check('[entra] AppRoleAssignmentsComplex re-sync: DELETE, then the re-create carries only the current roles, on the same identity', async () => {
    const role = (value: string) => ({ primary: false, type: 'WindowsAzureActiveDirectoryRole', display: value, value });
    const c = await h.req('POST', '/Users', { ...entraUser('roles@testuser.com', 'roles-0001'), roles: [role('Technician')] });
    expect(c.status).toBe(201);
    // Entra only ever adds roles
    const add = await h.req('PATCH', `/Users/${c.body.id}`, patch({ op: 'Add', path: 'roles', value: [role('Supervisor')] }));
    expect(add.body.roles.map((r: { value: string }) => r.value)).toEqual(['Technician', 'Supervisor']);
    const identity = (await getIdentity(h.store.db, c.body.id))!;
    // Supervisor is taken away in Entra: nothing is sent. The documented re-sync: DELETE, then provision on demand
    expect((await h.req('DELETE', `/Users/${c.body.id}`)).status).toBe(204);
    expect((await getIdentity(h.store.db, identity.id))?.deletedAt).not.toBeNull();
    const again = await h.req('POST', '/Users', { ...entraUser('roles@testuser.com', 'roles-0001'), roles: [role('Technician')] });
    expect(again.status).toBe(201);
    const back = await getIdentity(h.store.db, identity.id);
    expect(back).toMatchObject({ deletedAt: null, active: true });
    expect(back?.roles.map((r) => r.value)).toEqual(['Technician']);
  });

  check('[entra] SingleAppRoleAssignment: a replace of roles[primary eq "True"].value changes the role', async () => {
    const c = await h.req('POST', '/Users', {
      ...entraUser('single@testuser.com', 'single-0001'),
      roles: [{ primary: true, type: 'WindowsAzureActiveDirectoryRole', value: 'Technician' }],
    });
    expect(c.status).toBe(201);
    const r = await h.req('PATCH', `/Users/${c.body.id}`, patch({ op: 'Replace', path: 'roles[primary eq "True"].value', value: 'Visitor' }));
    expect(r.status).toBe(200);
    expect(r.body.roles).toEqual([expect.objectContaining({ primary: true, value: 'Visitor' })]);
    expect((await getIdentity(h.store.db, c.body.id))?.roles.map((x) => x.value)).toEqual(['Visitor']);
  });

  // ---- RFC 7644 points the suites probe ---------------------------------------------------
  check('[rfc] /Me is 501 Not Implemented (RFC 7644 §3.11)', async () => {
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const r = await h.req(method, '/Me', method === 'PATCH' ? patch({ op: 'replace', path: 'title', value: 'x' }) : undefined);
      expect(r.status).toBe(501);
      expect(r.body).toMatchObject({ schemas: [ERROR], status: '501', detail: expect.stringContaining('/Me') });
    }
  });

  check('[rfc] a sortBy that names no attribute is 400 invalidValue naming sortBy', async () => {
    const r = await h.req('GET', '/Users?sortBy=shoeSize');
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ schemas: [ERROR], status: '400', scimType: 'invalidValue', detail: expect.stringContaining('sortBy') });
  });
});

afterAll(() => {
  if (process.env.SCIM_CLIENTS_TABLE !== '1') return;
  const names = [...new Set(results.map((r) => r.name))];
  const cell = (store: string, name: string) => {
    const r = results.find((x) => x.store === store && x.name === name);
    return r === undefined ? 'not run' : r.ok ? 'pass' : 'FAIL';
  };
  const lines = ['| suite | case | PostgreSQL | PGlite |', '|---|---|---|---|'];
  for (const n of names) {
    const m = /^\[(\w+)\] (.*)$/.exec(n);
    lines.push(`| ${m?.[1] ?? ''} | ${(m?.[2] ?? n).replace(/\|/g, '\\|')} | ${cell('postgres', n)} | ${cell('pglite', n)} |`);
  }
  process.stdout.write(`\n${lines.join('\n')}\n`);
});
