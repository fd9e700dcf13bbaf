/**
 * /Groups over a real express 5 app and a real store: Entra's group operations (create, get
 * without members, get by displayName, rename, add and remove members in both the default and
 * the aadOptscim062020 shape, delete), and what membership changes do to identities.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeKinds } from '../../helpers/db.js';
import { getIdentity, iterateAudit } from '../../../src/store/index.js';
import { startScim, type ScimHarness } from './harness.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

const patch = (...Operations: unknown[]) => ({ schemas: [PATCH], Operations });
const q = (filter: string) => `filter=${encodeURIComponent(filter)}`;

describe.each(storeKinds)('SCIM /Groups on %s', (kind) => {
  let h: ScimHarness;
  const users: Record<string, string> = {};

  beforeAll(async () => {
    h = await startScim(kind);
    for (const name of ['ann', 'bob', 'cid', 'dee']) {
      const r = await h.req('POST', '/Users', { schemas: [USER], userName: `${name}@example.com`, displayName: name.toUpperCase(), externalId: `ext-${name}` });
      expect(r.status).toBe(201);
      users[name] = r.body.id;
    }
  });
  afterAll(async () => {
    await h?.close();
  });

  const groupsOf = async (name: string) => (await getIdentity(h.store.db, users[name]))?.groups;
  const since = () => {
    const n = h.calls.length;
    return () => h.calls.slice(n);
  };

  let gid = '';

  it('creates a group as Entra sends it (extra ADSCIM schema, no members): 201 with Location and ETag', async () => {
    const r = await h.req('POST', '/Groups', {
      schemas: [GROUP, 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'],
      externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159',
      displayName: 'DC Operations',
      meta: { resourceType: 'Group' },
    });
    expect(r.status).toBe(201);
    gid = r.body.id;
    expect(r.headers.get('location')).toBe(`${h.base}/Groups/${gid}`);
    expect(r.headers.get('etag')).toBe('W/"1"');
    expect(r.body).toMatchObject({
      schemas: [GROUP],
      externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159',
      displayName: 'DC Operations',
      meta: { resourceType: 'Group', version: 'W/"1"' },
    });
  });

  it('refuses a second group with the same displayName in another case (409 uniqueness)', async () => {
    const r = await h.req('POST', '/Groups', { schemas: [GROUP], displayName: 'dc operations' });
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ schemas: [ERROR], status: '409', scimType: 'uniqueness' });
  });

  it('adds members (Entra "Add Members", $ref null): 204, and each member identity gets the group, at once', async () => {
    const calls = since();
    const r = await h.req(
      'PATCH',
      `/Groups/${gid}`,
      patch({
        op: 'Add',
        path: 'members',
        value: [
          { $ref: null, value: users.ann },
          { $ref: null, value: users.bob },
        ],
      }),
    );
    expect(r.status).toBe(204);
    expect(r.body).toBeUndefined();
    expect(await groupsOf('ann')).toEqual(['DC Operations']);
    expect(await groupsOf('bob')).toEqual(['DC Operations']);
    expect(await groupsOf('cid')).toEqual([]);
    expect(calls()).toEqual([{ ids: [users.ann, users.bob].sort(), leaver: false }]);
    const ann = await h.req('GET', `/Users/${users.ann}`);
    expect(ann.body.groups).toEqual([{ value: gid, $ref: `${h.base}/Groups/${gid}`, display: 'DC Operations', type: 'direct' }]);
    // adding a member twice changes nothing
    const again = since();
    expect((await h.req('PATCH', `/Groups/${gid}`, patch({ op: 'add', path: 'members', value: [{ value: users.ann }] }))).status).toBe(204);
    expect(again()).toEqual([]);
  });

  it('keeps every member when several PATCHes add members at the same time', async () => {
    const g = await h.req('POST', '/Groups', { schemas: [GROUP], displayName: 'Concurrent' });
    const adds = await Promise.all(
      ['ann', 'bob', 'cid', 'dee'].map((n) => h.req('PATCH', `/Groups/${g.body.id}`, patch({ op: 'add', path: 'members', value: [{ value: users[n] }] }))),
    );
    expect(adds.map((r) => r.status)).toEqual([204, 204, 204, 204]);
    const after = await h.req('GET', `/Groups/${g.body.id}`);
    expect(after.body.members).toHaveLength(4);
    expect(after.body.meta.version).toBe('W/"5"');
    expect((await h.req('DELETE', `/Groups/${g.body.id}`)).status).toBe(204);
    for (const n of ['ann', 'bob', 'cid', 'dee']) expect(await groupsOf(n)).not.toContain('Concurrent');
  });

  it('gets the group with and without members, and finds it by displayName and by member', async () => {
    const full = await h.req('GET', `/Groups/${gid}`);
    expect(full.body.members.map((m: any) => m.value).sort()).toEqual([users.ann, users.bob].sort());
    expect(full.body.members.find((m: any) => m.value === users.ann)).toEqual({
      value: users.ann,
      $ref: `${h.base}/Users/${users.ann}`,
      display: 'ANN',
      type: 'User',
    });
    const slim = await h.req('GET', `/Groups/${gid}?excludedAttributes=members`);
    expect(slim.body.members).toBeUndefined();
    expect(slim.body.displayName).toBe('DC Operations');
    const byName = await h.req('GET', `/Groups?excludedAttributes=members&${q('displayName eq "dc OPERATIONS"')}`);
    expect(byName.body.totalResults).toBe(1);
    expect(byName.body.Resources[0].members).toBeUndefined();
    const byMember = await h.req('GET', `/Groups?${q(`id eq "${gid}" and members[value eq "${users.bob}"]`)}&excludedAttributes=members`);
    expect(byMember.body.totalResults).toBe(1);
    const notMember = await h.req('GET', `/Groups?${q(`members.value eq "${users.cid}"`)}`);
    expect(notMember.body.totalResults).toBe(0);
    const jsPath = await h.req('GET', `/Groups?${q('members[display eq "bob"]')}`);
    expect(jsPath.body.totalResults).toBe(1);
  });

  it('renames the group (204): every member identity is re-upserted with the new name and reconciled', async () => {
    const calls = since();
    const r = await h.req('PATCH', `/Groups/${gid}`, patch({ op: 'Replace', path: 'displayName', value: 'DC Operations EU' }));
    expect(r.status).toBe(204);
    expect(await groupsOf('ann')).toEqual(['DC Operations EU']);
    expect(await groupsOf('bob')).toEqual(['DC Operations EU']);
    expect(calls()).toEqual([{ ids: [users.ann, users.bob].sort(), leaver: false }]);
    const audit: string[] = [];
    for await (const e of iterateAudit(h.store.db, { subject: `scim-group:${gid}` })) audit.push(e.action);
    expect(audit).toEqual(['scim.group.created', 'scim.group.patched', 'scim.group.patched']);
  });

  it('removes a member the Entra default way (value list) and the aadOptscim062020 way (members[value eq])', async () => {
    await h.req('PATCH', `/Groups/${gid}`, patch({ op: 'add', path: 'members', value: [{ value: users.cid }] }));
    const legacy = since();
    const r1 = await h.req('PATCH', `/Groups/${gid}`, patch({ op: 'Remove', path: 'members', value: [{ $ref: null, value: users.ann }] }));
    expect(r1.status).toBe(204);
    expect(await groupsOf('ann')).toEqual([]);
    expect(legacy()).toEqual([{ ids: [users.ann], leaver: false }]);
    const compliant = since();
    const r2 = await h.req('PATCH', `/Groups/${gid}`, patch({ op: 'remove', path: `members[value eq "${users.cid}"]` }));
    expect(r2.status).toBe(204);
    expect(await groupsOf('cid')).toEqual([]);
    expect(compliant()).toEqual([{ ids: [users.cid], leaver: false }]);
    expect((await h.req('GET', `/Groups/${gid}`)).body.members.map((m: any) => m.value)).toEqual([users.bob]);
  });

  it('applies member operations in order: ones that cancel out, or add a member already in, change nothing', async () => {
    const before = await h.req('GET', `/Groups/${gid}`);
    const calls = since();
    const r = await h.req(
      'PATCH',
      `/Groups/${gid}`,
      patch(
        { op: 'add', path: 'members', value: [{ value: users.dee }] },
        { op: 'remove', path: `members[value eq "${users.dee}"]` },
        { op: 'add', path: 'members', value: [{ value: users.bob.toUpperCase() }] },
      ),
    );
    expect(r.status).toBe(204);
    const after = await h.req('GET', `/Groups/${gid}`);
    expect(after.body).toEqual(before.body);
    expect(after.headers.get('etag')).toBe(before.headers.get('etag'));
    expect(calls()).toEqual([]);
    // the same ids in another order leave dee in: a change, a new version, dee reconciled
    const r2 = await h.req(
      'PATCH',
      `/Groups/${gid}`,
      patch({ op: 'remove', path: 'members', value: [{ value: users.dee }] }, { op: 'add', path: 'members', value: [{ value: users.dee }] }),
    );
    expect(r2.status).toBe(204);
    expect((await h.req('GET', `/Groups/${gid}`)).body.members.map((m: any) => m.value).sort()).toEqual([users.bob, users.dee].sort());
    expect(calls()).toEqual([{ ids: [users.dee], leaver: false }]);
    await h.req('PATCH', `/Groups/${gid}`, patch({ op: 'remove', path: `members[value eq "${users.dee}"]` }));
    expect(await groupsOf('dee')).toEqual([]);
  });

  it('answers a group PATCH with the group when attributes are asked for', async () => {
    const r = await h.req('PATCH', `/Groups/${gid}?attributes=displayName`, patch({ op: 'replace', path: 'externalId', value: 'obj-1' }));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ schemas: [GROUP], id: gid, displayName: 'DC Operations EU' });
  });

  it('refuses an unknown member, a nested group and an unknown path without changing anything', async () => {
    const before = await h.req('GET', `/Groups/${gid}`);
    const calls = since();
    const attempts: Array<[unknown, string]> = [
      [patch({ op: 'add', path: 'members', value: [{ value: users.dee }, { value: '7f4bc1a3-285e-48ae-8202-5accb43efb0e' }] }), 'invalidValue'],
      [patch({ op: 'add', path: 'members', value: [{ value: 'not-a-user' }] }), 'invalidValue'],
      [patch({ op: 'add', path: 'members', value: [{ value: gid, type: 'Group' }] }), 'invalidValue'],
      [patch({ op: 'replace', path: 'displayName', value: 'x' }, { op: 'replace', path: 'owner', value: 'x' }), 'invalidPath'],
    ];
    for (const [b, scimType] of attempts) {
      const r = await h.req('PATCH', `/Groups/${gid}`, b);
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ schemas: [ERROR], status: '400', scimType });
    }
    expect((await h.req('GET', `/Groups/${gid}`)).body).toEqual(before.body);
    expect(await groupsOf('dee')).toEqual([]);
    expect(calls()).toEqual([]);
  });

  it('creates a group with members (Okta group push) and replaces its members with PUT', async () => {
    const calls = since();
    const r = await h.req('POST', '/Groups', {
      schemas: [GROUP],
      displayName: 'Security',
      members: [{ value: users.cid, display: 'ignored' }, { value: users.dee }],
    });
    expect(r.status).toBe(201);
    expect(r.body.members.map((m: any) => m.value).sort()).toEqual([users.cid, users.dee].sort());
    expect(await groupsOf('dee')).toEqual(['Security']);
    expect(calls()).toEqual([{ ids: [users.cid, users.dee].sort(), leaver: false }]);
    const put = await h.req('PUT', `/Groups/${r.body.id}`, {
      schemas: [GROUP],
      displayName: 'Security',
      members: [{ value: users.dee }, { value: users.bob }],
    });
    expect(put.status).toBe(200);
    expect(await groupsOf('cid')).toEqual([]);
    expect(await groupsOf('bob')).toEqual(['DC Operations EU', 'Security']);
    expect(await groupsOf('dee')).toEqual(['Security']);
  });

  it('drops a deleted user from its groups and gives those groups a new version', async () => {
    const g = await h.req('GET', `/Groups?${q('displayName eq "Security"')}`);
    const sec = g.body.Resources[0];
    expect((await h.req('DELETE', `/Users/${users.dee}`)).status).toBe(204);
    const after = await h.req('GET', `/Groups/${sec.id}`);
    expect(after.body.members.map((m: any) => m.value)).toEqual([users.bob]);
    expect(after.body.meta.version).not.toBe(sec.meta.version);
  });

  it('deletes a group: 204, 404 afterwards, and its members lose it', async () => {
    const calls = since();
    expect((await h.req('DELETE', `/Groups/${gid}`)).status).toBe(204);
    expect((await h.req('GET', `/Groups/${gid}`)).status).toBe(404);
    expect(await groupsOf('bob')).toEqual(['Security']);
    expect(calls()).toEqual([{ ids: [users.bob], leaver: false }]);
    const list = await h.req('GET', '/Groups');
    expect(list.body.Resources.map((x: any) => x.displayName)).toEqual(['Security']);
  });
});
