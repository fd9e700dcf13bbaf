import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHostileApp, storeDigest, type HostileApp } from '../../helpers/hostile.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

/**
 * Issue 17, item 2: each class of hostile input the fuzz run found answered 500 is a 4xx naming
 * the field and the reason, in the SCIM endpoint's RFC 7644 §3.12 shape or the admin API's
 * `{ error: { code, message, field } }`, and changes nothing in the store.
 */
describe('hostile input: a 4xx naming the field, and nothing changed', () => {
  let app: HostileApp;
  let userId: string;
  let before: string;

  beforeAll(async () => {
    app = await startHostileApp();
    const r = await app.send('POST', '/scim/v2/Users', { body: JSON.stringify({ schemas: [USER], userName: 'ada@example.com', displayName: 'Ada' }) });
    expect(r.status).toBe(201);
    userId = r.json.id;
  });
  afterAll(async () => {
    await app?.close();
  });
  beforeEach(async () => {
    before = await storeDigest(app.engine.ctx.db);
  });

  const scimRefused = async (r: { status: number; json: any }, detail: RegExp, status = 400) => {
    expect(r.status, JSON.stringify(r.json)).toBe(status);
    expect(r.json.schemas).toEqual([ERROR]);
    expect(r.json.status).toBe(String(status));
    expect(r.json.detail).toMatch(detail);
    expect(await storeDigest(app.engine.ctx.db)).toBe(before);
  };
  const adminRefused = async (r: { status: number; json: any }, field: string, message: RegExp, status = 400) => {
    expect(r.status, JSON.stringify(r.json)).toBe(status);
    expect(r.json.error).toMatchObject({ code: 'validation', field });
    expect(r.json.error.message).toMatch(message);
    expect(await storeDigest(app.engine.ctx.db)).toBe(before);
  };

  it('bad percent-encoding in an id: /Users/%ZZ, /Groups/%ZZ and /runs/%ZZ name the id', async () => {
    await scimRefused(await app.send('GET', '/scim/v2/Users/%ZZ'), /^id is not valid percent-encoded UTF-8/);
    await scimRefused(await app.send('PUT', '/scim/v2/Users/%ZZ', { body: JSON.stringify({ schemas: [USER], userName: 'x' }) }), /^id /);
    await scimRefused(await app.send('DELETE', '/scim/v2/Groups/%E0%A4%A'), /^id /);
    await adminRefused(await app.send('GET', '/api/v1/runs/%ZZ'), 'id', /not valid percent-encoded/);
    await adminRefused(await app.send('POST', '/api/v1/runs/%ZZ/approve'), 'id', /not valid percent-encoded/);
    // bytes that are not UTF-8 (a UTF-8-encoded lone surrogate) are refused the same way
    await adminRefused(await app.send('GET', '/api/v1/identities/%ED%A0%80/explain'), 'who', /not valid percent-encoded/);
  });

  it('NUL bytes and lone surrogates in strings (PostgreSQL stores neither) name where they are', async () => {
    const scimType = async (r: { json: any }) => expect(r.json.scimType).toBe('invalidValue');
    let r = await app.send('POST', '/scim/v2/Users', { body: JSON.stringify({ schemas: [USER], userName: 'nul\u0000@example.com' }) });
    await scimRefused(r, /^userName contains a NUL character/);
    await scimType(r);
    r = await app.send('POST', '/scim/v2/Users', { body: `{"schemas":["${USER}"],"userName":"lone@example.com","displayName":"x\\ud800y"}` });
    await scimRefused(r, /^displayName contains a lone UTF-16 surrogate \(U\+D800/);
    r = await app.send('PATCH', `/scim/v2/Users/${userId}`, {
      body: JSON.stringify({ schemas: [PATCH], Operations: [{ op: 'replace', path: 'displayName', value: 'A\u0000' }] }),
    });
    await scimRefused(r, /^Operations\[0\]\.value contains a NUL/);
    await scimRefused(await app.send('GET', `/scim/v2/Users?filter=${encodeURIComponent('userName eq "a\u0000"')}`), /^filter contains a NUL/);
    await adminRefused(await app.send('GET', '/api/v1/identities/a%00b/explain'), 'who', /NUL/);
    await adminRefused(await app.send('GET', '/api/v1/audit?subject=a%00'), 'subject', /NUL/);
    await adminRefused(await app.send('POST', '/api/v1/credentials/dc1/card%00/lost', { body: '{}' }), 'id', /NUL/);
    await adminRefused(await app.send('POST', '/api/v1/runs', { body: '{"mode":"plan","identities":["\\udc00"]}' }), 'identities[0]', /lone UTF-16 surrogate/);
  });

  it('a 10,000-character userName is refused naming userName and the limit', async () => {
    // random CJK: 30 kB of UTF-8, more than a PostgreSQL index entry holds
    const long = Array.from({ length: 10_000 }, (_, i) => String.fromCodePoint(0x4e00 + ((i * 7919) % 20_000))).join('');
    await scimRefused(
      await app.send('POST', '/scim/v2/Users', { body: JSON.stringify({ schemas: [USER], userName: long }) }),
      /^userName is 10000 characters long; lockstep accepts at most 512/,
    );
    const r = await app.send('PATCH', `/scim/v2/Users/${userId}`, {
      body: JSON.stringify({ schemas: [PATCH], Operations: [{ op: 'replace', path: 'userName', value: long }] }),
    });
    await scimRefused(r, /^userName is 10000 characters long/);
    await scimRefused(
      await app.send('POST', '/scim/v2/Groups', { body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: long }) }),
      /^displayName is 10000 characters long/,
    );
  });

  it('deeply nested JSON (10,000 arrays) is refused before anything recurses into it', async () => {
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    await scimRefused(
      await app.send('POST', '/scim/v2/Users', { body: `{"schemas":["${USER}"],"userName":"deep@example.com","nickName":${deep}}` }),
      /^nickName(\[0\])+ is nested more than 32 levels deep/,
    );
    await scimRefused(await app.send('POST', '/scim/v2/Users', { body: deep }), /nested more than 32 levels/);
    const r = await app.send('POST', '/api/v1/runs', { body: `{"mode":"plan","identities":${deep}}` });
    await adminRefused(r, r.json?.error?.field, /nested more than 32 levels deep/);
    expect(r.json.error.field).toMatch(/^identities\[0\]/);
  });

  it('a huge startIndex (1e21) is invalidValue naming startIndex, in the query and in a SearchRequest', async () => {
    const r = await app.send('GET', '/scim/v2/Users?startIndex=1000000000000000000000');
    await scimRefused(r, /^startIndex must be an integer between/);
    expect(r.json.scimType).toBe('invalidValue');
    await scimRefused(await app.send('GET', '/scim/v2/Groups?count=1000000000000000000000'), /^count must be an integer/);
    await scimRefused(
      await app.send('POST', '/scim/v2/Users/.search', {
        body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], startIndex: 1e21 }),
      }),
      /^startIndex must be an integer/,
    );
    // a large but representable one is an empty page, as RFC 7644 §3.4.2.4 says
    const far = await app.send('GET', '/scim/v2/Users?startIndex=9007199254740991');
    expect(far.status).toBe(200);
    expect(far.json.Resources).toEqual([]);
  });

  it('a gzip Content-Encoding over a body that is not gzip names Content-Encoding; real gzip is read', async () => {
    const r = await app.send('POST', '/scim/v2/Users', { body: 'not gzip at all', headers: { 'content-encoding': 'gzip' } });
    await scimRefused(r, /does not decode as its Content-Encoding says/);
    expect(r.json.scimType).toBe('invalidSyntax');
    await adminRefused(
      await app.send('POST', '/api/v1/runs', { body: 'not gzip', headers: { 'content-encoding': 'gzip' } }),
      'Content-Encoding',
      /does not decode/,
    );
    await adminRefused(await app.send('POST', '/api/v1/runs', { body: 'xx', headers: { 'content-encoding': 'br' } }), 'Content-Encoding', /does not decode/);
    const ok = await app.send('POST', '/scim/v2/Users', {
      body: gzipSync(JSON.stringify({ schemas: [USER], userName: 'gz@example.com' })),
      headers: { 'content-encoding': 'gzip' },
    });
    expect(ok.status).toBe(201);
  });

  it('GET /runs?limit=-1 and 1.5 are 400 naming limit; /audit too', async () => {
    for (const bad of ['-1', '1.5', '0', 'abc', '1e21']) {
      await adminRefused(await app.send('GET', `/api/v1/runs?limit=${bad}`), 'limit', /^limit must be a whole number from 1 to 200/);
      await adminRefused(await app.send('GET', `/api/v1/audit?limit=${bad}`), 'limit', /^limit must be a whole number/);
    }
    expect((await app.send('GET', '/api/v1/runs?limit=5000')).status).toBe(200);
  });

  it('prototype keys as names are unknown names: credentials of system constructor / __proto__ are 404', async () => {
    for (const name of ['constructor', '__proto__', 'hasOwnProperty', 'toString']) {
      const r = await app.send('POST', `/api/v1/credentials/${name}/card-1/lost`, { body: '{}' });
      expect(r.status).toBe(404);
      expect(r.json.error).toMatchObject({ code: 'not_found', field: 'system' });
      expect(await storeDigest(app.engine.ctx.db)).toBe(before);
      // SCIM resource types and schemas are looked up by name too
      expect((await app.send('GET', `/scim/v2/ResourceTypes/${name}`)).status).toBe(404);
    }
  });
});
