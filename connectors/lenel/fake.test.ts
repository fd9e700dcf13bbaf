import { afterEach, describe, expect, it } from 'vitest';
import { startFakeLenel, type FakeLenel } from './fake/index.js';

/** The fake OpenAccess's own behaviour: the refusals and shapes the driver's tests rely on. */

let fake: FakeLenel | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function call(
  method: string,
  path: string,
  opts: { token?: string | null; app?: string | null; body?: unknown } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const app = opts.app === undefined ? fake!.applicationId : opts.app;
  if (app !== null) headers['application-id'] = app;
  if (opts.token) headers['session-token'] = opts.token;
  const res = await fetch(`${fake!.url}${path}`, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function login(): Promise<string> {
  const r = await call('POST', '/authentication?version=1.0', { body: fake!.user });
  expect(r.status).toBe(200);
  return r.body.session_token as string;
}

describe('fake OpenAccess', () => {
  it('needs the Application-Id, the version parameter and a live session', async () => {
    fake = await startFakeLenel();
    expect((await call('GET', '/version?version=1.0', { app: null })).status).toBe(401);
    expect((await call('POST', '/authentication', { body: fake.user })).status).toBe(400);
    expect((await call('POST', '/authentication?version=1.0', { body: { ...fake.user, password: 'x' } })).status).toBe(401);
    const token = await login();
    expect((await call('GET', '/instances?version=1.0&type_name=Lnl_AccessLevel')).body).toMatchObject({
      error: { code: 'openaccess.general.invalidsessiontoken' },
    });
    expect((await call('GET', '/instances?version=1.0&type_name=Lnl_AccessLevel', { token })).status).toBe(200);
    fake.expireSessions();
    expect((await call('GET', '/instances?version=1.0&type_name=Lnl_AccessLevel', { token })).status).toBe(401);
  });

  it('pages instances with page_number and page_size up to 100, and filters them', async () => {
    fake = await startFakeLenel();
    const token = await login();
    fake.seedCardholders(5, { ssnoPrefix: 's-' });
    const p = await call('GET', '/instances?version=1.0&type_name=Lnl_Cardholder&page_size=2&page_number=3&order_by=ID', { token });
    expect(p.body).toMatchObject({ count: 1, page_number: 3, page_size: 2, total_items: 5, total_pages: 3 });
    expect((await call('GET', '/instances?version=1.0&type_name=Lnl_Cardholder&page_size=101', { token })).status).toBe(400);
    const ssno = fake.cardholders()[2].SSNO as string;
    const f = await call('GET', `/instances?version=1.0&type_name=Lnl_Cardholder&filter=${encodeURIComponent(`SSNO = "${ssno}"`)}`, { token });
    expect((f.body.item_list as unknown[]).length).toBe(1);
    expect((await call('GET', `/instances?version=1.0&type_name=Lnl_Cardholder&filter=${encodeURIComponent('SSNO ~ 1')}`, { token })).status).toBe(400);
    expect((await call('GET', `/instances?version=1.0&type_name=Lnl_Cardholder&filter=${encodeURIComponent('NOPE = 1')}`, { token })).status).toBe(400);
  });

  it('refuses unknown properties, over-long text and a missing LASTNAME', async () => {
    fake = await startFakeLenel();
    const token = await login();
    const add = (m: Record<string, unknown>) => call('POST', '/instances?version=1.0&type_name=Lnl_Cardholder', { token, body: { property_value_map: m } });
    expect((await add({ LASTNAME: 'Ok', nickname: 'x' })).status).toBe(400);
    expect((await add({ LASTNAME: 'x'.repeat(65) })).status).toBe(400);
    expect((await add({ FIRSTNAME: 'No last' })).status).toBe(400);
    const ok = await add({ lastname: 'Mixed case' });
    expect(ok.status).toBe(200);
    expect(ok.body.property_value_map).toMatchObject({ LASTNAME: 'Mixed case' });
  });

  it('allocates badge IDs unless told not to, and refuses a duplicate assignment', async () => {
    fake = await startFakeLenel({ autoBadgeIds: false });
    const token = await login();
    const ch = fake.addCardholder({ LASTNAME: 'Holder' });
    const badge = (m: Record<string, unknown>) => call('POST', '/instances?version=1.0&type_name=Lnl_Badge', { token, body: { property_value_map: m } });
    expect((await badge({ PERSONID: ch.ID, TYPE: 1 })).status).toBe(400);
    const b = await badge({ PERSONID: ch.ID, TYPE: 1, ID: 4711 });
    const key = (b.body.property_value_map as Record<string, number>).BADGEKEY;
    const assign = () =>
      call('POST', '/instances?version=1.0&type_name=Lnl_AccessLevelAssignment', { token, body: { property_value_map: { ACCESSLEVELID: 1, BADGEKEY: key } } });
    expect((await assign()).status).toBe(200);
    expect((await assign()).status).toBe(400);
  });

  it('deletes a cardholder with its badges and their assignments', async () => {
    fake = await startFakeLenel();
    const token = await login();
    const ch = fake.addCardholder({ LASTNAME: 'Gone' });
    const b = fake.issueBadge(ch.ID as number);
    await call('POST', '/instances?version=1.0&type_name=Lnl_AccessLevelAssignment', {
      token,
      body: { property_value_map: { ACCESSLEVELID: 2, BADGEKEY: b.BADGEKEY } },
    });
    expect((await call('DELETE', '/instances?version=1.0&type_name=Lnl_Cardholder', { token, body: { property_value_map: { ID: ch.ID } } })).status).toBe(200);
    expect(fake.badgesOf(ch.ID as number)).toEqual([]);
    expect(fake.assignmentsOf(b.BADGEKEY as number)).toEqual([]);
    expect((await call('DELETE', '/instances?version=1.0&type_name=Lnl_Cardholder', { token, body: { property_value_map: { ID: ch.ID } } })).status).toBe(400);
  });

  it('requires a filter on logged events and orders them by timestamp', async () => {
    fake = await startFakeLenel();
    const token = await login();
    const ch = fake.addCardholder({ LASTNAME: 'Walker' });
    const b = fake.issueBadge(ch.ID as number);
    fake.recordAccess({ badgeKey: b.BADGEKEY as number, at: new Date('2030-01-01T00:00:10Z') });
    fake.recordAccess({ badgeKey: b.BADGEKEY as number, at: new Date('2030-01-01T00:00:05Z') });
    expect((await call('GET', '/logged_events?version=1.0', { token })).status).toBe(400);
    const r = await call('GET', `/logged_events?version=1.0&order_by=timestamp&filter=${encodeURIComponent('timestamp >= "2030-01-01T00:00:00Z"')}`, { token });
    expect((r.body.item_list as Array<{ timestamp: string }>).map((e) => e.timestamp)).toEqual(['2030-01-01T00:00:05Z', '2030-01-01T00:00:10Z']);
  });
});
