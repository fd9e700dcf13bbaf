import { afterEach, describe, expect, it } from 'vitest';
import { MEDIA_TYPE } from './assumptions.js';
import { startFakeKeyless, type FakeKeyless } from './fake/index.js';

/** The fake itself, over loopback HTTP: what it asks of a client and how it refuses, as assumptions.ts describes the API. */

let fake: FakeKeyless | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

interface Answer {
  status: number;
  type: string | null;
  retryAfter: string | null;
  body: Record<string, unknown> | undefined;
}

const call = async (
  method: string,
  path: string,
  o: { body?: unknown; token?: string | null; apiKey?: string | null; accept?: string; contentType?: string } = {},
): Promise<Answer> => {
  const headers: Record<string, string> = { accept: o.accept ?? MEDIA_TYPE };
  const apiKey = o.apiKey === undefined ? fake!.apiKey : o.apiKey;
  if (apiKey !== null) headers['x-api-key'] = apiKey;
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.body !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
  const res = await fetch(`${fake!.url}/${path}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    retryAfter: res.headers.get('retry-after'),
    body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
  };
};

const login = async (): Promise<string> => {
  const r = await call('POST', 'login', { body: { userId: fake!.admin.userId, accessKey: fake!.admin.accessKey } });
  expect(r.status).toBe(200);
  return r.body!.token as string;
};

describe('fake Keyless Administration API', () => {
  it('asks for the API key on every request (403), the media type (406) and a token from login (401)', async () => {
    fake = await startFakeKeyless();
    expect(await call('POST', 'login', { body: { userId: fake.admin.userId, accessKey: fake.admin.accessKey }, apiKey: 'wrong' })).toMatchObject({
      status: 403,
      body: { status: 403, error: 'Forbidden' },
    });
    expect((await call('POST', 'login', { body: { userId: fake.admin.userId, accessKey: 'wrong' } })).status).toBe(401);
    const token = await login();
    expect(token.split('.')).toHaveLength(3);
    expect((await call('GET', 'user', { token, apiKey: null })).status).toBe(403);
    expect((await call('GET', 'user', { token, accept: 'application/json' })).status).toBe(406);
    expect((await call('GET', 'user')).status).toBe(401);
    const ok = await call('GET', 'user', { token });
    expect(ok).toMatchObject({ status: 200, type: MEDIA_TYPE });
    fake.expireTokens();
    expect(await call('GET', 'user', { token })).toMatchObject({ status: 401, body: { message: 'invalid token' } });
  });

  it('invites users with 201, permits a user on a locking device, lists by user-id, and deletes with 204', async () => {
    fake = await startFakeKeyless();
    const token = await login();
    const invited = await call('POST', 'user', { token, body: { role: 'USER', externalId: 'X1', name: 'Xena' } });
    expect(invited).toMatchObject({ status: 201, body: { role: 'USER', externalId: 'X1', name: 'Xena' } });
    expect(typeof invited.body!.accessKey).toBe('string');
    const userId = invited.body!.id as string;
    expect((await call('POST', 'user', { token, body: { role: 'GUEST' } })).status).toBe(400);
    const perm = {
      userId,
      lockingDeviceId: 'ld-yard',
      operationType: 'OPEN',
      permissionType: 'SINGLE_INTERVAL',
      start: '2026-01-01T00:00:00Z',
      end: '2027-01-01T00:00:00Z',
    };
    const created = await call('POST', 'permission', { token, body: perm });
    expect(created.status).toBe(201);
    expect(Object.keys(created.body!)).toEqual(['id']);
    expect((await call('GET', `permission/${created.body!.id}`, { token })).body).toMatchObject({ ...perm, operatingKeyValidityDuration: 'P8D' });
    expect((await call('POST', 'permission', { token, body: { ...perm, lockingDeviceId: 'nope' } })).status).toBe(404);
    expect((await call('POST', 'permission', { token, body: { ...perm, permissionType: 'ALWAYS' } })).status).toBe(400);
    expect((await call('POST', 'permission', { token, body: { ...perm, start: perm.end } })).status).toBe(400);
    expect((await call('POST', 'permission', { token, body: { ...perm, operatingKeyValidityDuration: 'eight days' } })).status).toBe(400);
    expect((await call('POST', 'permission', { token, body: perm, contentType: 'text/plain' })).status).toBe(415);
    const mine = await call('GET', `permission?user-id=${userId}`, { token });
    expect((mine.body!.items as unknown[]).length).toBe(1);
    expect((await call('DELETE', `permission/${created.body!.id}`, { token })).status).toBe(204);
    expect((await call('DELETE', `permission/${created.body!.id}`, { token })).status).toBe(204);
    expect((await call('GET', `permission/${created.body!.id}`, { token })).status).toBe(404);
    expect((await call('DELETE', `user/${userId}`, { token })).status).toBe(204);
    expect((await call('GET', `user/${userId}`, { token })).status).toBe(404);
  });

  it('pages lists with pageSize and an opaque pageToken until there is no nextPageToken', async () => {
    fake = await startFakeKeyless();
    const token = await login();
    fake.seedUsers(5);
    const p1 = await call('GET', 'user?pageSize=4', { token });
    expect((p1.body!.items as unknown[]).length).toBe(4);
    const next = p1.body!.nextPageToken as string;
    const p2 = await call('GET', `user?pageSize=4&pageToken=${next}`, { token });
    expect((p2.body!.items as unknown[]).length).toBe(2); // 5 seeded and the administrator
    expect(p2.body!.nextPageToken).toBeUndefined();
    expect((await call('GET', 'user?pageToken=garbage', { token })).status).toBe(400);
    expect((await call('GET', 'user?pageSize=5000', { token })).status).toBe(400);
    expect((await call('GET', 'user?filter=x', { token })).status).toBe(400);
  });

  it('answers injected faults with Retry-After, and a rate limit per API key with 429', async () => {
    fake = await startFakeKeyless();
    const token = await login();
    fake.failNext(503, { times: 2, retryAfterSeconds: 3 });
    expect(await call('GET', 'locking-device', { token })).toMatchObject({ status: 503, retryAfter: '3' });
    expect((await call('GET', 'locking-device', { token })).status).toBe(503);
    expect((await call('GET', 'locking-device', { token })).status).toBe(200);
    fake.rateLimit(2, 60_000, 7);
    expect((await call('GET', 'locking-device', { token })).status).toBe(200);
    expect((await call('GET', 'locking-device', { token })).status).toBe(200);
    expect(await call('GET', 'locking-device', { token })).toMatchObject({ status: 429, retryAfter: '7', body: { status: 429, error: 'Too Many Requests' } });
  });

  it('keeps what a phone learned: a deleted permission still opens offline until the key refreshes or expires', async () => {
    fake = await startFakeKeyless();
    const u = fake.addUser({ externalId: 'P1' });
    const p = fake.addPermission({
      userId: u.id,
      lockingDeviceId: 'ld-yard',
      start: '2000-01-01T00:00:00Z',
      end: '2099-01-01T00:00:00Z',
      operatingKeyValidityDuration: 'P2D',
    });
    const phone = fake.addOperatingDevice(u.id);
    expect(fake.offlineLockOpens(u.id, 'ld-yard')).toBe(true);
    fake.permissions.delete(p.id);
    expect(fake.offlineLockOpens(u.id, 'ld-yard')).toBe(true);
    expect(fake.offlineLockOpens(u.id, 'ld-yard', Date.now() + 2 * 86_400_000 + 1000)).toBe(false);
    fake.refreshKeys(u.id);
    expect(fake.offlineLockOpens(u.id, 'ld-yard')).toBe(false);
    const token = await login();
    const listed = await call('GET', `operating-device?user-id=${u.id}`, { token });
    expect(listed.body!.items).toEqual([{ id: phone.id, userId: u.id, name: 'Phone', activationStatus: 'ACTIVATED' }]);
  });
});
