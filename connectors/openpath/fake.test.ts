import { afterEach, describe, expect, it } from 'vitest';
import { startFakeOpenpath, type FakeOpenpath } from './fake/index.js';

/** The fake itself, over loopback HTTP: what it refuses and how, as the Openpath API does. */

let fake: FakeOpenpath | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const call = async (method: string, path: string, body?: unknown, token = fake!.token) => {
  const res = await fetch(`${fake!.url}${path}`, {
    method,
    headers: { authorization: token, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
};

describe('fake Openpath API', () => {
  it('answers 401 without the JWT and 403 for another org, with Boom bodies', async () => {
    fake = await startFakeOpenpath({ orgId: 7 });
    expect(await call('GET', '/orgs/7/groups', undefined, 'Bearer nope')).toMatchObject({ status: 401, body: { statusCode: 401, error: 'Unauthorized' } });
    expect(await call('GET', '/orgs/8/groups')).toMatchObject({ status: 403, body: { statusCode: 403, error: 'Forbidden' } });
    expect(await call('GET', '/orgs/7/groups')).toMatchObject({ status: 200, body: { totalCount: 3, filteredCount: 3 } });
  });

  it('creates users in the envelope with 201, and refuses what Joi would', async () => {
    fake = await startFakeOpenpath({ orgId: 7 });
    const created = await call('POST', '/orgs/7/users', { identity: { email: 'a@example.com', lastName: 'A' }, externalId: 'X1' });
    expect(created).toMatchObject({ status: 201, body: { data: { status: 'A', externalId: 'X1', identity: { email: 'a@example.com', lastName: 'A' } } } });
    expect((await call('POST', '/orgs/7/users', { identity: { lastName: 'B' } })).status).toBe(400);
    expect((await call('POST', '/orgs/7/users', { identity: { email: 'b@example.com' }, nickname: 'x' })).body).toMatchObject({
      statusCode: 400,
      message: '"nickname" is not allowed',
    });
    expect((await call('POST', '/orgs/7/users', { identity: { email: 'c@example.com', lastName: 'L'.repeat(101) } })).status).toBe(400);
    expect((await call('POST', '/orgs/7/users', { identity: { email: 'a@example.com' } })).status).toBe(409);
    expect((await call('GET', '/orgs/7/users?limit=1001')).status).toBe(400);
    expect((await call('GET', '/orgs/7/users?bogus=1')).status).toBe(400);
    expect((await call('GET', '/orgs/7/users/999')).status).toBe(404);
  });

  it('filters by containment, pages by offset, and answers writes with 204', async () => {
    fake = await startFakeOpenpath({ orgId: 7 });
    const a = fake.addUser({ externalId: 'E1', email: 'e1@example.com' });
    fake.addUser({ externalId: 'E10', email: 'e10@example.com' });
    fake.addUser({ externalId: null, email: 'n@example.com' });
    const hits = await call('GET', '/orgs/7/users?filter=externalId%3A%28E1%29&sort=id');
    expect((hits.body!.data as Array<{ externalId: string }>).map((u) => u.externalId)).toEqual(['E1', 'E10']);
    expect(hits.body).toMatchObject({ totalCount: 3, filteredCount: 2 });
    const none = await call('GET', '/orgs/7/users?filter=externalId%3A%28null%29');
    expect(none.body!.filteredCount).toBe(1);
    const page = await call('GET', '/orgs/7/users?limit=2&offset=2&sort=id');
    expect(page.body).toMatchObject({ cursors: { hasNextPage: false } });
    expect(page.body!.data).toHaveLength(1);
    expect(await call('PATCH', `/orgs/7/users/${a.id}/groupIds`, { add: [101, 102] })).toEqual({ status: 204, body: undefined });
    expect((await call('PATCH', `/orgs/7/users/${a.id}/groupIds`, { add: [101, 101] })).status).toBe(400);
    expect((await call('PATCH', `/orgs/7/users/${a.id}/groupIds`, { add: [999] })).status).toBe(404);
    expect(await call('PUT', `/orgs/7/users/${a.id}/status`, { status: 'S' })).toEqual({ status: 204, body: undefined });
    expect((await call('PUT', `/orgs/7/users/${a.id}/status`, { status: 'X' })).status).toBe(400);
    expect(fake.users.get(a.id)).toMatchObject({ status: 'S', groupIds: new Set([101, 102]) });
  });

  it('answers the events report for a time window, paged by nextCursor', async () => {
    fake = await startFakeOpenpath({ orgId: 7 });
    const u = fake.addUser({});
    const t = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 3; i++) fake.recordAccess({ userId: u.id, at: new Date((t - 10 + i) * 1000) });
    fake.recordAccess({ userId: u.id, at: new Date((t - 100) * 1000) });
    const filter = encodeURIComponent(`uiData.time:(${t - 20}-<${t})`);
    const p1 = await call('GET', `/orgs/7/reports/activity/events?limit=2&filter=${filter}`);
    expect(p1.body).toMatchObject({ totalCount: 3, cursors: { hasNextPage: true, nextCursor: '2' } });
    const p2 = await call('GET', `/orgs/7/reports/activity/events?limit=2&filter=${filter}&cursor=2`);
    expect(p2.body).toMatchObject({ cursors: { hasNextPage: false, nextCursor: null } });
    expect(p2.body!.data).toHaveLength(1);
    expect((await call('GET', '/orgs/7/reports/activity/events?filter=uiData.userId%3A%281%29')).status).toBe(400);
  });
});
