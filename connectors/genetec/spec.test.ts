import { describe, expect, it } from 'vitest';
import { referenceFile } from '../../src/drivers/spec-exchange.js';
import { createGenetecDriver } from './driver.js';
import type { FakeExchange } from './fake/index.js';
import { fakeConnection, startGenetecHarness } from './harness.js';
import { parseQ, signature } from './q.js';

/**
 * Spec conformance: drive the fake through the driver, record every exchange, and check each
 * against the vendor's Web SDK Postman collection: the collection has a request with the same
 * method and path whose `q=` holds every operation the driver sent (values left out:
 * `entity=_,AddCardholders(_)`), and where the collection shows an example answer for it, the
 * fake's answer uses only keys the example has (so the driver reads nothing the Web SDK does not
 * send). The collection is not part of the repository; without it the test skips.
 */

const collectionFile = referenceFile('genetec/security-center-web-sdk.postman_collection.json', 'the Web SDK Postman collection');
const SKIP = collectionFile.skipMessage;

interface PmItem {
  name: string;
  item?: PmItem[];
  request?: { method: string; url: string | { raw: string } };
  response?: Array<{ code?: number; body?: string }>;
}
interface Collection {
  info: { name: string };
  auth?: { type: string; basic?: Array<{ key: string; value: string }> };
  variable?: Array<{ key: string; value: string }>;
  item: PmItem[];
}

interface SpecRequest {
  name: string;
  method: string;
  path: string;
  sigs: Set<string>;
  examples: unknown[];
}

