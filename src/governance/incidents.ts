/**
 * The incident lifecycle (NIS2 Art. 23, issue 26): acknowledge, record the early warning,
 * notification and final report as sent (when, by whom, the authority's reference), close with a
 * reason. Every step is one transaction with its audit entry. The tick (with the sweep) announces
 * each step that fell due unrecorded once, as the audit entry `incident.overdue`, which the
 * webhook notifier sends as a CloudEvent.
 */
import { LockstepError } from '../domain/errors.js';
import { appendAudit } from '../store/audit.js';
import {
  findIncident,
  INCIDENT_STEPS,
  listIncidents,
  lockIncident,
  setIncidentAcknowledged,
  setIncidentClosed,
  setIncidentOverdueNotified,
  setIncidentStep,
  STEP_LABEL,
  withNis2Clock,
  type Incident,
  type IncidentStep,
  type IncidentView,
} from '../store/incidents.js';
import { personNames, type PersonName } from '../store/people.js';
import type { EngineContext } from '../reconcile/types.js';

export interface IncidentWithPerson extends IncidentView {
  /** The person whose credential it is, by name. */
  person: { userName: string; displayName: string | null } | null;
}

/** Incidents with their clocks and the person's name. */
export async function describeIncidents(ctx: EngineContext, list: Incident[]): Promise<IncidentWithPerson[]> {
  const names = await personNames(
    ctx.db,
    list.map((i) => i.identityId),
  );
  const now = ctx.now();
  return list.map((i) => ({ ...withNis2Clock(i, now), person: personOf(names, i.identityId) }));
}

function personOf(names: Map<string, PersonName>, id: string | null) {
  const p = id ? names.get(id) : undefined;
  return p ? { userName: p.userName, displayName: p.displayName } : null;
}

export async function listIncidentViews(ctx: EngineContext, opts: { status?: 'open' | 'closed' } = {}): Promise<IncidentWithPerson[]> {
  return describeIncidents(ctx, await listIncidents(ctx.db, opts));
}

export async function getIncidentView(ctx: EngineContext, idOrPrefix: string): Promise<IncidentWithPerson> {
  return (await describeIncidents(ctx, [await findIncident(ctx.db, idOrPrefix)]))[0];
}

export function parseIncidentStep(v: string): IncidentStep {
  const s = v
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-');
  const alias: Record<string, IncidentStep> = {
    'early-warning': 'early-warning',
    early: 'early-warning',
    warning: 'early-warning',
    notification: 'notification',
    notify: 'notification',
    'final-report': 'final-report',
    final: 'final-report',
  };
  const step = alias[s];
  if (!step) throw new LockstepError('validation', `step must be one of ${INCIDENT_STEPS.join(', ')}, not ${JSON.stringify(v)}`, { field: 'step' });
  return step;
}

function text(v: string | undefined | null, field: string, what: string, max = 1000): string {
  const t = (v ?? '').trim();
  if (t === '') throw new LockstepError('validation', `${field} must say ${what}`, { field });
  if (t.length > max) throw new LockstepError('validation', `${field} must be at most ${max} characters`, { field });
  return t;
}

/** One change to an open incident, in a transaction with its audit entry. */
async function change(
  ctx: EngineContext,
  idOrPrefix: string,
  fn: (
    tx: Parameters<Parameters<EngineContext['db']['transaction']>[0]>[0],
    i: Incident,
  ) => Promise<{ incident: Incident; action: string; data: Record<string, unknown> }>,
  actor: string,
) {
  const found = await findIncident(ctx.db, idOrPrefix);
  const updated = await ctx.db.transaction(async (tx) => {
    const i = await lockIncident(tx, found.id);
    if (!i) throw new LockstepError('not_found', `no incident ${idOrPrefix}`, { field: 'id' });
    if (i.status === 'closed')
      throw new LockstepError('conflict', `incident ${i.id.slice(0, 8)} was closed ${i.closedAt} by ${i.closedBy ?? 'someone'}: it changes no more`, {
        field: 'id',
      });
    const r = await fn(tx, i);
    await appendAudit(tx, [
      { actor, action: r.action, subject: i.id, data: { kind: i.kind, system: i.system, credentialId: i.credentialId, identityId: i.identityId, ...r.data } },
    ]);
    return r.incident;
  });
  return (await describeIncidents(ctx, [updated]))[0];
}

/** Someone has taken the incident on (the clocks keep running until the reports are recorded). */
export async function acknowledgeIncident(ctx: EngineContext, id: string, r: { actor: string; note?: string | null }): Promise<IncidentWithPerson> {
  return change(
    ctx,
    id,
    async (tx, i) => {
      if (i.acknowledgedAt)
        throw new LockstepError('conflict', `incident ${i.id.slice(0, 8)} was acknowledged ${i.acknowledgedAt} by ${i.acknowledgedBy}`, { field: 'id' });
      return {
        incident: await setIncidentAcknowledged(tx, i.id, r.actor, ctx.now().toISOString()),
        action: 'incident.acknowledged',
        data: { note: r.note?.trim() || null },
      };
    },
    r.actor,
  );
}

