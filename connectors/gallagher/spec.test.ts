import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { addFormats, referenceFile, SchemaCache } from '../../src/drivers/spec-exchange.js';
import { LockstepError } from '../../src/domain/errors.js';
import { createGallagherDriver } from './driver.js';
import type { FakeExchange } from './fake/index.js';
import { startGallagherHarness } from './harness.js';

/**
 * Spec conformance: drive the fake through the driver, record every exchange, and check
 * each response (and each request body the driver sent) against the schema cc_rest.yaml
 * gives for that path and method. The reference spec is not part of the repository; where
 * it is absent (users' clones) the test skips and says why.
 */

const specFile = referenceFile('gallagher/cc_rest.yaml', 'the reference document');

interface Operation {
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { content?: Record<string, { schema?: unknown }>; headers?: Record<string, unknown> } | undefined>;
}

class SpecValidator {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  private readonly paths: Record<string, Record<string, Operation>>;
  private readonly schemas = new SchemaCache(this.ajv);

  constructor(doc: { paths: Record<string, Record<string, Operation>>; components: unknown }) {
    addFormats(this.ajv);
    // cc_rest.yaml uses one format JSON Schema does not define.
    this.ajv.addFormat('time-stamp', true);
    this.paths = doc.paths;
    this.ajv.addSchema({ $id: 'cc', components: doc.components, paths: doc.paths });
  }

  operation(path: string, method: string): Operation | undefined {
    return this.paths[path]?.[method.toLowerCase()];
  }

  /** A validator for the schema at a JSON pointer into the spec (compiled once). */
  validator(pointer: string[]): ValidateFunction {
    const ref = SchemaCache.pointer('cc', pointer);
    return this.schemas.get(ref, () => ({ $ref: ref }));
  }

  errorsOf(v: ValidateFunction): string {
    return this.schemas.errorsOf(v);
  }
}

function check(spec: SpecValidator, x: FakeExchange): string[] {
  const problems: string[] = [];
  const where = `${x.method} ${x.url} → ${x.status}`;
  if (x.specPath === null) return problems;
  const op = spec.operation(x.specPath, x.method);
  if (!op) return [`${where}: the spec has no ${x.method} ${x.specPath}`];
  const method = x.method.toLowerCase();

  const reqSchema = op.requestBody?.content?.['application/json']?.schema;
  if (x.requestBody !== undefined && reqSchema) {
    const v = spec.validator(['paths', x.specPath, method, 'requestBody', 'content', 'application/json', 'schema']);
    if (!v(x.requestBody)) problems.push(`${where}: request body does not match the spec:\n${spec.errorsOf(v)}`);
  }

  const documented = op.responses?.[String(x.status)];
  // 401 (bad API key) and injected gateway faults are described in prose, not per operation.
  const undocumentedOk = x.injected || x.status === 401;
  if (!documented && !undocumentedOk) problems.push(`${where}: status ${x.status} is not documented for ${x.method} ${x.specPath}`);
  const schema = documented?.content?.['application/json']?.schema;
  if (schema) {
    const v = spec.validator(['paths', x.specPath, method, 'responses', String(x.status), 'content', 'application/json', 'schema']);
    if (!v(x.responseBody)) problems.push(`${where}: response does not match the spec:\n${spec.errorsOf(v)}`);
  } else if (x.responseBody !== undefined) {
    // Errors carry CC's { message } body.
    const v = spec.validator(['components', 'schemas', 'ErrorMessage']);
    if (x.status < 400) problems.push(`${where}: a body where the spec documents none`);
    else if (!v(x.responseBody)) problems.push(`${where}: error body is not an ErrorMessage:\n${spec.errorsOf(v)}`);
  }
  if (x.status === 201 && documented?.headers?.location && !x.responseHeaders.location) {
    problems.push(`${where}: 201 without the documented location header`);
  }
  return problems;
}

