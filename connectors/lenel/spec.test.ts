import { Ajv, type ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import { addFormats, referenceFile } from '../../src/drivers/spec-exchange.js';
import { LockstepError } from '../../src/domain/errors.js';
import { createLenelDriver } from './driver.js';
import type { FakeExchange } from './fake/index.js';
import { startLenelHarness } from './harness.js';

/**
 * Spec conformance: drive the fake through the driver, record every exchange, and check each
 * against the OpenAccess 7.5 Swagger 2.0 document: the path and method exist, every query
 * parameter is declared (after resolving `#/parameters/…`) and valid for its type and bounds
 * (page_size ≤ 100), required ones (version, type_name, filter) are there, the request body
 * matches the body parameter's schema, the security headers the operation asks for were sent,
 * and the response matches the schema of its status (`default` → Error for failures). The
 * document types `property_value_map` as a bare object: the Lnl_* property names are the
 * fake's (DataConduIT's) and not checked here. The document is not part of the repository;
 * without it the test skips.
 */

const specFile = referenceFile('lenel/openaccess-swagger-7.5.yaml', 'the reference document');

type Json = Record<string, unknown>;
interface Parameter {
  $ref?: string;
  name: string;
  in: 'path' | 'query' | 'header' | 'body';
  type?: string;
  required?: boolean;
  schema?: Json;
  [k: string]: unknown;
}
interface Operation {
  parameters?: Parameter[];
  responses: Record<string, { $ref?: string; schema?: Json; description?: string }>;
  security?: Array<Record<string, unknown>>;
}
interface SwaggerDoc {
  swagger: string;
  basePath: string;
  paths: Record<string, Record<string, Operation>>;
  parameters: Record<string, Parameter>;
  responses: Record<string, { schema?: Json }>;
  definitions: Record<string, unknown>;
  securityDefinitions: Record<string, { type: string; name: string; in: string }>;
  security: Array<Record<string, unknown>>;
}

const JSON_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);

/**
 * `#/definitions/X` → `oa#/definitions/X`, so that ajv resolves it in the document added under
 * that id. One repair: the document writes `type: int32` once (BadgePrinter.badge_type_id), a
 * format where a type belongs; it is read as `type: integer, format: int32`.
 */
function rebase(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rebase);
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/')) out[k] = `oa${v}`;
    else if (k === 'type' && typeof v === 'string' && !JSON_TYPES.has(v)) Object.assign(out, { type: 'integer', format: v });
    else out[k] = rebase(v);
  }
  return out;
}

class SpecValidator {
  private readonly ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  private readonly cache = new Map<string, ValidateFunction>();

  constructor(readonly doc: SwaggerDoc) {
    addFormats(this.ajv);
    for (const f of ['int32', 'int64', 'password']) this.ajv.addFormat(f, true);
    this.ajv.addSchema({ $id: 'oa', definitions: rebase(doc.definitions) });
  }

  operation(path: string, method: string): Operation | undefined {
    return this.doc.paths[path]?.[method.toLowerCase()];
  }

  parameters(op: Operation): Parameter[] {
    return (op.parameters ?? []).map((p) => (p.$ref ? this.doc.parameters[p.$ref.replace('#/parameters/', '')] : p));
  }

  response(op: Operation, status: number): { schema?: Json } | undefined {
    const r = op.responses[String(status)] ?? (status >= 400 ? op.responses.default : undefined);
    return r?.$ref ? this.doc.responses[r.$ref.replace('#/responses/', '')] : r;
  }

  validator(key: string, schema: unknown): ValidateFunction {
    let v = this.cache.get(key);
    if (!v) {
      v = this.ajv.compile(rebase(schema) as object);
      this.cache.set(key, v);
    }
    return v;
  }

  errorsOf(v: ValidateFunction): string {
    return this.ajv.errorsText(v.errors, { separator: '\n' });
  }
}

