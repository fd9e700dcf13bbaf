import { Ajv, type ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import { addFormats, referenceFile } from '../../src/drivers/spec-exchange.js';
import { LockstepError } from '../../src/domain/errors.js';
import { createOpenpathDriver } from './driver.js';
import type { FakeExchange } from './fake/index.js';
import { startOpenpathHarness } from './harness.js';

/**
 * Spec conformance: drive the fake through the driver, record every exchange, and check each
 * against what the vendor's Swagger 2.0 document says of that path and method: the status is
 * the documented one, the response matches its schema, the request body its body parameter
 * (with unknown keys refused, as the API's Joi validation does), and every query parameter is
 * declared and valid. The document is not part of the repository; without it the test skips.
 */

const specFile = referenceFile('openpath/openpath-openapi-original.json', 'the reference document');

type Json = Record<string, unknown>;
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'body';
  type?: string;
  required?: boolean;
  schema?: Json;
  [k: string]: unknown;
}
interface Operation {
  parameters?: Parameter[];
  responses: Record<string, { schema?: Json; description?: string }>;
  security?: unknown[];
}
interface SwaggerDoc {
  swagger: string;
  paths: Record<string, Record<string, Operation>>;
  securityDefinitions: Record<string, { type: string; name: string; in: string }>;
}

/**
 * Swagger 2.0 schema → JSON Schema (draft-07) as ajv reads it. The document is hapi-swagger
 * output from Joi; its extensions carry meaning:
 * - `x-nullable: true` → null allowed;
 * - `x-alternatives` (Joi.alternatives) → anyOf of the alternatives;
 * - `x-constraint: { unique: true }` on arrays → uniqueItems.
 * With `strictObjects`, objects with properties refuse unknown keys (Joi's default for bodies).
 */
function toJsonSchema(node: unknown, strictObjects: boolean): unknown {
  if (Array.isArray(node)) return node.map((n) => toJsonSchema(n, strictObjects));
  if (!node || typeof node !== 'object') return node;
  const s = node as Json;
  if (Array.isArray(s['x-alternatives'])) {
    const alts = (s['x-alternatives'] as unknown[]).map((a) => toJsonSchema(a, strictObjects));
    return s['x-nullable'] === true ? { anyOf: [...alts, { type: 'null' }] } : { anyOf: alts };
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith('x-')) continue;
    if (k === 'properties' && v && typeof v === 'object') {
      out.properties = Object.fromEntries(Object.entries(v as Json).map(([p, ps]) => [p, toJsonSchema(ps, strictObjects)]));
    } else if (k === 'items') {
      out.items = toJsonSchema(v, strictObjects);
    } else if (k === 'required' && !Array.isArray(v)) {
      // boolean `required` on a property is Swagger parameter syntax; not a JSON Schema keyword
    } else if (k === 'required' && s.type !== 'object' && !s.properties) {
      // hapi-swagger puts `required` on scalars at times; it constrains nothing there
    } else {
      out[k] = v;
    }
  }
  if ((s['x-constraint'] as Json | undefined)?.unique === true && s.type === 'array') out.uniqueItems = true;
  if (strictObjects && s.type === 'object' && s.properties && s.additionalProperties === undefined) out.additionalProperties = false;
  if (s['x-nullable'] === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    if (Array.isArray(out.enum)) out.enum = [...(out.enum as unknown[]), null];
  }
  return out;
}

class SpecValidator {
  private readonly ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  private readonly cache = new Map<string, ValidateFunction>();

  constructor(readonly doc: SwaggerDoc) {
    addFormats(this.ajv);
    // Joi.date() is rendered as `format: date`, but it takes (and the API returns) ISO date-times:
    // createdAt, updatedAt and the like are timestamps. Accept an ISO date or date-time.
    this.ajv.addFormat('date', /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/);
  }

  operation(path: string, method: string): Operation | undefined {
    return this.doc.paths[path]?.[method.toLowerCase()];
  }

  validator(key: string, schema: unknown, strictObjects: boolean): ValidateFunction {
    let v = this.cache.get(key);
    if (!v) {
      v = this.ajv.compile(toJsonSchema(schema, strictObjects) as object);
      this.cache.set(key, v);
    }
    return v;
  }

  errorsOf(v: ValidateFunction): string {
    return this.ajv.errorsText(v.errors, { separator: '\n' });
  }
}