describe('Gallagher fake and driver against cc_rest.yaml', () => {
  it('exchange only what the spec describes, in its shapes', async (ctx) => {
    if (!specFile.present) return ctx.skip(specFile.skipMessage);
    const doc = specFile.load<ConstructorParameters<typeof SpecValidator>[0]>();
    const spec = new SpecValidator(doc);

    const h = await startGallagherHarness({ driver: { cardType: '600', emailField: 'email', pageSize: 2, eventsTop: 2 } });
    const { driver, fake } = h;
    try {
      // Accounts: create (with a card), update, find, list over several pages.
      const a = await driver.upsertAccount({ externalId: 'S-1', displayName: 'Spec One', firstName: 'Spec', lastName: 'One', email: 's1@example.com' });
      await driver.upsertAccount({ externalId: 'S-1', displayName: 'Spec Uno', email: 's1@example.com' });
      const b = await driver.upsertAccount({ externalId: 'S-2', displayName: 'Spec Two' });
      fake.seedCardholders(3, { linkPdf: 'lockstep id', linkGroupId: '360' });
      expect(await driver.findAccount('S-1')).not.toBeNull();
      expect(await driver.findAccount('absent')).toBeNull();
      for (let cursor: string | null = null, i = 0; i < 20; i++) {
        const page = await driver.listAccounts(cursor);
        if (!page.next) break;
        cursor = page.next;
      }
      await driver.listAccessGroups();

      // Memberships: add, update, collapse, stale href, revoke.
      await driver.grant(a.id, '352', { from: null, until: '2031-01-01T00:00:00.000Z' });
      await driver.grant(a.id, '352', { from: '2030-01-01T00:00:00.000Z', until: null });
      const cid = fake.resolveCardholder(a.id)!.id;
      fake.model.addMembership(fake.model.cardholders.get(cid)!, '352', undefined, '2020-01-01T00:00:00Z');
      let raced = false;
      fake.onRequest = (r) => {
        if (r.method === 'PATCH' && !raced) {
          raced = true;
          fake.rotateMembershipHrefs(cid);
        }
      };
      await driver.grant(a.id, '352', { from: null, until: null });
      fake.onRequest = undefined;
      await driver.grant(a.id, '353', { from: null, until: null });
      await driver.revoke(a.id, '353');

      // Account state, cards, events.
      await driver.setAccountState(b.id, 'suspended');
      await driver.setAccountState(b.id, 'active');
      const acct = await driver.getAccount(a.id);
      const card = acct!.credentials[0].id;
      const { cursor } = await driver.readAccessEvents(null);
      fake.recordAccess({ cardholderId: cid });
      fake.recordAccess({ cardholderId: cid, granted: false });
      fake.recordAccess({ cardholderId: cid });
      let c: string | null = cursor;
      for (let i = 0; i < 3; i++) c = (await driver.readAccessEvents(c)).cursor;
      await driver.setCredentialState(a.id, card, 'lost');
      await driver.setCredentialState(a.id, card, 'revoked');
      await driver.setCredentialState(a.id, card, 'active');

      // Failures CC documents: a write lock, a missing cardholder, a bad key; and a 429 from the gateway.
      fake.lockCardholder(cid);
      await expect(driver.setAccountState(a.id, 'suspended')).rejects.toBeInstanceOf(LockstepError);
      fake.unlockCardholder(cid);
      fake.failNext(429, { retryAfterSeconds: 0 });
      await driver.deleteAccount(b.id);
      expect(await driver.getAccount(b.id)).toBeNull();
      await driver.deleteAccount(b.id);
      const stranger = await createGallagherDriver({ system: 'x', options: { url: fake.url, apiKey: 'nope', division: '/d' } });
      await expect(stranger.listAccessGroups()).rejects.toMatchObject({ code: 'auth' });
      await stranger.close();

      const exchanges = fake.exchanges;
      const problems = exchanges.flatMap((x) => check(spec, x));
      expect(problems, problems.join('\n\n')).toEqual([]);

      // The discovery document is not in cc_rest.yaml; check the shape its prose describes.
      const discovery = exchanges.find((x) => x.specPath === null && x.status === 200)?.responseBody as {
        features: Record<string, Record<string, { href: string }>>;
      };
      expect(typeof discovery.features.cardholders.cardholders.href).toBe('string');

      // Every operation the driver relies on was exercised, so a silent gap cannot pass.
      const covered = new Set(exchanges.filter((x) => x.specPath).map((x) => `${x.method} ${x.specPath}`));
      for (const op of [
        'GET /api/cardholders',
        'POST /api/cardholders',
        'GET /api/cardholders/{id}',
        'PATCH /api/cardholders/{id}',
        'DELETE /api/cardholders/{id}',
        'GET /api/access_groups',
        'GET /api/personal_data_fields',
        'GET /api/card_types/assign',
        'GET /api/events',
      ]) {
        expect(covered, `not exercised: ${op}`).toContain(op);
      }
      expect(
        exchanges.some((x) => x.status === 400 && x.method === 'PATCH'),
        'the stale-href PATCH',
      ).toBe(true);
      expect(
        exchanges.some((x) => x.status === 409),
        'the write lock',
      ).toBe(true);
    } finally {
      await h.teardown();
    }
  });
});
