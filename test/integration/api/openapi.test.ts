import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Router } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, ROUTE_ROLES, type SourcePullResult } from '../../../src/api/index.js';
import { CONSOLE_ROUTE_ROLES, createConsoleApi } from '../../../src/api/console.js';
import { upsertIdentity } from '../../../src/store/index.js';
import { OPENAPI_PATH, renderOpenApi } from '../../../scripts/gen-openapi.js';
import { createTestEngine, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from '../reconcile/mappings.js';

/**
 * The OpenAPI document: served as committed (docs/openapi.json, `npm run gen:openapi`), listing
 * every route the app registers with the roles the router enforces, and describing what real
 * responses look like (checked with ajv against the document's own schemas).
 */

const TOKEN = 'admin-token-openapi-0123456789';

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { 'x-lockstep-roles'?: string[]; responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
  components: { schemas: Record<string, unknown> };
};

interface Layer {
  route?: { path: string; methods: Record<string, boolean>; stack: Array<{ handle: { roles?: readonly string[] } }> };
  handle: { stack?: Layer[]; roles?: readonly string[] };
  rawPath?: string;
}

/** Every route on the router, as `METHOD /full/path` (express syntax), with the roles its guard asks for. */
function routesOf(stack: Layer[], prefix = '', guard?: readonly string[]): Array<{ key: string; roles?: readonly string[] }> {
  const out: Array<{ key: string; roles?: readonly string[] }> = [];
  let inherited = guard;
  for (const layer of stack) {
    if (layer.route) {
      const roles = layer.route.stack.map((l) => l.handle.roles).find(Boolean) ?? inherited;
      for (const m of Object.keys(layer.route.methods)) out.push({ key: `${m.toUpperCase()} ${prefix}${layer.route.path}`, roles });
    } else if (layer.handle.stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      out.push(...routesOf(layer.handle.stack, prefix + mount, inherited));
    } else if (layer.handle.roles) {
      inherited = layer.handle.roles;
    }
  }
  return out;
}

describe('OpenAPI document', () => {
  let e: TestEngine;
  let server: Server;
  let base: string;
  let app: ReturnType<typeof createApp>;
  let closeConsole: () => void = () => undefined;
  const get = async (path: string, token: string | null = TOKEN) => {
    const res = await fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const text = await res.text();
    return {
      status: res.status,
      text,
      type: res.headers.get('content-type') ?? '',
      json: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : null,
    };
  };

  beforeAll(async () => {
    e = await createTestEngine('postgres', MAPPINGS, { now: '2026-06-01T08:00:00Z' });
    const syncSource = async (): Promise<SourcePullResult> => ({
      type: 'file',
      result: { source: 'hr', rows: 0, created: 0, updated: 0, unchanged: 0, leavers: 0, errors: [], leaversWithheld: null } as never,
    });
    const consoleApi = createConsoleApi({
      ctx: e.ctx,
      mappingPaths: [],
      systems: ['dc1'],
      metrics: async () => [],
      overdue: async () => ({ count: 0, oldestSince: null }),
    });
    closeConsole = consoleApi.close;
    app = createApp({
      ctx: e.ctx,
      adminTokens: [TOKEN],
      bodyLimitBytes: 65_536,
      syncSource,
      metrics: async () => ({ contentType: 'text/plain', body: '' }),
      readiness: async () => ({ ok: true, details: {} }),
      console: consoleApi.router,
    });
    server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    await upsertIdentity(e.ctx.db, {
      source: 'hr',
      externalId: 'E1',
      userName: 'ada@example.com',
      displayName: 'Ada',
      employeeType: 'Employee',
      groups: ['DC Operations'],
    });
  });
  afterAll(async () => {
    closeConsole();
    await new Promise<void>((r) => server.close(() => r()));
    await e.close();
  });

  it('is served without authentication exactly as committed in docs/openapi.json (run npm run gen:openapi when this fails)', async () => {
    const served = await get('/api/v1/openapi.json', null);
    expect(served.status).toBe(200);
    expect(served.json.openapi).toBe('3.1.0');
    const committed = await readFile(OPENAPI_PATH, 'utf8');
    expect(`${JSON.stringify(served.json, null, 2)}\n`).toBe(committed);
    expect(renderOpenApi()).toBe(committed);
  });

  it('lists every route the app registers, with the roles its guard enforces', () => {
    const doc = JSON.parse(renderOpenApi()) as Doc;
    const documented = new Map<string, string[] | undefined>();
    for (const [path, item] of Object.entries(doc.paths))
      for (const [m, op] of Object.entries(item)) documented.set(`${m.toUpperCase()} ${path}`, op['x-lockstep-roles']);
    const registered = routesOf((app as unknown as { router: Router & { stack: Layer[] } }).router.stack);
    const keys = registered.map((r) => r.key.replace(/:([A-Za-z_]+)/g, '{$1}'));
    expect(keys.length).toBeGreaterThan(20);
    expect(keys.filter((k) => !documented.has(k))).toEqual([]);
    expect([...documented.keys()].filter((k) => !keys.includes(k))).toEqual([]);
    for (const r of registered) {
      const key = r.key.replace(/:([A-Za-z_]+)/g, '{$1}');
      if (!key.split(' ')[1].startsWith('/api/v1/') || key.endsWith('/openapi.json') || key.endsWith('/docs')) continue;
      // the console guards its routes with its own table (src/api/console.ts), which the document lists
      if (Object.hasOwn(CONSOLE_ROUTE_ROLES, r.key.replace('/api/v1', ''))) continue;
      expect(r.roles ? [...r.roles] : undefined, key).toEqual(documented.get(key));
    }
    // the role table is the one the documented admin routes were made from
    for (const [key, roles] of Object.entries(ROUTE_ROLES)) {
      const [m, p] = key.split(' ') as [string, string];
      expect(documented.get(`${m} /api/v1${p.replace(/:([A-Za-z_]+)/g, '{$1}')}`)).toEqual([...roles]);
    }
  });

  it("describes real responses: they validate against the document's schemas", async () => {
    const doc = JSON.parse(renderOpenApi()) as Doc;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    ajv.addSchema({ $id: 'lockstep', components: doc.components });
    const check = (method: string, path: string, status: number, body: unknown) => {
      const schema = doc.paths[path][method].responses[String(status)].content!['application/json'].schema;
      const validate = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"lockstep#/components/')));
      const ok = validate(body);
      expect(ok, `${method.toUpperCase()} ${path} ${status}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    };
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as any };
    };

    const started = await post('/api/v1/runs', { mode: 'apply' });
    check('post', '/api/v1/runs', started.status, started.json);
    expect(started.json.run.plan.operations.length).toBeGreaterThan(0);
    const runs = await get('/api/v1/runs');
    check('get', '/api/v1/runs', 200, runs.json);
    const run = await get(`/api/v1/runs/${started.json.runId}`);
    check('get', '/api/v1/runs/{id}', 200, run.json);
    const explain = await get('/api/v1/identities/ada@example.com/explain');
    check('get', '/api/v1/identities/{who}/explain', 200, explain.json);
    expect(explain.json.entitlements.length).toBeGreaterThan(0);
    check('get', '/api/v1/reports/access', 200, (await get('/api/v1/reports/access')).json);
    check('get', '/api/v1/reports/access', 200, (await get('/api/v1/reports/access?groupBy=role')).json);
    const acc = e.sim.state.findByExternalId('E1')!;
    const card = e.sim.state.issueCredential(acc.id, { type: 'card' });
    const lost = await post(`/api/v1/credentials/dc1/${card.id}/lost`, { note: 'lost' });
    check('post', '/api/v1/credentials/{system}/{id}/lost', lost.status, lost.json);
    const incidents = await get('/api/v1/incidents');
    expect(incidents.json.incidents.length).toBe(1);
    check('get', '/api/v1/incidents', 200, incidents.json);
    const audit = await get('/api/v1/audit?limit=50');
    expect(audit.json.entries.length).toBeGreaterThan(0);
    check('get', '/api/v1/audit', 200, audit.json);
    check('get', '/api/v1/audit/verify', 200, (await get('/api/v1/audit/verify')).json);
    check('get', '/auth/me', 200, (await get('/auth/me')).json);
    check('post', '/api/v1/sources/{name}/sync', 200, (await post('/api/v1/sources/hr/sync', {})).json);
    const missing = await get('/api/v1/runs/00000000-0000-4000-8000-000000000000');
    check('get', '/api/v1/runs/{id}', 404, missing.json);
    check('get', '/api/v1/runs', 401, (await get('/api/v1/runs', null)).json);
    check('get', '/healthz', 200, (await get('/healthz', null)).json);
  });

  it('renders a self-contained reference page: every operation, no script, no outside address', async () => {
    const page = await get('/api/v1/docs', null);
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/text\/html/);
    expect(page.text).not.toMatch(/<script|https?:\/\/(?!login\.microsoftonline)/);
    expect(page.text).toContain('<code>/api/v1/runs/{id}/approve</code>');
    expect(page.text).toMatch(/Roles: <span class="role">approver<\/span>/);
    expect(page.text).toContain('id="schema-Run"');
  });
});
