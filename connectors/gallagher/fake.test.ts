import { afterEach, describe, expect, it } from 'vitest';
import { ccMatch, startFakeCommandCentre, type FakeCommandCentre } from './fake/index.js';

let fake: FakeCommandCentre | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function get(path: string, auth?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${fake!.url}${path}`, { headers: { authorization: auth ?? `GGL-API-KEY ${fake!.apiKey}` } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('fake Command Centre', () => {
  it('accepts the API key as GGL-API-KEY or HTTP Basic with a blank user, nothing else', async () => {
    fake = await startFakeCommandCentre({ apiKey: 'C774-B01F-D695-AA4B-215F-A158-AC22-ADEB' });
    expect((await get('/api')).status).toBe(200);
    expect((await get('/api', 'Basic OkM3NzQtQjAxRi1ENjk1LUFBNEItMjE1Ri1BMTU4LUFDMjItQURFQg==')).status).toBe(200);
    expect((await get('/api', 'C774-B01F-D695-AA4B-215F-A158-AC22-ADEB')).status).toBe(401);
    expect((await get('/api', 'ggl-api-key C774-B01F-D695-AA4B-215F-A158-AC22-ADEB')).status).toBe(401);
  });

  it('searches like CC: substring, exact in quotes, % and _ wildcards, case-insensitive', () => {
    expect(ccMatch('oth', 'Boothroyd')).toBe(true);
    expect(ccMatch('"boothroyd"', 'Boothroyd')).toBe(true);
    expect(ccMatch('"booth"', 'Boothroyd')).toBe(false);
    expect(ccMatch('boothroyd,%', 'Boothroyd, Algernon')).toBe(true);
    expect(ccMatch('b_othroyd', 'Boothroyd')).toBe(true);
    expect(ccMatch('%', '')).toBe(false);
    expect(ccMatch('%', 'x')).toBe(true);
  });

  it("shows a PDF value only while the cardholder is in one of the PDF's access groups", async () => {
    fake = await startFakeCommandCentre();
    const ch = fake.addCardholder({ lastName: 'Nomember', pdfs: { 'lockstep id': 'L-1' } });
    expect((await get('/api/cardholders?pdf_8801="L-1"')).body.results).toHaveLength(0);
    fake.model.addMembership(ch, '360');
    const found = await get('/api/cardholders?pdf_8801="L-1"&fields=href,pdf_8801');
    expect(found.body.results).toEqual([{ href: `${fake.url}/api/cardholders/${ch.id}`, '@lockstep id': 'L-1' }]);
  });

  it('pages cardholders by id with next links until there are none', async () => {
    fake = await startFakeCommandCentre();
    fake.seedCardholders(5);
    const ids: string[] = [];
    let path: string | null = '/api/cardholders?top=2&sort=id';
    while (path) {
      const page: { body: { results: Array<{ id: string }>; next?: { href: string } } } = await get(path);
      ids.push(...page.body.results.map((r) => r.id));
      path = page.body.next ? new URL(page.body.next.href).pathname + new URL(page.body.next.href).search : null;
    }
    expect(ids).toEqual([...fake.model.cardholders.keys()]);
  });

  it('gives events next, previous and updates links, and the updates call returns a new event', async () => {
    fake = await startFakeCommandCentre();
    const ch = fake.seedCardholders(1)[0];
    fake.recordAccess({ cardholderId: ch.id });
    const first = await get('/api/events?top=10');
    expect(first.body.events).toHaveLength(1);
    const updates = new URL(first.body.updates.href);
    const waiting = get(`${updates.pathname}${updates.search}&deadline=30`);
    fake.recordAccess({ cardholderId: ch.id, granted: false });
    const news = await waiting;
    expect(news.body.events.map((e: { type: { id: string } }) => e.type.id)).toEqual(['20013']);
    const back = new URL(news.body.previous.href);
    expect((await get(`${back.pathname}${back.search}`)).body.events).toHaveLength(1);
  });

  it('answers injected faults first, with Retry-After, then recovers', async () => {
    fake = await startFakeCommandCentre();
    fake.failNext(503, { times: 2, retryAfterSeconds: 7 });
    const res = await fetch(`${fake.url}/api`, { headers: { authorization: `GGL-API-KEY ${fake.apiKey}` } });
    expect([res.status, res.headers.get('retry-after')]).toEqual([503, '7']);
    expect((await get('/api')).status).toBe(503);
    expect((await get('/api')).status).toBe(200);
  });
});