function coerce(p: Parameter, raw: string): unknown {
  if (p.type === 'integer' || p.type === 'number') return /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  if (p.type === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw;
  return raw;
}

function check(spec: SpecValidator, x: FakeExchange): string[] {
  const problems: string[] = [];
  const where = `${x.method} ${x.url} → ${x.status}`;
  if (x.specPath === null) return [`${where}: the fake answered a path it does not map to the document`];
  const op = spec.operation(x.specPath, x.method);
  if (!op) return [`${where}: the document has no ${x.method} ${x.specPath}`];
  const key = `${x.method} ${x.specPath}`;
  const params = spec.parameters(op);
  const query = new URL(x.url, 'http://x').searchParams;

  for (const [k, raw] of query) {
    const p = params.find((q) => q.in === 'query' && q.name === k);
    if (!p) {
      problems.push(`${where}: query parameter ${k} is not declared for ${key}`);
      continue;
    }
    const { name: _n, in: _i, required: _r, description: _d, ...schema } = p;
    const v = spec.validator(`${key} ?${k}`, schema);
    if (!v(coerce(p, raw))) problems.push(`${where}: query parameter ${k}=${raw}: ${spec.errorsOf(v)}`);
  }
  if (!x.injected) {
    for (const p of params) if (p.in === 'query' && p.required && !query.has(p.name)) problems.push(`${where}: required query parameter ${p.name} is missing`);
  }

  // Security: the operation's own list, or the document's (Application-Id and Session-Token).
  const schemes = (op.security ?? spec.doc.security).flatMap((s) => Object.keys(s));
  for (const s of schemes) {
    const h = spec.doc.securityDefinitions[s].name.toLowerCase();
    if (!x.injected && x.status !== 401 && x.requestHeaders[h] === undefined)
      problems.push(`${where}: header ${spec.doc.securityDefinitions[s].name} not sent`);
  }

  const bodyParam = params.find((q) => q.in === 'body');
  if (x.requestBody !== undefined) {
    if (!bodyParam?.schema) problems.push(`${where}: a request body where the document declares none`);
    else {
      const v = spec.validator(`${key} body`, bodyParam.schema);
      if (!v(x.requestBody)) problems.push(`${where}: request body does not match the document:\n${spec.errorsOf(v)}\n${JSON.stringify(x.requestBody)}`);
    }
  } else if (bodyParam?.required && x.status < 400) {
    problems.push(`${where}: no request body where the document requires one`);
  }

  const documented = spec.response(op, x.status);
  if (!documented) {
    problems.push(`${where}: status ${x.status} is not documented for ${key} (documented: ${Object.keys(op.responses).join(', ')})`);
    return problems;
  }
  if (documented.schema) {
    const v = spec.validator(`${key} ${x.status >= 400 ? 'error' : x.status}`, documented.schema);
    if (!v(x.responseBody)) problems.push(`${where}: response does not match the document:\n${spec.errorsOf(v)}`);
  }
  if (x.status >= 400) {
    // The Error schema makes nothing required; an error without code and message would say nothing.
    const e = (x.responseBody as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    if (typeof e?.code !== 'string' || typeof e.message !== 'string')
      problems.push(`${where}: error body without error.code and error.message: ${JSON.stringify(x.responseBody)}`);
  }
  return problems;
}

const skipMessage = `the reference document is not here (${specFile.path}); it is not distributed with lockstep`;
const loadSpec = (): SpecValidator => new SpecValidator(specFile.load<SwaggerDoc>());

describe('Lenel OpenAccess fake and driver against the vendor Swagger document', () => {
  it('exchange only what the document describes, in its shapes', async (ctx) => {
    if (!specFile.present) return ctx.skip(skipMessage);
    const spec = loadSpec();
    expect(spec.doc.swagger).toBe('2.0');
    expect(spec.doc.basePath).toBe('/api/access/onguard/openaccess');
    expect(spec.doc.securityDefinitions.ApplicationId).toEqual({ type: 'apiKey', name: 'Application-Id', in: 'header' });
    expect(spec.doc.securityDefinitions.SessionToken).toEqual({ type: 'apiKey', name: 'Session-Token', in: 'header' });

    const h = await startLenelHarness({ driver: { pageSize: 2, eventsPageSize: 2 } });
    const { driver, fake } = h;
    try {
      const a = await driver.upsertAccount({ externalId: 'S-1', displayName: 'Spec One', firstName: 'Spec', lastName: 'One', email: 's1@example.com' });
      await driver.upsertAccount({ externalId: 'S-1', displayName: 'Spec Uno', email: 's1.uno@example.com' });
      const b = await driver.upsertAccount({ externalId: 'S "2" \\ odd', displayName: 'Spec Two' });
      fake.seedCardholders(3, { ssnoPrefix: 'seed-' });
      expect(await driver.findAccount('S "2" \\ odd')).not.toBeNull();
      expect(await driver.findAccount('absent')).toBeNull();
      for (let cursor: string | null = null, i = 0; i < 20; i++) {
        const page = await driver.listAccounts(cursor);
        if (!page.next) break;
        cursor = page.next;
      }
      await driver.listAccessGroups();

      await driver.grant(a.id, '1', { from: null, until: '2031-01-01T00:00:00.000Z' });
      await driver.grant(a.id, '1', { from: '2030-01-01T00:00:00.000Z', until: '2031-01-01T00:00:00.000Z' });
      await driver.grant(a.id, '2', { from: null, until: null });
      await driver.revoke(a.id, '2');

      const badge = (await driver.getAccount(a.id))!.credentials[0].id;
      await driver.setCredentialState(a.id, badge, 'suspended');
      await driver.setCredentialState(a.id, badge, 'active');
      const { cursor } = await driver.readAccessEvents(null);
      fake.recordAccess({ badgeKey: Number(badge) });
      fake.recordAlarm();
      fake.recordAccess({ badgeKey: Number(badge), granted: false });
      fake.recordAccess({ badgeKey: Number(badge) });
      let c: string | null = cursor;
      let seen = 0;
      for (let i = 0; i < 5; i++) {
        const r = await driver.readAccessEvents(c);
        seen += r.events.length;
        c = r.cursor;
      }
      expect(seen).toBe(3);

      // Failures: a refused property, an expired session, a 429, a wrong login.
      await expect(driver.upsertAccount({ externalId: 'S-3', displayName: 'x'.repeat(65) })).rejects.toMatchObject({ code: 'validation' });
      fake.expireSessions();
      fake.failNext(429, { retryAfterSeconds: 0 });
      await driver.deleteAccount(b.id);
      expect(await driver.getAccount(b.id)).toBeNull();
      await driver.deleteAccount(b.id);
      const stranger = await createLenelDriver({
        system: 'x',
        options: { url: fake.url, applicationId: fake.applicationId, userName: 'lockstep', password: 'nope' },
      });
      await expect(stranger.listAccessGroups()).rejects.toBeInstanceOf(LockstepError);
      await stranger.close();
      await driver.close();

      const exchanges = fake.exchanges;
      const problems = exchanges.flatMap((x) => check(spec, x));
      expect(problems, problems.join('\n\n')).toEqual([]);

      const covered = new Set(exchanges.filter((x) => x.status < 300).map((x) => `${x.method} ${x.specPath}`));
      for (const op of [
        'POST /authentication',
        'DELETE /authentication',
        'GET /instances',
        'POST /instances',
        'PUT /instances',
        'DELETE /instances',
        'GET /logged_events',
        'GET /settings/cardholder',
      ]) {
        expect(covered, `not exercised: ${op}`).toContain(op);
      }
      const types = new Set(
        exchanges.filter((x) => x.status < 300).map((x) => `${x.method} ${new URL(x.url, 'http://x').searchParams.get('type_name') ?? ''}`),
      );
      for (const t of [
        'GET Lnl_Cardholder',
        'POST Lnl_Cardholder',
        'PUT Lnl_Cardholder',
        'DELETE Lnl_Cardholder',
        'GET Lnl_Badge',
        'POST Lnl_Badge',
        'PUT Lnl_Badge',
        'GET Lnl_AccessLevel',
        'GET Lnl_BadgeStatus',
        'GET Lnl_AccessLevelAssignment',
        'POST Lnl_AccessLevelAssignment',
        'PUT Lnl_AccessLevelAssignment',
        'DELETE Lnl_AccessLevelAssignment',
      ]) {
        expect(types, `not exercised: ${t}`).toContain(t);
      }
      expect(
        exchanges.some((x) => x.status === 400),
        'a refused property',
      ).toBe(true);
      expect(
        exchanges.some((x) => x.status === 401 && x.specPath === '/instances'),
        'an expired session',
      ).toBe(true);
      expect(
        exchanges.some((x) => x.status === 401 && x.specPath === '/authentication'),
        'a refused login',
      ).toBe(true);
    } finally {
      await fake.close();
    }
  });

  it('has teeth: the check refuses exchanges the document does not allow', (ctx) => {
    if (!specFile.present) return ctx.skip(skipMessage);
    const spec = loadSpec();
    const headers = { 'application-id': 'app', 'session-token': '(set)' };
    const x = (over: Partial<FakeExchange>): FakeExchange => ({
      method: 'GET',
      url: '/instances?type_name=Lnl_Cardholder&version=1.0',
      specPath: '/instances',
      status: 200,
      requestHeaders: headers,
      requestBody: undefined,
      responseBody: { count: 0, item_list: [], page_number: 1, page_size: 20, total_items: 0, total_pages: 0, version: '1.0' },
      injected: false,
      ...over,
    });
    expect(check(spec, x({}))).toEqual([]);
    const bad: Array<[string, FakeExchange]> = [
      ['a page_size over 100', x({ url: '/instances?type_name=Lnl_Cardholder&version=1.0&page_size=500' })],
      ['a page_number of 0', x({ url: '/instances?type_name=Lnl_Cardholder&version=1.0&page_number=0' })],
      ['no version', x({ url: '/instances?type_name=Lnl_Cardholder' })],
      ['no type_name', x({ url: '/instances?version=1.0' })],
      ['an undeclared query parameter', x({ url: '/instances?type_name=Lnl_Cardholder&version=1.0&limit=5' })],
      ['no Session-Token', x({ requestHeaders: { 'application-id': 'app', 'session-token': undefined } })],
      ['logged events without a filter', x({ url: '/logged_events?version=1.0', specPath: '/logged_events', responseBody: { item_list: [] } })],
      ['item_list not an array', x({ responseBody: { item_list: {} } })],
      [
        'a serial number that is a string',
        x({ url: '/logged_events?version=1.0&filter=x', specPath: '/logged_events', responseBody: { item_list: [{ serial_number: 'one' }] } }),
      ],
      ['property_value_map not an object', x({ method: 'POST', requestBody: { property_value_map: 'x' }, responseBody: { property_value_map: {} } })],
      ['an error without a code', x({ status: 400, responseBody: { error: { message: 'no' }, version: '1.0' } })],
      ['an undocumented path', x({ url: '/cardholders/1', specPath: '/cardholders/{id}' })],
    ];
    for (const [what, ex] of bad) expect(check(spec, ex), what).not.toEqual([]);
  });
});
