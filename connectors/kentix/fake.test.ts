import { afterEach, describe, expect, it } from 'vitest';
import { startFakeKentix, type FakeKentix } from './fake/index.js';

/** The fake itself, over loopback HTTP: what it answers and refuses, as the SmartAPI (a Laravel application) does. */

let fake: FakeKentix | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const call = async (method: string, path: string, body?: unknown, o: { token?: string; accept?: string | null } = {}) => {
  const headers: Record<string, string> = { authorization: `Bearer ${o.token ?? fake!.token}` };
  if (o.accept !== null) headers.accept = o.accept ?? 'application/json';
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${fake!.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), redirect: 'manual' });
  const text = await res.text();
  const json = res.headers.get('content-type')?.includes('json') && text ? (JSON.parse(text) as Record<string, any>) : undefined;
  return { status: res.status, body: json, text, headers: res.headers };
};

describe('fake Kentix SmartAPI', () => {
  it('redirects a request without Accept: application/json to the login page, and wants the bearer api_token', async () => {
    fake = await startFakeKentix();
    const redirected = await call('GET', '/api/users', undefined, { accept: null });
    expect(redirected.status).toBe(302);
    expect(redirected.headers.get('location')).toBe(`${fake.url}/login`);
    expect((await call('GET', '/api/users', undefined, { accept: 'text/html' })).status).toBe(302);
    expect(await call('GET', '/api/users', undefined, { token: 'nope' })).toMatchObject({ status: 401, body: { message: 'Unauthenticated.' } });
    fake.deny('users');
    expect(await call('GET', '/api/users')).toMatchObject({ status: 403, body: { message: 'This action is unauthorized.' } });
    fake.deny('users', false);
    expect((await call('GET', '/api/users')).status).toBe(200);
    const old = fake.token;
    fake.rotateToken();
    expect((await call('GET', '/api/users', undefined, { token: old })).status).toBe(401);
  });

  it('pages collections as Laravel does (25 by default, per_page, meta and links) and answers /names with a plain list', async () => {
    fake = await startFakeKentix();
    fake.seedUsers(30);
    const first = await call('GET', '/api/users');
    expect(first.body!.data).toHaveLength(25);
    expect(first.body!.meta).toMatchObject({ current_page: 1, last_page: 2, per_page: 25, total: 31, from: 1, to: 25 });
    expect(first.body!.links.next).toBe(`${fake.url}/api/users?page=2`);
    const second = await call('GET', '/api/users?page=2&per_page=25');
    expect(second.body!.data).toHaveLength(6);
    expect(second.body!.links.next).toBeNull();
    expect(first.body!.data[0]).not.toHaveProperty('api_token');
    expect((await call('GET', `/api/users/${fake.apiUserId}`)).body!.data.api_token).toBe(fake.token);
    expect((await call('GET', '/api/users?per_page=0')).status).toBe(422);
    expect(await call('GET', '/api/doorlocks/names')).toMatchObject({ status: 200, body: [{ id: 1, name: 'Main entrance' }, { id: 2 }, { id: 3 }] });
    expect((await call('GET', '/api/accessprofiles')).body!.data[1]).toMatchObject({ id: 2, name: 'Server room', timeprofile_id: 1, doorlocks: [1, 2] });
  });

  it('creates, updates and deletes users with Laravel statuses, and refuses what its validation would', async () => {
    fake = await startFakeKentix();
    const created = await call('POST', '/api/users', { username: 'E1', name: 'Ada', usergroup_id: 2, account_type: 'guest', accessprofiles: [1] });
    expect(created).toMatchObject({ status: 201, body: { data: { username: 'E1', is_active: true, accessprofiles: [1], rfid: null } } });
    const id = created.body!.data.id as number;
    expect(await call('POST', '/api/users', { username: 'E1', name: 'Again', usergroup_id: 2 })).toMatchObject({
      status: 422,
      body: { message: 'The username has already been taken.', errors: { username: ['The username has already been taken.'] } },
    });
    expect((await call('POST', '/api/users', { username: 'E2', usergroup_id: 2 })).body).toMatchObject({ errors: { name: ['The name field is required.'] } });
    expect((await call('POST', '/api/users', { username: 'E3', name: 'X', usergroup_id: 2, nickname: 'x' })).body).toMatchObject({
      errors: { nickname: ['The nickname field is prohibited.'] },
    });
    expect((await call('POST', '/api/users', { username: 'E4', name: 'X', usergroup_id: 99 })).status).toBe(422);
    expect((await call('PUT', `/api/users/${id}`, { accessprofiles: [1, 99] })).body).toMatchObject({
      errors: { 'accessprofiles.1': ['The selected accessprofiles.1 is invalid.'] },
    });
    expect(fake.users.get(id)!.accessProfiles).toEqual([1]); // a refused update changes nothing
    const dated = await call('PUT', `/api/users/${id}`, { active_from: '2030-01-01T00:00:00Z', deactivate_from: '2030-06-30T00:00:00.000Z' });
    expect(dated).toMatchObject({
      status: 200,
      body: { data: { active_from: '2030-01-01T00:00:00.000000Z', deactivate_from: '2030-06-30T00:00:00.000000Z' } },
    });
    expect((await call('PUT', `/api/users/${id}`, { deactivate_from: '2029-01-01' })).body).toMatchObject({
      errors: { deactivate_from: ['The deactivate from field must be a date after active from.'] },
    });
    expect((await call('DELETE', `/api/users/${id}`)).status).toBe(204);
    expect((await call('GET', `/api/users/${id}`)).status).toBe(404);
    expect((await call('PATCH', `/api/users/${fake.apiUserId}`, {})).status).toBe(405);
  });

  it('holds a PIN of the configured length and a unique RFID UID', async () => {
    fake = await startFakeKentix();
    const a = fake.addUser({ username: 'A' });
    const b = fake.addUser({ username: 'B' });
    expect((await call('PUT', `/api/users/${a.id}`, { pin: '1234' })).body).toMatchObject({ errors: { pin: ['The pin field must be 6 digits.'] } });
    expect(await call('PUT', '/api/accesssettings', { pinlength: 4 })).toMatchObject({ status: 200, body: { pinlength: '4', external_evaluation: false } });
    expect((await call('PUT', `/api/users/${a.id}`, { pin: '1234' })).status).toBe(200);
    expect((await call('PUT', '/api/accesssettings', { pinlength: 11 })).status).toBe(422);
    expect((await call('PUT', '/api/accesssettings', { memorydepth: 721 })).status).toBe(422);
    fake.issueRfid(a.id, '04A1B2C3D4E5F6');
    expect((await call('PUT', `/api/users/${b.id}`, { rfid: '04a1b2c3d4e5f6' })).body).toMatchObject({
      errors: { rfid: ['The rfid has already been taken.'] },
    });
    expect((await call('PUT', `/api/users/${a.id}`, { rfid: null })).body!.data.rfid).toBeNull();
  });

  it('accepts time profiles on the 15-minute grid only', async () => {
    fake = await startFakeKentix();
    const ok = await call('POST', '/api/timeprofiles', { name: 'Early', intervals: [{ day: 'mon', from: '06:15', to: '09:45' }] });
    expect(ok).toMatchObject({ status: 201, body: { data: { name: 'Early' } } });
    expect((await call('POST', '/api/timeprofiles', { name: 'Odd', intervals: [{ day: 'mon', from: '06:10', to: '09:45' }] })).status).toBe(422);
    expect((await call('POST', '/api/timeprofiles', { name: 'Back', intervals: [{ day: 'tue', from: '10:00', to: '09:00' }] })).status).toBe(422);
  });

  it('lists access events newest first, exports them as CSV, and decides bookings from state, dates and profiles', async () => {
    fake = await startFakeKentix();
    const u = fake.addUser({ username: 'U', name: 'Una', accessProfiles: [3] });
    fake.issueRfid(u.id, '0411223344');
    // profile 3 is office hours (Mon–Fri 07:00–19:00 UTC) at doorlocks 1 and 3
    expect(fake.recordAccess({ userId: u.id, doorlockId: 3, at: new Date('2030-01-07T10:00:00Z') }).granted).toBe(true);
    expect(fake.recordAccess({ userId: u.id, doorlockId: 3, at: new Date('2030-01-07T20:00:00Z') }).granted).toBe(false);
    expect(fake.recordAccess({ userId: u.id, doorlockId: 2, at: new Date('2030-01-07T10:00:00Z') }).granted).toBe(false);
    u.isActive = false;
    expect(fake.recordAccess({ userId: u.id, doorlockId: 1, at: new Date('2030-01-07T10:00:00Z') }).granted).toBe(false);
    const list = await call('GET', '/api/accessevents?per_page=2');
    expect(list.body!.data.map((e: { id: number }) => e.id)).toEqual([4, 3]);
    expect(list.body!.data[0]).toMatchObject({
      user_id: u.id,
      doorlock_id: 1,
      doorlock_name: 'Main entrance',
      medium: 'rfid',
      rfid: '0411223344',
      granted: false,
    });
    expect(list.body!.meta).toMatchObject({ last_page: 2, total: 4 });
    const csv = await call('GET', '/api/accessevents/export');
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.text.split('\r\n')[0]).toBe('id,created_at,user,doorlock,medium,rfid,granted');
    expect(csv.text.split('\r\n')[1]).toMatch(/^4,2030-01-07T10:00:00\.000000Z,Una,Main entrance,rfid,0411223344,0$/);
    expect(await call('GET', '/api/accessevents/1/images')).toMatchObject({ status: 200, body: [] });
    expect((await call('GET', '/api/accessevents/99/images')).status).toBe(404);
  });

  it('injects faults with Retry-After', async () => {
    fake = await startFakeKentix();
    fake.failNext(429, { retryAfterSeconds: 7 });
    const r = await call('GET', '/api/users');
    expect(r).toMatchObject({ status: 429, body: { message: 'Too Many Attempts.' } });
    expect(r.headers.get('retry-after')).toBe('7');
    expect((await call('GET', '/api/users')).status).toBe(200);
  });
});
