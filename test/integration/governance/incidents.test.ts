import { createServer, type Server } from 'node:http';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acknowledgeIncident, closeIncident, explainIdentity, listIncidentViews, recordIncidentReport, tickIncidents } from '../../../src/governance/index.js';
import { auditPageNewestFirst, iterateAudit, openIncident, overdueIncidentSteps, searchPeople, upsertIdentity } from '../../../src/store/index.js';
import { resolveShortId } from '../../../src/store/short-ids.js';
import { metricsRegistry, registerIncidentSource } from '../../../src/metrics/index.js';
import { startNotifier } from '../../../src/runtime/notifications.js';
import { createTestEngine, type TestEngine } from '../../helpers/engine.js';

const MAPPINGS = `version: 1
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
rules:
  - { id: staff, when: 'active eq true', grant: [perimeter] }
`;

/**
 * The incident lifecycle (issue 26, NIS2 Art. 23) on PostgreSQL: each report recorded stops its
 * clock, an overdue one is announced once (audit entry, webhook CloudEvent, /metrics gauge),
 * closing stops them all, every step is in the audit log; and people found by name.
 */
describe('incident lifecycle (NIS2 Art. 23)', () => {
  let e: TestEngine;
  let annaId: string;
  const received: Array<{ type: string; data: Record<string, unknown> }> = [];
  let hook: Server;
  let hookUrl: string;

  beforeAll(async () => {
    e = await createTestEngine('postgres', MAPPINGS, { now: '2026-06-02T12:00:00Z' });
    annaId = (
      await upsertIdentity(e.ctx.db, {
        source: 'hr',
        externalId: 'E1001',
        userName: 'anna.schmidt',
        displayName: 'Anna Schmidt',
        email: 'anna.schmidt@dc1.example',
      })
    ).identity.id;
    await upsertIdentity(e.ctx.db, { source: 'hr', externalId: 'E1002', userName: 'ben.keller', displayName: 'Ben Keller' });
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body) as { type: string; data: Record<string, unknown> });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/hook`;
  });
  afterAll(async () => {
    hook?.close();
    await e?.close();
  });

  it('announces an overdue early warning once (audit, webhook, gauge), stops each clock as its report is recorded, and closes with a reason', async () => {
    const notifier = await startNotifier({
      db: e.ctx.db,
      config: { webhooks: [{ url: hookUrl, events: ['incident.overdue'] }], everyMs: 60_000, maxAttempts: 1 },
      logger: pino({ level: 'silent' }),
    });
    const unregister = registerIncidentSource(() => overdueIncidentSteps(e.ctx.db, e.ctx.now()));
    try {
      // opened 30 hours ago: the early warning (24 h) is overdue, the notification (72 h) is not
      const opened = await openIncident(e.ctx.db, {
        kind: 'lost-credential',
        system: 'dc1',
        credentialId: 'C-4711',
        identityId: annaId,
        at: '2026-06-01T06:00:00Z',
      });
      const [view] = await listIncidentViews(e.ctx, { status: 'open' });
      expect(view).toMatchObject({
        id: opened.id,
        person: { userName: 'anna.schmidt', displayName: 'Anna Schmidt' },
        nis2: { overdue: ['early-warning'], earlyWarningOverdue: true },
      });
      expect(await overdueIncidentSteps(e.ctx.db, e.ctx.now())).toEqual({ 'early-warning': 1, notification: 0, 'final-report': 0 });
      expect(await metricsRegistry.getSingleMetricAsString('lockstep_incident_reports_overdue')).toMatch(
        /lockstep_incident_reports_overdue\{step="early-warning"\} 1/,
      );

      expect(await tickIncidents(e.ctx)).toEqual({ announced: 1 });
      expect(await tickIncidents(e.ctx)).toEqual({ announced: 0 });
      await notifier.tick();
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({
        type: 'io.lockstep.incident.overdue',
        data: { userName: 'anna.schmidt', overdue: [{ step: 'early-warning', due: '2026-06-02T06:00:00.000Z' }] },
      });

      // taken on, then the early warning is recorded (by a prefix of the id, as the CLI prints it)
      const short = opened.id.slice(0, 8);
      expect(await resolveShortId(e.ctx.db, 'incident', short)).toBe(opened.id);
      const acked = await acknowledgeIncident(e.ctx, short, { actor: 'oidc:Olga (olga)' });
      expect(acked).toMatchObject({ acknowledgedBy: 'oidc:Olga (olga)', acknowledgedAt: '2026-06-02T12:00:00.000Z' });
      await expect(acknowledgeIncident(e.ctx, opened.id, { actor: 'x' })).rejects.toMatchObject({ code: 'conflict' });
      await expect(
        recordIncidentReport(e.ctx, opened.id, { step: 'early-warning', reference: 'CSIRT-1', sentAt: '2026-06-03T00:00:00Z', actor: 'x' }),
      ).rejects.toMatchObject({ code: 'validation', field: 'sentAt' });
      await expect(recordIncidentReport(e.ctx, opened.id, { step: 'early-warning', reference: '  ', actor: 'x' })).rejects.toMatchObject({
        field: 'reference',
      });
      await expect(recordIncidentReport(e.ctx, opened.id, { step: 'interim', reference: 'r', actor: 'x' })).rejects.toMatchObject({ field: 'step' });
      const reported = await recordIncidentReport(e.ctx, opened.id, {
        step: 'early-warning',
        reference: 'CSIRT-2026-0042',
        sentAt: '2026-06-02T07:30:00Z',
        actor: 'oidc:Olga (olga)',
      });
      expect(reported.nis2.clocks[0]).toMatchObject({
        step: 'early-warning',
        overdue: false,
        sent: { sentAt: '2026-06-02T07:30:00.000Z', reference: 'CSIRT-2026-0042', by: 'oidc:Olga (olga)' },
      });
      expect(reported.nis2.overdue).toEqual([]);
      expect(await overdueIncidentSteps(e.ctx.db, e.ctx.now())).toEqual({ 'early-warning': 0, notification: 0, 'final-report': 0 });
      await expect(recordIncidentReport(e.ctx, opened.id, { step: 'early-warning', reference: 'again', actor: 'x' })).rejects.toMatchObject({
        code: 'conflict',
      });

      // three days later the notification is overdue in turn: announced once more, for that step only
      e.setNow('2026-06-04T12:00:00Z');
      expect((await listIncidentViews(e.ctx))[0].nis2.overdue).toEqual(['notification']);
      expect(await tickIncidents(e.ctx)).toEqual({ announced: 1 });
      await notifier.tick();
      expect(received.map((r) => (r.data.overdue as Array<{ step: string }>).map((o) => o.step))).toEqual([['early-warning'], ['notification']]);

      await expect(closeIncident(e.ctx, opened.id, { reason: '', actor: 'x' })).rejects.toMatchObject({ field: 'reason' });
      const closed = await closeIncident(e.ctx, opened.id, { reason: 'card found in the car park; reports filed', actor: 'oidc:Alice (alice)' });
      expect(closed).toMatchObject({
        status: 'closed',
        closedBy: 'oidc:Alice (alice)',
        closeReason: 'card found in the car park; reports filed',
        nis2: { overdue: [] },
      });
      expect(await overdueIncidentSteps(e.ctx.db, e.ctx.now())).toEqual({ 'early-warning': 0, notification: 0, 'final-report': 0 });
      await expect(recordIncidentReport(e.ctx, opened.id, { step: 'notification', reference: 'late', actor: 'x' })).rejects.toMatchObject({ code: 'conflict' });
      expect(await tickIncidents(e.ctx)).toEqual({ announced: 0 });

      const actions: string[] = [];
      for await (const a of iterateAudit(e.ctx.db, { subject: opened.id })) actions.push(a.action);
      expect(actions).toEqual(['incident.overdue', 'incident.acknowledged', 'incident.reported', 'incident.overdue', 'incident.closed']);
      // the entries name the person: found by a search for her
      const page = await auditPageNewestFirst(e.ctx.db, { limit: 2, subjects: [annaId] });
      expect(page.entries.map((x) => x.action)).toEqual(['incident.closed', 'incident.overdue']);
      expect(page.more).toBe(true);
      const older = await auditPageNewestFirst(e.ctx.db, { limit: 10, subjects: [annaId], before: page.next });
      expect(older.entries.map((x) => x.action)).toEqual(['incident.reported', 'incident.acknowledged', 'incident.overdue']);
    } finally {
      unregister();
      await notifier.close();
    }
  });

  it('finds people by name, userName or employee id, and suggests close userNames for one that names nobody', async () => {
    expect((await searchPeople(e.ctx.db, 'schmidt')).map((p) => p.userName)).toEqual(['anna.schmidt']);
    expect((await searchPeople(e.ctx.db, 'E1002')).map((p) => p.displayName)).toEqual(['Ben Keller']);
    expect((await searchPeople(e.ctx.db, 'Anna S')).map((p) => p.id)).toEqual([annaId]);
    expect(await searchPeople(e.ctx.db, 'nobody')).toEqual([]);
    await expect(explainIdentity(e.ctx, 'ana.schmidt')).rejects.toThrow(/no identity with userName or id "ana.schmidt" \(did you mean "anna.schmidt"\?\)/);
  });
});
