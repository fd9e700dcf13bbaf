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
const OWNER = 'owner-token-0123456789';
/** The whitespace's owner is the approver signing in with the token named hall.owner. */
const OWNED =
  MAPPINGS.replace('name: Server whitespace, protectionClass: 4 }', 'name: Server whitespace, protectionClass: 4, owner: hall.owner }') +
  'reviews:\n  - { id: ws-review, scope: { accessGroups: [whitespace] }, reviewers: [owner], deadline: P14D }\n';

describe('admin API: access exceptions and requests', () => {
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
    return { status: res.status, json: text ? JSON.parse(text) : null };
  };

  beforeAll(async () => {
    e = await createTestEngine('postgres', OWNED, { now: '2026-06-01T08:00:00Z' });
    const app = createApp({
      ctx: e.ctx,
      adminTokens: [],
      auth: {
        tokens: [
          { name: 'viewer', token: VIEWER, roles: ['viewer'] },
          { name: 'operator', token: OPERATOR, roles: ['operator'] },
          { name: 'approver', token: APPROVER, roles: ['approver'] },
          { name: 'hall.owner', token: OWNER, roles: ['approver'] },
        ],
      },
      bodyLimitBytes: 65_536,
    });
    server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    ada = (
      await upsertIdentity(e.ctx.db, {
        source: 'hr',
        externalId: 'E1',
        userName: 'ada@example.com',
        displayName: 'Ada',
        employeeType: 'Employee',
        groups: ['DC Operations'],
      })
    ).identity.id;
    await runReconcile(e.ctx, { kind: 'full' }, { trigger: 'test', actor: 'test', apply: true });
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await e.close();
  });

  const body = { identity: 'ada@example.com', accessGroup: 'whitespace', until: '2026-06-30', reason: 'access review Q2: not needed' };

  it('lists the access groups with their class limits and owner, to any role', async () => {
    const r = await call('GET', '/api/v1/access-groups', undefined, VIEWER);
    expect(r.status).toBe(200);
    const byId = Object.fromEntries((r.json.accessGroups as Array<{ id: string }>).map((g) => [g.id, g]));
    expect(byId.whitespace).toEqual({
      id: 'whitespace',
      name: 'Server whitespace',
      system: 'dc1',
      ref: 'AG-WS',
      protectionClass: 4,
      owner: 'hall.owner',
      maxValidity: { ms: 90 * 86_400_000, text: expect.stringContaining('90') },
      sponsorRequired: true,
    });
    expect(byId.perimeter).toMatchObject({ protectionClass: 1, owner: null, maxValidity: null, sponsorRequired: false });
    expect((await fetch(`${base}/api/v1/access-groups`)).status).toBe(401);
  });

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
    expect(created.json.exception).toMatchObject({
      identityId: ada,
      accessGroupId: 'whitespace',
      until: '2026-06-30T23:59:59.999Z',
      createdBy: 'token:operator',
    });
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

  it("takes requests within the class's limits, and grants them once the owner approves (four-eyes)", async () => {
    await upsertIdentity(e.ctx.db, { source: 'hr', externalId: 'E2', userName: 'bob@example.com', displayName: 'Bob', employeeType: 'Employee' });
    const ask = { identity: 'bob@example.com', accessGroup: 'whitespace', until: '2026-06-14', justification: 'rack move' };
    const tooLong = await call('POST', '/api/v1/requests', { ...ask, until: '2026-12-31' });
    expect(tooLong.status).toBe(400);
    expect(tooLong.json.error.field).toBe('until');
    expect(tooLong.json.error.message).toMatch(/protection class 4, which allows at most 90 days/);
    expect((await call('POST', '/api/v1/requests', { ...ask, accessGroup: undefined })).json.error.field).toBe('accessGroup');
    // a viewer who is neither Bob nor his manager may not ask for him
    expect((await call('POST', '/api/v1/requests', ask, VIEWER)).status).toBe(403);

    const created = await call('POST', '/api/v1/requests', ask, OPERATOR);
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    expect(created.json.steps).toEqual([expect.objectContaining({ kind: 'owner', who: 'hall.owner' })]);
    expect((await call('POST', `/api/v1/requests/${id}/approve`, {}, VIEWER)).status).toBe(403);
    const notOwner = await call('POST', `/api/v1/requests/${id}/approve`, {}, APPROVER);
    expect(notOwner.status).toBe(403);
    expect(notOwner.json.error.message).toMatch(/waits for owner hall.owner/);
    const ok = await call('POST', `/api/v1/requests/${id}/approve`, { comment: 'ok' }, OWNER);
    expect(ok.status).toBe(200);
    expect(ok.json.request.status).toBe('approved');
    expect(ok.json.run.queued).toBe(false);
    expect(membershipsOf(e.sim, 'E2')['AG-WS'].until).toMatch(/^2026-06-14T23:59:59/);
    expect((await call('POST', `/api/v1/requests/${id}/deny`, { comment: 'late' }, OWNER)).status).toBe(409);
    expect((await call('GET', '/api/v1/requests?status=approved', undefined, VIEWER)).json.requests.map((r: { id: string }) => r.id)).toEqual([id]);
    expect((await call('GET', `/api/v1/requests/${id}`, undefined, VIEWER)).json.decidedBy).toBe('token:hall.owner');
  });

  it("starts a review, takes the reviewer's decisions (a revoke closes the door at once) and reports the evidence as JSON and CSV", async () => {
    expect((await call('POST', '/api/v1/reviews', { review: 'ws-review' }, VIEWER)).status).toBe(403);
    expect((await call('POST', '/api/v1/reviews', { review: 'nope' })).status).toBe(404);
    const started = await call('POST', '/api/v1/reviews', { review: 'ws-review' });
    expect(started.status).toBe(201);
    const campaign = started.json.campaign.id as string;
    const items = started.json.items as Array<{ id: string; userName: string; reviewer: string }>;
    expect(items.map((i) => `${i.userName} ${i.reviewer}`)).toEqual(['ada@example.com hall.owner', 'bob@example.com hall.owner']);
    const ada = items[0];
    const decide = (item: string, body: unknown, token: string) => call('POST', `/api/v1/reviews/${campaign}/items/${item}/decide`, body, token);
    expect((await decide(ada.id, { decision: 'revoke', comment: 'left the team' }, APPROVER)).status).toBe(403);
    expect((await decide(ada.id, { decision: 'revoke' }, OWNER)).json.error.field).toBe('comment');
    expect((await decide(ada.id, { decision: 'maybe' }, OWNER)).json.error.field).toBe('decision');
    const revoked = await decide(ada.id, { decision: 'revoke', comment: 'left the team' }, OWNER);
    expect(revoked.status).toBe(200);
    expect(revoked.json.item).toMatchObject({ decision: 'revoke', decidedBy: 'token:hall.owner' });
    expect(revoked.json.run).toMatchObject({ queued: false });
    expect(Object.keys(membershipsOf(e.sim, 'E1'))).not.toContain('AG-WS');
    expect((await decide(items[1].id, { decision: 'keep' }, OWNER)).status).toBe(200);

    const report = await call('GET', `/api/v1/reviews/${campaign}/report`, undefined, VIEWER);
    expect(report.json.summary).toEqual({ items: 2, kept: 1, revoked: 1, undecided: 0, byDeadline: 0 });
    const csv = await fetch(`${base}/api/v1/reviews/${campaign}/report?format=csv`, { headers: { authorization: `Bearer ${VIEWER}` } });
    expect(csv.headers.get('content-type')).toMatch(/text\/csv/);
    const lines = (await csv.text()).trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toContain('ada@example.com');
    expect((await call('GET', '/api/v1/reviews?status=open', undefined, VIEWER)).json.campaigns.map((c: { id: string }) => c.id)).toEqual([campaign]);
  });
});
