import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/api/index.js';
import { upsertIdentity, markIdentityDeleted } from '../../../src/store/index.js';
import { createTestEngine, membershipsOf, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from '../reconcile/mappings.js';

const TOKEN = 'admin-token-0123456789';
/** A second principal: four-eyes keeps the admin token from approving the run it started. */
const OFFICER = 'officer-token-0123456789';

describe('admin API', () => {
  let e: TestEngine;
  let server: Server;
  let base: string;
  const call = async (method: string, path: string, body?: unknown, token: string | null = TOKEN) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: res.status, json, text, headers: res.headers };
  };

  beforeAll(async () => {
    e = await createTestEngine('pglite', MAPPINGS, { now: '2026-06-01T08:00:00Z' });
    const app = createApp({
      ctx: e.ctx,
      adminTokens: ['old-token-0123456789', TOKEN],
      auth: { tokens: [{ name: 'officer', token: OFFICER, roles: ['approver'] }] },
      bodyLimitBytes: 2048,
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
    for (let i = 0; i < 6; i++) await upsertIdentity(e.ctx.db, { source: 'hr', externalId: `P${i}`, userName: `p${i}`, employeeType: 'Employee' });
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await e.close();
  });

  it('refuses requests without a valid token, and accepts every rotated token', async () => {
    expect((await call('GET', '/api/v1/runs', undefined, null)).status).toBe(401);
    expect((await call('GET', '/api/v1/runs', undefined, 'wrong-token-000000000')).status).toBe(401);
    expect((await call('GET', '/api/v1/runs', undefined, 'old-token-0123456789')).status).toBe(200);
    expect((await call('GET', '/healthz', undefined, null)).status).toBe(200);
  });

  it('plans and applies a run, then reads it back', async () => {
    const plan = await call('POST', '/api/v1/runs', { mode: 'plan' });
    expect(plan.status).toBe(201);
    expect(plan.json.run.status).toBe('planned');
    expect(plan.json.run.plan.summary.add).toBeGreaterThan(0);
    const applied = await call('POST', '/api/v1/runs', { mode: 'apply' });
    expect(applied.json.run.status).toBe('applied');
    expect(Object.keys(membershipsOf(e.sim, 'E1')).sort()).toEqual(['AG-OFFICE', 'AG-PERIM', 'AG-POWER', 'AG-WS']);
    const read = await call('GET', `/api/v1/runs/${applied.json.runId}`);
    expect(read.json.results.every((r: { status: string }) => r.status === 'applied')).toBe(true);
  });

  it('rejects a bad body naming the field, and an oversized one with 413', async () => {
    const bad = await call('POST', '/api/v1/runs', { mode: 'destroy-everything' });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ code: 'validation', field: 'mode' });
    expect((await call('POST', '/api/v1/runs', '{not json')).status).toBe(400);
    expect((await call('POST', '/api/v1/runs', { mode: 'plan', identities: ['x'.repeat(4000)] })).status).toBe(413);
  });

  it('explains one identity with rules and roles', async () => {
    const r = await call('GET', '/api/v1/identities/ADA@example.com/explain');
    expect(r.status).toBe(200);
    const ws = r.json.entitlements.find((x: any) => x.accessGroup.id === 'whitespace');
    expect(ws.reasons[0]).toMatchObject({ rule: 'dc-ops', role: 'dc-technician' });
    expect(r.json.text.join('\n')).toMatch(/whitespace/);
    expect((await call('GET', '/api/v1/identities/nobody/explain')).status).toBe(404);
  });

  it('serves the access report as JSON and CSV, and by role', async () => {
    const json = await call('GET', '/api/v1/reports/access');
    const row = json.json.rows.find((x: any) => x.userName === 'ada@example.com' && x.groupRef === 'AG-WS');
    expect(row).toMatchObject({ protectionClass: 4, justified: true, roles: ['dc-technician'] });
    const csv = await call('GET', '/api/v1/reports/access?format=csv');
    expect(csv.headers.get('content-type')).toMatch(/text\/csv/);
    expect(csv.text.split('\n')[0]).toMatch(/^system,accountId,/);
    expect(csv.text).toMatch(/ada@example.com/);
    const roles = await call('GET', '/api/v1/reports/access?groupBy=role');
    expect(
      roles.json.matrix
        .filter((m: any) => m.role === 'dc-technician')
        .map((m: any) => m.accessGroupId)
        .sort(),
    ).toEqual(['power', 'whitespace']);
    // rules that grant access groups themselves are in the matrix too, as rows of their own
    expect(
      roles.json.matrix
        .filter((m: any) => m.role.startsWith('rule '))
        .map((m: any) => `${m.role}: ${m.accessGroupId}`)
        .sort(),
    ).toEqual(['rule everyone: perimeter', 'rule office-staff: offices']);
    expect(roles.json.holders.map((h: any) => h.userName)).toContain('ada@example.com');
  });

  it('kills a lost credential at once and shows the incident with its NIS2 clock', async () => {
    const acc = e.sim.state.findByExternalId('E1')!;
    const card = e.sim.state.issueCredential(acc.id, { type: 'card' });
    const r = await call('POST', `/api/v1/credentials/dc1/${card.id}/lost`, { note: 'lost at the gym' });
    expect(r.status).toBe(200);
    expect(e.sim.state.getAccount(acc.id)!.credentials.find((c) => c.id === card.id)!.status).toBe('lost');
    const inc = await call('GET', '/api/v1/incidents?status=open');
    const i = inc.json.incidents.find((x: any) => x.credentialId === card.id);
    expect(Date.parse(i.nis2.earlyWarningDue) - Date.parse(i.openedAt)).toBe(24 * 3600 * 1000);
    const audit = await call('GET', `/api/v1/audit?limit=10000`);
    expect(
      audit.json.entries.some((x: any) => x.action === 'set_credential_state' && x.data.credentialId === card.id && x.data.reason.cause === 'lost-credential'),
    ).toBe(true);
  });

  it('holds a mass revocation and applies it once approved through the API', async () => {
    const ids = (await call('GET', '/api/v1/reports/access')).json.rows.filter((x: any) => /^p\d$/.test(x.userName)).map((x: any) => x.identityId);
    for (const id of [...new Set<string>(ids)].slice(0, 5)) await markIdentityDeleted(e.ctx.db, id);
    const held = await call('POST', '/api/v1/runs', { mode: 'apply' });
    expect(held.json.run.status).toBe('held');
    const own = await call('POST', `/api/v1/runs/${held.json.runId}/approve`);
    expect(own.status).toBe(403);
    expect(own.json.error.message).toMatch(/four-eyes: token:admin started or caused/);
    const approved = await call('POST', `/api/v1/runs/${held.json.runId}/approve`, undefined, OFFICER);
    expect(approved.status).toBe(200);
    expect(approved.json.run.status).toBe('applied');
    expect((await call('POST', `/api/v1/runs/${held.json.runId}/approve`)).status).toBe(409);
    expect((await call('GET', '/api/v1/audit/verify')).json.ok).toBe(true);
  });
});