/** A query value as the declared parameter type (Swagger query parameters are strings on the wire). */
function coerce(p: Parameter, raw: string): unknown {
  if (p.type === 'integer' || p.type === 'number') return /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  if (p.type === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw;
  if (p.type === 'array') return [coerce({ ...(p.items as Parameter), name: p.name, in: 'query' }, raw)];
  return raw;
}

function check(spec: SpecValidator, x: FakeExchange): string[] {
  const problems: string[] = [];
  const where = `${x.method} ${x.url} → ${x.status}`;
  if (x.specPath === null) return [`${where}: the fake answered a path it does not map to the document`];
  const op = spec.operation(x.specPath, x.method);
  if (!op) return [`${where}: the document has no ${x.method} ${x.specPath}`];
  const key = `${x.method} ${x.specPath}`;
  const params = op.parameters ?? [];

  // Path parameters: all declared ones are integers here.
  const names = [...x.specPath.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
  const segs = new URL(x.url, 'http://x').pathname.split('/');
  const tmpl = x.specPath.split('/');
  for (const n of names) {
    const p = params.find((q) => q.in === 'path' && q.name === n);
    const value = segs[tmpl.indexOf(`{${n}}`)];
    if (!p) problems.push(`${where}: path parameter ${n} is not declared`);
    else if (p.type === 'integer' && !/^\d+$/.test(value ?? '')) problems.push(`${where}: path parameter ${n}=${value} is not an integer`);
  }

  // Query parameters: declared, and valid for their declared type and constraints.
  for (const [k, raw] of new URL(x.url, 'http://x').searchParams) {
    const p = params.find((q) => q.in === 'query' && q.name === k);
    if (!p) {
      problems.push(`${where}: query parameter ${k} is not declared for ${key}`);
      continue;
    }
    const { name: _n, in: _i, required: _r, description: _d, collectionFormat: _c, ...schema } = p;
    const v = spec.validator(`${key} ?${k}`, schema, false);
    if (!v(coerce(p, raw))) problems.push(`${where}: query parameter ${k}=${raw}: ${spec.errorsOf(v)}`);
  }

  // Request body.
  const bodyParam = params.find((q) => q.in === 'body');
  if (x.requestBody !== undefined) {
    if (!bodyParam?.schema) problems.push(`${where}: a request body where the document declares none`);
    else {
      const v = spec.validator(`${key} body`, bodyParam.schema, true);
      const valid = v(x.requestBody);
      // A 400 is the fake refusing the body: the document must refuse it too.
      if (x.status === 400 && valid) problems.push(`${where}: the fake refused a body the document accepts: ${JSON.stringify(x.requestBody)}`);
      if (x.status !== 400 && !valid)
        problems.push(`${where}: request body does not match the document:\n${spec.errorsOf(v)}\n${JSON.stringify(x.requestBody)}`);
    }
  } else if (bodyParam?.schema && (bodyParam.required || (bodyParam.schema.required as unknown[] | undefined)?.length) && x.status < 400) {
    problems.push(`${where}: no request body where the document requires one`);
  }

  // Response. The document lists success responses only; errors are hapi's Boom bodies.
  if (x.status >= 400) {
    const b = x.responseBody as Json | undefined;
    if (!b || b.statusCode !== x.status || typeof b.error !== 'string' || typeof b.message !== 'string') {
      problems.push(`${where}: error body is not a Boom error ({ statusCode, error, message }): ${JSON.stringify(b)}`);
    }
    return problems;
  }
  const documented = op.responses[String(x.status)];
  if (!documented) {
    problems.push(`${where}: status ${x.status} is not documented for ${key} (documented: ${Object.keys(op.responses).join(', ')})`);
    return problems;
  }
  if (documented.schema) {
    const v = spec.validator(`${key} ${x.status}`, documented.schema, false);
    if (!v(x.responseBody)) problems.push(`${where}: response does not match the document:\n${spec.errorsOf(v)}`);
  } else if (x.responseBody !== undefined) {
    problems.push(`${where}: a response body where the document has none`);
  }
  return problems;
}

describe('Openpath fake and driver against the vendor Swagger document', () => {
  it('exchange only what the document describes, in its shapes', async (ctx) => {
    if (!specFile.present) return ctx.skip(specFile.skipMessage);
    const doc = specFile.load<SwaggerDoc>();
    expect(doc.swagger).toBe('2.0');
    // The auth scheme the driver and fake use is the one the document defines.
    expect(doc.securityDefinitions.jwt).toEqual({ type: 'apiKey', name: 'Authorization', in: 'header' });
    const spec = new SpecValidator(doc);

    const h = await startOpenpathHarness({ driver: { pageSize: 2, eventsLimit: 2, timeZone: 'UTC' } });
    const { driver, fake } = h;
    try {
      // Accounts: create, update, find, list over several pages.
      const a = await driver.upsertAccount({ externalId: 'S-1', displayName: 'Spec One', firstName: 'Spec', lastName: 'One', email: 's1@example.com' });
      await driver.upsertAccount({
        externalId: 'S-1',
        displayName: 'Spec Uno',
        email: 's1.uno@example.com',
        validity: { from: '2030-01-01T00:00:00.000Z', until: null },
      });
      const b = await driver.upsertAccount({ externalId: 'S 2 (odd)', displayName: 'Spec Two' });
      fake.seedUsers(3, { externalIdPrefix: 'seed-' });
      expect(await driver.findAccount('S-1')).not.toBeNull();
      expect(await driver.findAccount('S 2 (odd)')).not.toBeNull();
      expect(await driver.findAccount('absent')).toBeNull();
      for (let cursor: string | null = null, i = 0; i < 20; i++) {
        const page = await driver.listAccounts(cursor);
        if (!page.next) break;
        cursor = page.next;
      }
      await driver.listAccessGroups();

      // Groups and the user's dates.
      await driver.grant(a.id, '101', { from: null, until: '2031-01-01T00:00:00.000Z' });
      await driver.grant(a.id, '102', { from: '2030-01-01T00:00:00.000Z', until: null });
      await driver.revoke(a.id, '102');

      // Status, credentials, events.
      await driver.setAccountState(b.id, 'suspended');
      await driver.setAccountState(b.id, 'active');
      const card = String(fake.issueCredential(Number(a.id), 'cardOpenpathDesfireEv1').id);
      const wiegand = String(fake.issueCredential(Number(a.id), 'card').id);
      const { cursor } = await driver.readAccessEvents(null);
      fake.recordAccess({ userId: Number(a.id), credentialId: Number(card) });
      fake.recordAccess({ userId: Number(a.id), credentialId: Number(card), granted: false });
      fake.recordAccess({ userId: Number(a.id), credentialId: Number(wiegand) });
      let c: string | null = cursor;
      let seen = 0;
      for (let i = 0; i < 5; i++) {
        const r = await driver.readAccessEvents(c);
        seen += r.events.length;
        c = r.cursor;
      }
      expect(seen).toBe(3);
      await driver.setCredentialState(a.id, card, 'suspended');
      await driver.setCredentialState(a.id, card, 'lost');
      await driver.setCredentialState(a.id, card, 'active');
      await driver.setCredentialState(a.id, wiegand, 'revoked');

      // Failures: a refused body, a missing user, a bad token, a 429.
      await expect(driver.upsertAccount({ externalId: 'S-3', displayName: 'x'.repeat(101), email: 's3@example.com' })).rejects.toMatchObject({
        code: 'validation',
      });
      fake.failNext(429, { retryAfterSeconds: 0 });
      await driver.deleteAccount(b.id);
      expect(await driver.getAccount(b.id)).toBeNull();
      await driver.deleteAccount(b.id);
      const stranger = await createOpenpathDriver({ system: 'x', options: { url: fake.url, orgId: fake.orgId, token: 'nope' } });
      await expect(stranger.listAccessGroups()).rejects.toBeInstanceOf(LockstepError);
      await stranger.close();

      const exchanges = fake.exchanges;
      const problems = exchanges.flatMap((x) => check(spec, x));
      expect(problems, problems.join('\n\n')).toEqual([]);

      // Every operation the driver relies on was exercised, so a silent gap cannot pass.
      const covered = new Set(exchanges.filter((x) => x.status < 300).map((x) => `${x.method} ${x.specPath}`));
      for (const op of [
        'GET /orgs/{orgId}/groups',
        'GET /orgs/{orgId}/users',
        'POST /orgs/{orgId}/users',
        'GET /orgs/{orgId}/users/{userId}',
        'PATCH /orgs/{orgId}/users/{userId}',
        'DELETE /orgs/{orgId}/users/{userId}',
        'PUT /orgs/{orgId}/users/{userId}/status',
        'PATCH /orgs/{orgId}/users/{userId}/groupIds',
        'GET /orgs/{orgId}/users/{userId}/credentials',
        'PATCH /orgs/{orgId}/users/{userId}/credentials/{credentialId}',
        'DELETE /orgs/{orgId}/users/{userId}/credentials/{credentialId}',
        'GET /orgs/{orgId}/reports/activity/events',
      ]) {
        expect(covered, `not exercised: ${op}`).toContain(op);
      }
      expect(
        exchanges.some((x) => x.status === 400),
        'a refused body',
      ).toBe(true);
      expect(
        exchanges.some((x) => x.status === 401),
        'a refused token',
      ).toBe(true);
      expect(
        exchanges.some((x) => x.status === 404),
        'a missing user',
      ).toBe(true);
    } finally {
      await h.teardown();
    }
  });

  it('has teeth: the check refuses exchanges the document does not allow', (ctx) => {
    if (!specFile.present) return ctx.skip(specFile.skipMessage);
    const spec = new SpecValidator(specFile.load<SwaggerDoc>());
    const x = (over: Partial<FakeExchange>): FakeExchange => ({
      method: 'GET',
      url: '/orgs/1/users',
      specPath: '/orgs/{orgId}/users',
      status: 200,
      requestBody: undefined,
      responseBody: { totalCount: 0, filteredCount: 0, data: [] },
      injected: false,
      ...over,
    });
    expect(check(spec, x({}))).toEqual([]);
    const groupIds = {
      method: 'PATCH',
      url: '/orgs/1/users/2/groupIds',
      specPath: '/orgs/{orgId}/users/{userId}/groupIds',
      status: 204,
      responseBody: undefined,
    };
    expect(check(spec, x({ ...groupIds, requestBody: { add: [101] } }))).toEqual([]);
    const bad: Array<[string, FakeExchange]> = [
      ['group ids as strings', x({ ...groupIds, requestBody: { add: ['101'] } })],
      ['a duplicate group id', x({ ...groupIds, requestBody: { add: [101, 101] } })],
      [
        'an unknown body key',
        x({
          method: 'POST',
          specPath: '/orgs/{orgId}/users',
          status: 201,
          requestBody: { identity: { email: 'a@b.co' }, nickname: 'x' },
          responseBody: { data: { id: 1 } },
        }),
      ],
      ['a limit over 1000', x({ url: '/orgs/1/users?limit=5000' })],
      ['an undeclared query parameter', x({ url: '/orgs/1/users?bogus=1' })],
      [
        'an undocumented status',
        x({
          method: 'PUT',
          url: '/orgs/1/users/2/status',
          specPath: '/orgs/{orgId}/users/{userId}/status',
          status: 200,
          requestBody: { status: 'A' },
          responseBody: undefined,
        }),
      ],
      [
        'a status outside the enum',
        x({
          method: 'PUT',
          url: '/orgs/1/users/2/status',
          specPath: '/orgs/{orgId}/users/{userId}/status',
          status: 204,
          requestBody: { status: 'X' },
          responseBody: undefined,
        }),
      ],
      ['an id that is not a number', x({ url: '/orgs/1/users/2', specPath: '/orgs/{orgId}/users/{userId}', responseBody: { data: { id: 'two' } } })],
      ['a non-Boom error', x({ status: 404, responseBody: { message: 'no' } })],
      ['a user id that is not an integer', x({ url: '/orgs/1/users/abc', specPath: '/orgs/{orgId}/users/{userId}', responseBody: { data: { id: 1 } } })],
    ];
    for (const [what, ex] of bad) expect(check(spec, ex), what).not.toEqual([]);
  });

  it('logs in with an API user as the document describes', async (ctx) => {
    if (!specFile.present) return ctx.skip(specFile.skipMessage);
    const spec = new SpecValidator(specFile.load<SwaggerDoc>());
    const h = await startOpenpathHarness({
      fake: { login: { email: 'api@example.com', password: 's3cret' } },
      driver: { token: undefined, login: { email: 'api@example.com', password: 's3cret' } },
    });
    try {
      expect((await h.driver.listAccessGroups()).length).toBeGreaterThan(0);
      const problems = h.fake.exchanges.flatMap((x) => check(spec, x));
      expect(problems, problems.join('\n\n')).toEqual([]);
      expect(h.fake.exchanges.map((x) => `${x.method} ${x.specPath} ${x.status}`)).toContain('POST /auth/login 201');
    } finally {
      await h.teardown();
    }
  });
});
