import { Ajv, type ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import { referenceFile, SchemaCache } from '../../src/drivers/spec-exchange.js';
import { LockstepError } from '../../src/domain/errors.js';
import { createUhppotedDriver } from './driver.js';
import type { FakeExchange } from './fake/index.js';
import { HARNESS_CONTROLLERS, HARNESS_GROUPS, startUhppotedHarness } from './harness.js';

/**
 * Spec conformance: drive the fake through the driver (and the fake's own extra endpoints
 * directly), record every exchange, and check each one against uhppoted-api.yaml (OpenAPI
 * 3.0.3): the path and method exist, path parameters have the declared type, request bodies
 * and responses match the schema declared for that status, and the status is one the
 * operation documents. The reference spec is not part of the repository; where it is absent
 * (users' clones) the test skips and says why.
 */

const specFile = referenceFile('uhppoted/uhppoted-api.yaml', 'the reference document');

interface Parameter {
  name: string;
  in: string;
  schema?: { type?: string };
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> } | undefined>;
}
interface SpecDoc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
}

/**
 * The spec's `format`s are prose ("yyyy-MM-dd", "uint32", "IPv4 address"). Those with a
 * precise meaning are checked; the rest are descriptions and accepted.
 */
const FORMATS: Record<string, { type?: 'number' | 'string'; validate: RegExp | ((x: never) => boolean) }> = {
  'yyyy-MM-dd': { type: 'string', validate: /^\d{4}-\d{2}-\d{2}$/ },
  'yyyy-mm-dd': { type: 'string', validate: /^\d{4}-\d{2}-\d{2}$/ },
  'yyyy-MM-dd HH:mm:ss': { type: 'string', validate: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/ },
  'yyyy-mm-dd HH:mm:ss': { type: 'string', validate: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/ },
  uint32: { type: 'number', validate: (x: number) => Number.isInteger(x) && x >= 0 && x <= 4_294_967_295 },
  uint8: { type: 'number', validate: (x: number) => Number.isInteger(x) && x >= 0 && x <= 255 },
  'IPv4 address': { type: 'string', validate: /^(\d{1,3}\.){3}\d{1,3}$/ },
};

function formatsIn(node: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(node)) for (const x of node) formatsIn(x, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'format' && typeof v === 'string') out.add(v);
      else formatsIn(v, out);
    }
  }
  return out;
}

class SpecValidator {
  private readonly ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  private readonly schemas = new SchemaCache(this.ajv);

  constructor(private readonly doc: SpecDoc) {
    for (const f of formatsIn(doc, new Set())) {
      const known = FORMATS[f];
      if (known) this.ajv.addFormat(f, known as never);
      else this.ajv.addFormat(f, true);
    }
    this.ajv.addSchema({ $id: 'uh', components: doc.components, paths: doc.paths });
  }

  operation(path: string, method: string): Operation | undefined {
    return this.doc.paths[path]?.[method.toLowerCase()];
  }

  validator(pointer: string[]): ValidateFunction {
    const ref = SchemaCache.pointer('uh', pointer);
    return this.schemas.get(ref, () => ({ $ref: ref }));
  }

  errorsOf(v: ValidateFunction): string {
    return this.schemas.errorsOf(v);
  }
}