/** `{{url}}/entity/:cardholder` → `/entity/{}`; query-string requests keep their path. */
function templatePath(raw: string): { path: string; q: string | null } {
  const noBase = raw.replace(/^\{\{url\}\}/, '');
  const [p, query] = [noBase.split('?')[0], noBase.includes('?') ? noBase.slice(noBase.indexOf('?') + 1) : null];
  const path = p
    .split('/')
    .map((s) => (/^:|^\{\{/.test(s) ? '{}' : s))
    .join('/');
  const q = query && query.startsWith('q=') ? query.slice(2) : null;
  return { path: path === '' ? '/' : path, q };
}

/** An exchange's path in the same form: ids and custom-field values are parameters. */
function exchangePath(path: string): string {
  const segs = path.split('/');
  if (segs[1] === 'customField') return segs.map((s, i) => (i >= 2 ? '{}' : s)).join('/');
  if (segs[1] === 'entity' && segs.length === 3) return '/entity/{}';
  return path;
}

function loadSpec(): { collection: Collection; requests: SpecRequest[] } {
  const collection = collectionFile.load<Collection>();
  const requests: SpecRequest[] = [];
  const walk = (items: PmItem[]): void => {
    for (const i of items) {
      if (i.item) walk(i.item);
      if (!i.request) continue;
      const raw = typeof i.request.url === 'string' ? i.request.url : i.request.url.raw;
      const { path, q } = templatePath(raw.trim());
      const examples: unknown[] = [];
      for (const r of i.response ?? []) {
        try {
          if (r.body) examples.push(JSON.parse(r.body) as unknown);
        } catch {
          // an example that is not JSON (the event stream) shows no shape
        }
      }
      requests.push({ name: i.name, method: i.request.method, path, sigs: new Set(q ? parseQ(q).map(signature) : []), examples });
    }
  };
  walk(collection.item);
  return { collection, requests };
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The fake's keys that no example of these requests has (Result's own keys, or its rows'). */
function unknownKeys(fake: unknown, examples: unknown[]): string[] | null {
  const rsp = (b: unknown) => (isObj(b) && isObj(b.Rsp) ? b.Rsp : null);
  const f = rsp(fake);
  if (!f) return null;
  const result = f.Result;
  const shapes = examples.map(rsp).filter((x): x is Json => x !== null && x.Status !== 'Fail');
  if (result === undefined || shapes.length === 0) return null;
  if (Array.isArray(result)) {
    const rows = shapes.flatMap((s) => (Array.isArray(s.Result) ? s.Result : [])).filter(isObj);
    if (rows.length === 0) return null;
    const known = new Set(rows.flatMap((r) => Object.keys(r)));
    return [...new Set(result.filter(isObj).flatMap((r) => Object.keys(r)))].filter((k) => !known.has(k));
  }
  if (!isObj(result)) return null;
  // an entity read is compared with an example of the same entity type
  const same = shapes
    .map((s) => s.Result)
    .filter(isObj)
    .filter((r) => result.EntityType === undefined || r.EntityType === result.EntityType);
  if (same.length === 0) return null;
  const known = new Set(same.flatMap((r) => Object.keys(r)));
  return Object.keys(result).filter((k) => !known.has(k));
}

function check(requests: SpecRequest[], x: FakeExchange): string[] {
  const where = `${x.method} ${x.path}${x.q ? `?q=${x.q}` : ''} → ${x.status}`;
  const path = exchangePath(x.path);
  const sigs = x.q ? parseQ(x.q).map(signature) : [];
  const candidates = requests.filter((r) => r.method === x.method && r.path === path && sigs.every((s) => r.sigs.has(s)));
  if (candidates.length === 0) {
    const samePath = requests.filter((r) => r.method === x.method && r.path === path);
    return [
      `${where}: the collection has no ${x.method} ${path} with ${sigs.join(',') || 'no q'}${
        samePath.length
          ? ` (closest: ${samePath
              .slice(0, 3)
              .map((r) => [...r.sigs].join(','))
              .join(' | ')})`
          : ''
      }`,
    ];
  }
  const problems: string[] = [];
  if (x.status === 200) {
    const status = (x.body as { Rsp?: { Status?: string } } | undefined)?.Rsp?.Status;
    if (!['Ok', 'TooManyResults', 'Partial', 'Fail'].includes(status ?? '')) problems.push(`${where}: Rsp.Status ${status} is not one the collection shows`);
    if (status === 'Fail') {
      const r = (x.body as { Rsp: { Result?: Json } }).Rsp.Result ?? {};
      if (typeof r.SdkErrorCode !== 'string' || typeof r.Message !== 'string') problems.push(`${where}: a Fail without SdkErrorCode and Message`);
    } else {
      const extra = unknownKeys(
        x.body,
        candidates.flatMap((c) => c.examples),
      );
      if (extra && extra.length > 0) problems.push(`${where}: the fake answers keys no example of ${candidates[0].name} has: ${extra.join(', ')}`);
    }
  }
  return problems;
}

describe('Genetec driver and fake against the Web SDK Postman collection', () => {
  it('authenticates as the collection does (Basic, user;ApplicationId) and asks for text/json', (ctx) => {
    if (!collectionFile.present) return ctx.skip(SKIP);
    const { collection } = loadSpec();
    expect(collection.auth?.type).toBe('basic');
    expect(collection.auth?.basic?.find((b) => b.key === 'username')?.value).toBe('{{username}};{{applicationID}}');
    expect(collection.variable?.find((v) => v.key === 'accept')?.value).toBe('text/json');
  });

  it('makes only calls the collection has, with that method and shape, and the fake answers in its shapes', async (ctx) => {
    if (!collectionFile.present) return ctx.skip(SKIP);
    const { requests } = loadSpec();
    const h = await startGenetecHarness({ driver: { pageSize: 2, eventsLimit: 2 } });
    const groupsDriver = await createGenetecDriver({
      system: 'cg',
      options: { ...fakeConnection(h.fake), accessGroups: 'cardholderGroups', validity: 'none' },
    });
    const { driver, fake } = h;
    try {
      // accounts: create (with a window), update, rename, find, list over pages
      const a = await driver.upsertAccount({
        externalId: 'S-1',
        displayName: 'Spec One',
        firstName: 'Spec',
        lastName: 'One',
        email: 's1@example.com',
        validity: { from: null, until: '2031-01-01T00:00:00.000Z' },
      });
      await driver.upsertAccount({
        externalId: 'S-1',
        displayName: 'Spec Uno',
        email: 's1.uno@example.com',
        validity: { from: '2030-01-01T00:00:00.000Z', until: null },
      });
      await driver.upsertAccount({ externalId: 'S-1', displayName: 'Spec Uno', validity: { from: null, until: null } });
      const b = await driver.upsertAccount({ externalId: 'S 2, (odd) "quoted"', displayName: 'Spec, Two' });
      expect((await driver.findAccount('S 2, (odd) "quoted"'))?.id).toBe(b.id);
      expect(await driver.findAccount('absent')).toBeNull();
      fake.seedCardholders(3, { customField: 'LockstepId' });
      for (let cursor: string | null = null, i = 0; i < 20; i++) {
        const page = await driver.listAccounts(cursor);
        if (!page.next) break;
        cursor = page.next;
      }
      const [g1, g2] = h.groups;
      expect((await driver.listAccessGroups()).map((g) => g.ref)).toEqual(expect.arrayContaining([g1, g2]));

      // memberships, both ways a site can grant
      await driver.grant(a.id, g1, { from: null, until: null });
      await driver.grant(a.id, g2, { from: null, until: null });
      await driver.revoke(a.id, g2);
      const [cg] = fake.cardholderGroups.keys();
      await groupsDriver.listAccessGroups();
      await groupsDriver.grant(a.id, cg, { from: null, until: null });
      await groupsDriver.revoke(a.id, cg);

      // state, credentials, events
      await driver.setAccountState(b.id, 'suspended');
      await driver.setAccountState(b.id, 'active');
      await driver.upsertAccount({ externalId: 'S-1', displayName: 'Spec Uno', validity: { from: null, until: '2032-01-01T00:00:00.000Z' } });
      await driver.setAccountState(a.id, 'suspended');
      await driver.setAccountState(a.id, 'active');
      const card = fake.issueCredential(a.id).guid;
      const other = fake.issueCredential(a.id).guid;
      const { cursor } = await driver.readAccessEvents(null);
      for (let i = 0; i < 3; i++) fake.recordAccess({ cardholder: a.id, credential: card, at: new Date(Date.now() + i) });
      let c: string | null = cursor;
      let seen = 0;
      for (let i = 0; i < 5; i++) {
        const r = await driver.readAccessEvents(c);
        seen += r.events.length;
        c = r.cursor;
      }
      expect(seen).toBe(3);
      await driver.setCredentialState(a.id, card, 'suspended');
      await driver.setCredentialState(a.id, card, 'active');
      await driver.setCredentialState(a.id, card, 'lost');
      await driver.setCredentialState(a.id, other, 'revoked');

      // failures: a missing entity, a refused session, a Fail
      expect(await driver.getAccount('6b29fb61-61b6-49b4-917b-78d1c2ae5690')).toBeNull();
      fake.revokeSession();
      await driver.getAccount(a.id);
      fake.failNextSdk('InvalidOperation', 'refused for the test');
      await expect(driver.grant(a.id, g1, { from: null, until: null })).rejects.toMatchObject({ code: 'validation' });
      await driver.deleteAccount(b.id);
      await driver.deleteAccount(b.id);

      // a missing custom field made by the driver when allowed
      const fresh = await createGenetecDriver({
        system: 'mk',
        options: { ...fakeConnection(fake), externalIdField: 'EmployeeKey', createExternalIdField: true },
      });
      await fresh.upsertAccount({ externalId: 'S-9', displayName: 'Spec Nine' });
      await fresh.close();

      const exchanges = fake.exchanges.filter((x) => !x.injected && x.status !== 401);
      const problems = exchanges.flatMap((x) => check(requests, x));
      expect(problems, problems.join('\n')).toEqual([]);
      // every kind of call the driver relies on was exercised, so a silent gap cannot pass
      const kinds = new Set(exchanges.map((x) => `${x.method} ${exchangePath(x.path)} ${x.q ? parseQ(x.q).map(signature).join(',') : ''}`.trim()));
      for (const k of [
        'GET /entity/{}',
        'DELETE /entity/{}',
        'GET /entity entity=_,CustomFields',
        'POST /customField/{}/{}/{}/{}',
        'PUT /customField/{}/{}/{}',
        'POST /entity entity=NewEntity(Cardholder),Name=_,FirstName=_,LastName=_,EmailAddress=_,Guid',
        'POST /entity entity=_,Name=_',
        'POST /entity entity=_,FirstName=_,LastName=_,EmailAddress=_',
        'POST /entity entity=_,Status.Activate(_,_)',
        'POST /entity entity=_,Status.Activate(_)',
        'POST /entity entity=_,Status.Deactivate(_)',
        'POST /entity entity=_,Status.Deactivate()',
        'POST /entity entity=_,Status.Activate()',
        'POST /entity entity=_,Status.Lost()',
        'POST /entity entity=_,Credentials-_',
        'POST /entity entity=_,AddCardholders(_)',
        'POST /entity entity=_,RemoveCardholders(_)',
        'POST /entity entity=_,AddCardholderIntoGroup(_)',
        'POST /entity entity=_,RemoveCardholderFromGroup(_)',
        'GET /report/CardholderConfiguration Page=_,PageSize=_',
        'GET /report/CardholderConfiguration CustomFields@CustomField(_,_)',
        'GET /report/AccessRuleConfiguration Page=_,PageSize=_',
        'GET /report/EntityConfiguration EntityTypes@_,Page=_,PageSize=_',
        'GET /report/CardholderActivity Events*,Events@_,TimeRange.SetTimeRange(_,_),SortOrder=_,MaximumResultCount=_',
      ]) {
        expect(kinds, `not exercised: ${k}`).toContain(k);
      }
      expect(
        fake.exchanges.some((x) => x.status === 401),
        'a refused session',
      ).toBe(true);
      expect(
        exchanges.some((x) => x.rspStatus === 'Fail'),
        'a Fail',
      ).toBe(true);
      expect(
        exchanges.some((x) => x.rspStatus === 'TooManyResults'),
        'a page of a longer listing',
      ).toBe(true);
    } finally {
      await groupsDriver.close();
      await h.teardown();
    }
  });

  it('has teeth: the check refuses calls and answers the collection does not have', (ctx) => {
    if (!collectionFile.present) return ctx.skip(SKIP);
    const { requests } = loadSpec();
    const x = (over: Partial<FakeExchange>): FakeExchange => ({
      method: 'POST',
      path: '/entity',
      q: 'entity=6b29fb61-61b6-49b4-917b-78d1c2ae5690,AddCardholders(872625a5-a21e-4897-ba10-06519021d960)',
      status: 200,
      rspStatus: 'Ok',
      body: { Rsp: { Status: 'Ok' } },
      injected: false,
      ...over,
    });
    expect(check(requests, x({}))).toEqual([]);
    const bad: Array<[string, FakeExchange]> = [
      ['a method the collection does not have', x({ q: 'entity=6b29fb61-61b6-49b4-917b-78d1c2ae5690,Status.Suspend()' })],
      ['a write sent as GET', x({ method: 'GET' })],
      ['two operations no single request combines', x({ q: 'entity=6b29fb61-61b6-49b4-917b-78d1c2ae5690,Name=x,AddCardholders(y)' })],
      ['a report the collection does not have', x({ method: 'GET', path: '/report/CardholderEverything', q: 'Page=1' })],
      ['a filter the report does not take', x({ method: 'GET', path: '/report/CardholderConfiguration', q: 'ExternalId=7' })],
      ['a Fail without its fields', x({ body: { Rsp: { Status: 'Fail', Result: {} } }, rspStatus: 'Fail' })],
      ['an unknown envelope status', x({ body: { Rsp: { Status: 'Maybe' } }, rspStatus: 'Maybe' })],
      [
        'a cardholder key the Web SDK does not send',
        x({
          method: 'GET',
          path: '/entity/872625a5-a21e-4897-ba10-06519021d960',
          q: null,
          body: { Rsp: { Status: 'Ok', Result: { EntityType: 'Cardholder', Guid: 'x', ExternalId: 'E1' } } },
        }),
      ],
    ];
    for (const [what, ex] of bad) expect(check(requests, ex), what).not.toEqual([]);
  });
});
