import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeGenetec, type FakeGenetec } from './fake/index.js';

/** The fake Web SDK itself, over loopback HTTP: what it answers and refuses, in the envelope the collection shows. */

let fake: FakeGenetec | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const call = async (method: string, path: string, opts: { auth?: string; length?: boolean } = {}) => {
  const f = fake!;
  const auth = opts.auth ?? `Basic ${Buffer.from(`${f.username};${f.applicationId}:${f.password}`).toString('base64')}`;
  const res = await fetch(`${f.url}${path}`, {
    method,
    headers: { authorization: auth, accept: 'text/json', ...(method === 'POST' && opts.length !== false ? { 'content-length': '0' } : {}) },
  });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    body: text && res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as { Rsp: { Status: string; Result?: any } }) : text,
  };
};
const q = (s: string) => `?q=${encodeURIComponent(s)}`;

/** The status of a request written by hand on a socket (no Content-Length, no body). */
function rawStatus(requestLine: string): Promise<number> {
  const f = fake!;
  const url = new URL(f.url);
  const auth = Buffer.from(`${f.username};${f.applicationId}:${f.password}`).toString('base64');
  return new Promise((resolve, reject) => {
    const s = connect(Number(url.port), url.hostname, () =>
      s.write(`${requestLine}\r\nHost: ${url.host}\r\nAuthorization: Basic ${auth}\r\nConnection: close\r\n\r\n`),
    );
    let got = '';
    s.on('data', (b: Buffer) => (got += b.toString()));
    s.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1])));
    s.on('error', reject);
  });
}

describe('fake Security Center Web SDK', () => {
  it('answers 401 without the user;ApplicationId credentials and the envelope with them', async () => {
    fake = await startFakeGenetec();
    expect((await call('GET', '/', { auth: 'Basic bm9wZTpub3Bl' })).status).toBe(401);
    expect(await call('GET', '/')).toMatchObject({ status: 200, type: expect.stringContaining('text/json'), body: { Rsp: { Status: 'Ok' } } });
  });

  it('creates a cardholder with the q= syntax and answers its Guid, then reads it back as the collection shows', async () => {
    fake = await startFakeGenetec();
    const made = await call('POST', `/entity${q('entity=NewEntity(Cardholder),Name="Hopper, Grace",FirstName=Grace,LastName=Hopper,Guid')}`);
    const id = (made.body as { Rsp: { Result: { Guid: string } } }).Rsp.Result.Guid;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const got = await call('GET', `/entity/${id}`);
    expect(got.body).toMatchObject({
      Rsp: {
        Status: 'Ok',
        Result: { EntityType: 'Cardholder', Name: 'Hopper, Grace', FirstName: 'Grace', State: 'Active', Status: { State: 'Active', ExpirationType: 'Never' } },
      },
    });
    expect((await call('GET', `/entity${q(`entity=${id},FirstName,LastName`)}`)).body).toMatchObject({
      Rsp: { Result: { FirstName: 'Grace', LastName: 'Hopper' } },
    });
  });

  it('refuses writes sent as GET, POST without Content-Length, and unknown entities with Fail', async () => {
    fake = await startFakeGenetec();
    const ch = fake.addCardholder({ name: 'A' });
    expect((await call('GET', `/entity${q(`entity=${ch.guid},Status.Deactivate()`)}`)).body).toMatchObject({
      Rsp: { Status: 'Fail', Result: { SdkErrorCode: 'InvalidOperation' } },
    });
    // HTTP clients add Content-Length: 0 themselves; a bare request line and headers do not
    expect(await rawStatus(`POST /WebSdk/entity${q(`entity=${ch.guid},Status.Deactivate()`)} HTTP/1.1`)).toBe(411);
    expect((await call('GET', '/entity/6b29fb61-61b6-49b4-917b-78d1c2ae5690')).body).toMatchObject({
      Rsp: { Status: 'Fail', Result: { SdkErrorCode: 'UnableToRetrieveEntity', Message: expect.stringContaining('does it exists?') } },
    });
    expect((await call('GET', `/report/CardholderConfiguration${q('Bogus=1')}`)).body).toMatchObject({ Rsp: { Status: 'Fail' } });
  });

  it('pages configuration reports with Page and PageSize, TooManyResults while more remain', async () => {
    fake = await startFakeGenetec();
    fake.seedCardholders(5);
    const p1 = await call('GET', `/report/CardholderConfiguration${q('Page=1,PageSize=2')}`);
    expect(p1.body).toMatchObject({ Rsp: { Status: 'TooManyResults' } });
    expect((p1.body as { Rsp: { Result: unknown[] } }).Rsp.Result).toHaveLength(2);
    const p3 = await call('GET', `/report/CardholderConfiguration${q('Page=3,PageSize=2')}`);
    expect(p3.body).toMatchObject({ Rsp: { Status: 'Ok', Result: [{ Guid: expect.any(String) }] } });
  });

  it('keeps Status dates as the assumed Activate/Deactivate semantics say', async () => {
    fake = await startFakeGenetec();
    const ch = fake.addCardholder({ name: 'D' });
    await call('POST', `/entity${q(`entity=${ch.guid},Status.Deactivate(2031-01-01T00:00:00Z)`)}`);
    expect(fake.cardholders.get(ch.guid)).toMatchObject({ deactivated: false, expiration: '2031-01-01T00:00:00.000Z' });
    await call('POST', `/entity${q(`entity=${ch.guid},Status.Deactivate()`)}`);
    expect(fake.cardholders.get(ch.guid)).toMatchObject({ deactivated: true, expiration: '2031-01-01T00:00:00.000Z' });
    await call('POST', `/entity${q(`entity=${ch.guid},Status.Activate()`)}`);
    expect(fake.cardholders.get(ch.guid)).toMatchObject({ deactivated: false, expiration: null });
  });

  it('answers the CardholderActivity report for a time range, granted only when asked, oldest first', async () => {
    fake = await startFakeGenetec();
    const ch = fake.addCardholder({ name: 'E' });
    const card = fake.issueCredential(ch.guid);
    fake.recordAccess({ cardholder: ch.guid, credential: card.guid, at: new Date('2030-01-01T00:00:02Z') });
    fake.recordAccess({ cardholder: ch.guid, credential: card.guid, at: new Date('2030-01-01T00:00:01Z') });
    fake.recordAccess({ cardholder: ch.guid, credential: card.guid, granted: false, at: new Date('2030-01-01T00:00:03Z') });
    const r = await call(
      'GET',
      `/report/CardholderActivity${q('Events*,Events@AccessGranted,TimeRange.SetTimeRange(2030-01-01T00:00:00Z,2030-01-02T00:00:00Z),SortOrder=Ascending,MaximumResultCount=1')}`,
    );
    expect(r.body).toMatchObject({
      Rsp: { Status: 'TooManyResults', Result: [{ Timestamp: '2030-01-01T00:00:01.000Z', EventType: 35, CardholderGuid: ch.guid, CredentialGuid: card.guid }] },
    });
  });

  it('refuses the stale session once after revokeSession, then opens a new one', async () => {
    fake = await startFakeGenetec();
    fake.revokeSession();
    expect((await call('GET', '/')).status).toBe(401);
    expect((await call('GET', '/')).status).toBe(200);
  });
});