/** The instant a report was sent: given (not in the future, not before the incident) or now. */
function sentAt(ctx: EngineContext, i: Incident, v: string | undefined | null): string {
  if (!v) return ctx.now().toISOString();
  const t = /^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(v.trim()) ? Date.parse(v.trim()) : Number.NaN;
  if (Number.isNaN(t))
    throw new LockstepError('validation', `sentAt must be an ISO date-time with a zone (2026-05-04T09:30:00Z): ${JSON.stringify(v)}`, { field: 'sentAt' });
  // a minute's grace for clocks that differ
  if (t > ctx.now().getTime() + 60_000)
    throw new LockstepError('validation', `sentAt ${new Date(t).toISOString()} is in the future: record a report once it is sent`, { field: 'sentAt' });
  if (t < Date.parse(i.openedAt) - 86_400_000)
    throw new LockstepError('validation', `sentAt ${new Date(t).toISOString()} is before the incident was opened (${i.openedAt})`, { field: 'sentAt' });
  return new Date(t).toISOString();
}

/** Records that the early warning, notification or final report was sent: its clock stops. */
export async function recordIncidentReport(
  ctx: EngineContext,
  id: string,
  r: { step: string; reference: string; sentAt?: string | null; actor: string },
): Promise<IncidentWithPerson> {
  const step = parseIncidentStep(r.step);
  const reference = text(r.reference, 'reference', "the authority's or CSIRT's reference (or where the report is filed)", 300);
  return change(
    ctx,
    id,
    async (tx, i) => {
      const prev = i.steps[step];
      if (prev)
        throw new LockstepError(
          'conflict',
          `the ${STEP_LABEL[step]} of incident ${i.id.slice(0, 8)} was recorded ${prev.recordedAt} by ${prev.by} (sent ${prev.sentAt}, reference ${prev.reference})`,
          { field: 'step' },
        );
      const at = sentAt(ctx, i, r.sentAt);
      const due = withNis2Clock(i, ctx.now()).nis2.clocks.find((c) => c.step === step)!.due;
      const rec = { sentAt: at, by: r.actor, reference, recordedAt: ctx.now().toISOString() };
      return {
        incident: await setIncidentStep(tx, i.id, step, rec),
        action: 'incident.reported',
        data: { step, sentAt: at, reference, due, late: Date.parse(at) > Date.parse(due) },
      };
    },
    r.actor,
  );
}

/** Closes the incident with a reason: no clock runs after. */
export async function closeIncident(ctx: EngineContext, id: string, r: { reason: string; actor: string }): Promise<IncidentWithPerson> {
  const reason = text(r.reason, 'reason', 'why the incident is closed (the card was found, the final report is filed…)');
  return change(
    ctx,
    id,
    async (tx, i) => {
      const missing = INCIDENT_STEPS.filter((s) => !i.steps[s]);
      return {
        incident: await setIncidentClosed(tx, i.id, r.actor, reason, ctx.now().toISOString()),
        action: 'incident.closed',
        data: { reason, unreported: missing },
      };
    },
    r.actor,
  );
}

/**
 * Announces every step that is overdue and not announced yet: an `incident.overdue` audit entry
 * (sent as a CloudEvent by the notifier) per incident, once per step. Returns how many incidents
 * had a new overdue step.
 */
export async function tickIncidents(ctx: EngineContext): Promise<{ announced: number }> {
  let announced = 0;
  const now = ctx.now();
  for (const v of await listIncidentViews(ctx, { status: 'open' })) {
    const fresh = v.nis2.overdue.filter((s) => !v.overdueNotified.includes(s));
    if (fresh.length === 0) continue;
    await ctx.db.transaction(async (tx) => {
      const i = await lockIncident(tx, v.id);
      if (!i || i.status !== 'open') return;
      const still = withNis2Clock(i, now).nis2.overdue.filter((s) => !i.overdueNotified.includes(s));
      if (still.length === 0) return;
      await setIncidentOverdueNotified(tx, i.id, [...i.overdueNotified, ...still]);
      const clocks = v.nis2.clocks.filter((c) => still.includes(c.step)).map((c) => ({ step: c.step, due: c.due }));
      await appendAudit(tx, [
        {
          actor: 'system:incidents',
          action: 'incident.overdue',
          subject: i.id,
          data: {
            kind: i.kind,
            system: i.system,
            credentialId: i.credentialId,
            identityId: i.identityId,
            userName: v.person?.userName ?? null,
            overdue: clocks,
            text: `incident ${i.id.slice(0, 8)}: ${clocks.map((c) => `${STEP_LABEL[c.step]} was due ${c.due}`).join('; ')} and is not recorded as sent`,
          },
        },
      ]);
      announced++;
    });
  }
  return { announced };
}