function check(spec: SpecValidator, x: FakeExchange): string[] {
  const where = `${x.method} ${x.url} → ${x.status}`;
  if (x.specPath === null) return [`${where}: not a path of the spec`];
  const op = spec.operation(x.specPath, x.method);
  if (!op) return [`${where}: the spec has no ${x.method} ${x.specPath}`];
  const problems: string[] = [];
  const method = x.method.toLowerCase();

  // Path parameters: integers where the spec says integer/number.
  const names = [...x.specPath.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
  const values = new RegExp(`^/uhppote${x.specPath.replace(/\{[^}]+\}/g, '([^/]+)')}$`).exec(x.url.split('?')[0])?.slice(1) ?? [];
  names.forEach((name, i) => {
    const p = op.parameters?.find((q) => q.name === name && q.in === 'path');
    if (!p) problems.push(`${where}: path parameter ${name} is not declared`);
    else if ((p.schema?.type === 'integer' || p.schema?.type === 'number') && !/^\d+$/.test(values[i] ?? '') && x.status < 400) {
      problems.push(`${where}: path parameter ${name}=${values[i]} is not a ${p.schema.type}`);
    }
  });

  const reqSchema = op.requestBody?.content?.['application/json']?.schema;
  if (x.requestBody !== undefined) {
    if (!reqSchema) problems.push(`${where}: a request body where the spec takes none`);
    else if (x.status < 400) {
      const v = spec.validator(['paths', x.specPath, method, 'requestBody', 'content', 'application/json', 'schema']);
      if (!v(x.requestBody)) problems.push(`${where}: request body does not match the spec:\n${spec.errorsOf(v)}`);
    }
  }

  const documented = op.responses?.[String(x.status)];
  // 401 (the API's basic/HOTP security, declared globally) and injected faults are not per operation.
  const undocumentedOk = x.injected || x.status === 401;
  if (!documented && !undocumentedOk) problems.push(`${where}: status ${x.status} is not documented for ${x.method} ${x.specPath}`);
  const schema = documented?.content?.['application/json']?.schema;
  if (schema) {
    const v = spec.validator(['paths', x.specPath, method, 'responses', String(x.status), 'content', 'application/json', 'schema']);
    if (!v(x.responseBody)) problems.push(`${where}: response does not match the spec:\n${spec.errorsOf(v)}`);
  } else if (x.responseBody !== undefined) {
    if (x.status < 400) problems.push(`${where}: a body where the spec documents none`);
    else {
      const v = spec.validator(['components', 'schemas', 'Error']);
      if (!v(x.responseBody)) problems.push(`${where}: error body is not an Error:\n${spec.errorsOf(v)}`);
    }
  }
  return problems;
}

describe('uhppoted fake and driver against uhppoted-api.yaml', () => {
  it('exchange only what the spec describes, in its shapes', async (ctx) => {
    if (!specFile.present) return ctx.skip(specFile.skipMessage);
    const spec = new SpecValidator(specFile.load<SpecDoc>());
    const h = await startUhppotedHarness({ driver: { pageSize: 2, eventsBatch: 2 } });
    const { driver, fake } = h;
    const [c1, c2] = HARNESS_CONTROLLERS;
    try {
      // Accounts: create, rename, find, list over pages (seeded cards too).
      const a = await driver.upsertAccount({ externalId: 'S-1', displayName: 'Spec One' });
      await driver.upsertAccount({ externalId: 'S-1', displayName: 'Spec Uno', validity: { from: '2030-01-01T00:00:00.000Z', until: null } });
      const b = await driver.upsertAccount({ externalId: 'S-2', displayName: 'Spec Two' });
      await h.seedAccounts(3);
      expect(await driver.findAccount('S-1')).not.toBeNull();
      expect(await driver.findAccount('absent')).toBeNull();
      expect(await driver.getAccount('4000000001')).toBeNull();
      for (let cursor: string | null = null, i = 0; i < 20; i++) {
        const page = await driver.listAccounts(cursor);
        if (!page.next) break;
        cursor = page.next;
      }
      await driver.listAccessGroups();

      // Doors: grant (with a time profile), re-grant, revoke.
      await driver.grant(a.id, 'entrance', { from: null, until: '2031-01-01T00:00:00.000Z' });
      await driver.grant(a.id, 'vault', { from: null, until: null });
      await driver.grant(a.id, 'entrance', { from: null, until: null });
      await driver.revoke(a.id, 'vault');
      await driver.revoke(a.id, 'lab');

      // State, events, deletion.
      await driver.setAccountState(b.id, 'suspended');
      await driver.setAccountState(b.id, 'active');
      const { cursor } = await driver.readAccessEvents(null);
      fake.swipe(c1, 1, Number(a.id), true);
      fake.doorEvent(c2, 2);
      fake.swipe(c2, 1, Number(a.id), false);
      let c: string | null = cursor;
      for (let i = 0; i < 3; i++) c = (await driver.readAccessEvents(c)).cursor;
      fake.failNext(429, { retryAfterSeconds: 0 });
      await driver.deleteAccount(b.id);
      await driver.deleteAccount(b.id);
      expect(await driver.getAccount(b.id)).toBeNull();
      const stranger = await createUhppotedDriver({
        system: 'x',
        options: { url: fake.url, username: 'lockstep', password: 'wrong', groups: HARNESS_GROUPS, cardNumbers: 'derive' },
      });
      await expect(stranger.listAccessGroups()).rejects.toMatchObject({ code: 'auth' });
      await stranger.close();

      // The fake's endpoints the driver does not use, and its refusals, answered per the spec too.
      const auth = { authorization: `Basic ${Buffer.from('lockstep:secret').toString('base64')}`, 'content-type': 'application/json' };
      const call = (method: string, path: string, body?: unknown) =>
        fetch(`${fake.url}${path}`, { method, headers: auth, body: body === undefined ? undefined : JSON.stringify(body) }).then((r) => r.status);
      expect(await call('GET', `/device/${c1}`)).toBe(200);
      expect(await call('GET', '/device/1234')).toBe(404);
      expect(await call('POST', `/device/${c1}/door/1/swipes`, { 'card-number': Number(a.id) })).toBe(200);
      expect(await call('POST', `/device/${c1}/door/4/swipes`, { 'card-number': Number(a.id) })).toBe(401);
      expect(await call('PUT', `/device/${c1}/card/77`, { 'start-date': '2024-13-01', 'end-date': '2024-12-31', doors: {}, PIN: 0 })).toBe(405);
      expect(await call('GET', `/device/${c1}/event/first`)).toBe(200);
      expect(await call('GET', `/device/${c1}/event/next`)).toBe(200);
      expect(fake.controller(c1).current, "reading 'next' moves the controller's pointer").toBe(1);
      expect(await call('GET', `/device/${c1}/event/999999`)).toBe(404);
      await expect(driver.grant('77', 'lab', { from: null, until: null })).rejects.toBeInstanceOf(LockstepError);

      const exchanges = fake.exchanges;
      const problems = exchanges.flatMap((x) => check(spec, x));
      expect(problems, problems.join('\n\n')).toEqual([]);

      // The checks bite: a card without its PIN, a bad date, an undocumented status.
      const base = { url: `/uhppote/device/${c1}/card/5`, specPath: '/device/{device-id}/card/{card-number}', injected: false, requestBody: undefined };
      const card = { 'card-number': 5, 'start-date': '2024-01-01', 'end-date': '2024-12-31', doors: { '1': true } };
      expect(check(spec, { ...base, method: 'GET', status: 200, responseBody: { card } })).not.toEqual([]);
      expect(check(spec, { ...base, method: 'GET', status: 200, responseBody: { card: { ...card, PIN: 0, 'end-date': '31.12.2024' } } })).not.toEqual([]);
      expect(check(spec, { ...base, method: 'GET', status: 200, responseBody: { card: { ...card, PIN: 0 } } })).toEqual([]);
      expect(
        check(spec, { ...base, method: 'PUT', status: 200, requestBody: { 'start-date': '2024-01-01', doors: {}, PIN: 0 }, responseBody: undefined }),
      ).not.toEqual([]);
      expect(check(spec, { ...base, method: 'PUT', status: 409, responseBody: { tag: 'x', message: 'y' } })).not.toEqual([]);

      const covered = new Set(exchanges.filter((x) => x.status < 300).map((x) => `${x.method} ${x.specPath}`));
      for (const op of [
        'GET /device',
        'GET /device/{device-id}/cards',
        'GET /device/{device-id}/card/{card-number}',
        'PUT /device/{device-id}/card/{card-number}',
        'DELETE /device/{device-id}/card/{card-number}',
        'GET /device/{device-id}/events',
        'GET /device/{device-id}/event/{event-index}',
      ]) {
        expect(covered, `not exercised: ${op}`).toContain(op);
      }
      expect(
        exchanges.some((x) => x.status === 404 && x.specPath === '/device/{device-id}/card/{card-number}'),
        'a card that is not there',
      ).toBe(true);
      // Time profiles are sent as the door's value, as CardDetails allows.
      const vaultPut = exchanges.find(
        (x) => x.method === 'PUT' && x.url.startsWith(`/uhppote/device/${c2}/card/`) && (x.requestBody as { doors: Record<string, unknown> }).doors['3'] === 29,
      );
      expect(vaultPut, 'the vault door granted with its time profile').toBeDefined();
    } finally {
      await h.teardown();
    }
  });
});
