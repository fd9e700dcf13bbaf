import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/api/index.js';
import { runReconcile } from '../../../src/reconcile/index.js';
import { iterateAudit, upsertIdentity } from '../../../src/store/index.js';
import { createTestEngine, membershipsOf, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from '../reconcile/mappings.js';

const VIEWER = 'viewer-token-0123456789';
const OPERATOR = 'operator-token-0123456789';
const APPROVER = 'approver-token-0123456789';

describe('admin API: access exceptions', () => {
  let e: TestEngine;
  let server: Server;
  let base: string;
  let ada = '';
  const call = async (method: string, path: string, body?: unknown, token = OPERATOR) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as any) : null };
  };

  beforeAll(async () => {
    e = await createTestEngine('postgres', MAPPINGS, { now: '2026-06-01T08:00:00Z' });
    const app = createApp({
      ctx: e.ctx,
      adminTokens: [],
      auth: {
        tokens: [
          { name: 'viewer', token: VIEWER, roles: ['viewer'] },
          { name: 'operator', token: OPERATOR, roles: ['operator'] },
          { name: 'approver', token: APPROVER, roles: ['approver'] },
        ],
      },
      bodyLimitBytes: 65_536,
    });
    server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    ada = (await upsertIdentity(e.ctx.db, { source: 'hr', externalId: 'E1', userName: 'ada@example.com', displayName: 'Ada', employeeType: 'Employee', groups: ['DC Operations'] })).identity.id;
    await runReconcile(e.ctx, { kind: 'full' }, { trigger: 'test', actor: 'test', apply: true });
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await e.close();
  });

  const body = { identity: 'ada@example.com', accessGroup: 'whitespace', until: '2026-06-30', reason: 'access review Q2: not needed' };

  it('refuses a viewer, and bad bodies naming the field', async () => {
    expect((await call('POST', '/api/v1/exceptions', body, VIEWER)).status).toBe(403);
    for (const [b, field] of [
      [{ ...body, accessGroup: undefined }, 'accessGroup'],
      [{ ...body, reason: '' }, 'reason'],
      [{ ...body, until: 'soon' }, 'until'],
      [{ ...body, until: '2026-01-01' }, 'until'],
      [{ ...body, accessGroup: 'no-such-group' }, 'accessGroup'],
      [{ ...body, extra: 1 }, 'body'],
    ] as const) {
      const r = await call('POST', '/api/v1/exceptions', b);
      expect(r.status, JSON.stringify(b)).toBe(400);
      expect(r.json.error.field, JSON.stringify(r.json)).toBe(field);
    }
    expect((await call('POST', '/api/v1/exceptions', { ...body, identity: 'nobody' })).json.error).toMatchObject({ code: 'not_found', field: 'identity' });
  });

  it('records an exception and revokes at once; readers list it; only an approver ends it, which grants the group again', async () => {
    expect(Object.keys(membershipsOf(e.sim, 'E1'))).toContain('AG-WS');
    const created = await call('POST', '/api/v1/exceptions', body);
    expect(created.status).toBe(201);
    expect(created.json.exception).toMatchObject({ identityId: ada, accessGroupId: 'whitespace', until: '2026-06-30T23:59:59.999Z', createdBy: 'token:operator' });
    expect(created.json.run.queued).toBe(false);
    expect(Object.keys(membershipsOf(e.sim, 'E1'))).not.toContain('AG-WS');
    const id = created.json.exception.id as string;

    const list = await call('GET', '/api/v1/exceptions?identity=ada@example.com', undefined, VIEWER);
    expect(list.json.exceptions.map((x: { id: string }) => x.id)).toEqual([id]);
    expect((await call('GET', `/api/v1/exceptions/${id}`, undefined, VIEWER)).json.reason).toBe(body.reason);
    expect((await call('GET', '/api/v1/exceptions/not-a-uuid', undefined, VIEWER)).status).toBe(404);

    const explain = await call('GET', '/api/v1/identities/ada@example.com/explain', undefined, VIEWER);
    expect(explain.json.denied).toEqual([expect.objectContaining({ accessGroupId: 'whitespace', exception: expect.objectContaining({ id }) })]);
    expect(explain.json.text.join('\n')).toContain(`whitespace denied by exception ${id}`);

    expect((await call('DELETE', `/api/v1/exceptions/${id}`, { reason: 'review corrected' }, OPERATOR)).status).toBe(403);
    expect((await call('DELETE', `/api/v1/exceptions/${id}`, {}, APPROVER)).json.error.field).toBe('reason');
    const removed = await call('DELETE', `/api/v1/exceptions/${id}`, { reason: 'review corrected' }, APPROVER);
    expect(removed.status).toBe(200);
    expect(removed.json.exception).toMatchObject({ removedBy: 'token:approver', removedReason: 'review corrected' });
    expect(Object.keys(membershipsOf(e.sim, 'E1'))).toContain('AG-WS');
    expect((await call('DELETE', `/api/v1/exceptions/${id}`, { reason: 'again' }, APPROVER)).status).toBe(409);
    expect((await call('GET', '/api/v1/exceptions', undefined, VIEWER)).json.exceptions).toEqual([]);
    expect((await call('GET', '/api/v1/exceptions?all=true', undefined, VIEWER)).json.exceptions).toHaveLength(1);

    const audit = [];
    for await (const a of iterateAudit(e.ctx.db, { subject: ada })) audit.push(`${a.action} ${a.actor}`);
    expect(audit).toEqual(expect.arrayContaining(['exception.created token:operator', 'exception.removed token:approver']));
  });
});
