import { randomUUID } from 'node:crypto';
import { LockstepError } from '../domain/errors.js';
import type { Queryable } from './db.js';

/**
 * NIS2 Art. 23: an early warning within 24 hours of becoming aware of a significant incident,
 * an incident notification within 72 hours, a final report within one month.
 */
const NIS2_CLOCK = { earlyWarningHours: 24, notificationHours: 72, finalReportDays: 30 } as const;

/** The reports NIS2 Art. 23 asks for, in order; each has its clock. */
export const INCIDENT_STEPS = ['early-warning', 'notification', 'final-report'] as const;
export type IncidentStep = (typeof INCIDENT_STEPS)[number];

const STEP_HOURS: Record<IncidentStep, number> = {
  'early-warning': NIS2_CLOCK.earlyWarningHours,
  notification: NIS2_CLOCK.notificationHours,
  'final-report': NIS2_CLOCK.finalReportDays * 24,
};
export const STEP_LABEL: Record<IncidentStep, string> = { 'early-warning': 'early warning', notification: 'notification', 'final-report': 'final report' };

/** A report recorded as sent: when it was sent, who recorded it (and when), the authority's reference. */
export interface IncidentStepRecord {
  sentAt: string;
  by: string;
  reference: string;
  recordedAt: string;
}

export interface Incident {
  id: string;
  kind: string;
  status: 'open' | 'closed';
  system: string | null;
  accountId: string | null;
  credentialId: string | null;
  identityId: string | null;
  openedAt: string;
  closedAt: string | null;
  closedBy: string | null;
  closeReason: string | null;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  steps: Partial<Record<IncidentStep, IncidentStepRecord>>;
  /** The overdue steps already announced (`incident.overdue`), so each is announced once. */
  overdueNotified: IncidentStep[];
  data: Record<string, unknown>;
}

export interface IncidentClock {
  step: IncidentStep;
  label: string;
  due: string;
  /** The report recorded as sent: the clock stopped. */
  sent: IncidentStepRecord | null;
  /** Due, not recorded, and the incident is open. */
  overdue: boolean;
}

export interface IncidentView extends Incident {
  nis2: {
    earlyWarningDue: string;
    notificationDue: string;
    finalReportDue: string;
    earlyWarningOverdue: boolean;
    hoursToEarlyWarning: number;
    clocks: IncidentClock[];
    /** The steps overdue now. */
    overdue: IncidentStep[];
  };
}

interface Row {
  id: string;
  kind: string;
  status: Incident['status'];
  system: string | null;
  account_id: string | null;
  credential_id: string | null;
  identity_id: string | null;
  opened_at: Date | string;
  closed_at: Date | string | null;
  closed_by: string | null;
  close_reason: string | null;
  acknowledged_at: Date | string | null;
  acknowledged_by: string | null;
  steps: Incident['steps'] | null;
  overdue_notified: string[] | null;
  data: Record<string, unknown>;
}

const iso = (v: Date | string | null): string | null => (v ? new Date(v).toISOString() : null);

function fromRow(r: Row): Incident {
  return {
    id: r.id,
    kind: r.kind,
    status: r.status,
    system: r.system,
    accountId: r.account_id,
    credentialId: r.credential_id,
    identityId: r.identity_id,
    openedAt: new Date(r.opened_at).toISOString(),
    closedAt: iso(r.closed_at),
    closedBy: r.closed_by ?? null,
    closeReason: r.close_reason ?? null,
    acknowledgedAt: iso(r.acknowledged_at ?? null),
    acknowledgedBy: r.acknowledged_by ?? null,
    steps: r.steps ?? {},
    overdueNotified: (r.overdue_notified ?? []).filter((s): s is IncidentStep => (INCIDENT_STEPS as readonly string[]).includes(s)),
    data: r.data,
  };
}

/** The incident with its three clocks: each stops when its report is recorded, and none runs once it is closed. */
export function withNis2Clock(i: Incident, now: Date): IncidentView {
  const opened = Date.parse(i.openedAt);
  const h = 3_600_000;
  const clocks: IncidentClock[] = INCIDENT_STEPS.map((step) => {
    const due = opened + STEP_HOURS[step] * h;
    const sent = i.steps[step] ?? null;
    return { step, label: STEP_LABEL[step], due: new Date(due).toISOString(), sent, overdue: i.status === 'open' && !sent && now.getTime() > due };
  });
  const ew = opened + NIS2_CLOCK.earlyWarningHours * h;
  return {
    ...i,
    nis2: {
      earlyWarningDue: clocks[0].due,
      notificationDue: clocks[1].due,
      finalReportDue: clocks[2].due,
      earlyWarningOverdue: clocks[0].overdue,
      hoursToEarlyWarning: Math.round(((ew - now.getTime()) / h) * 10) / 10,
      clocks,
      overdue: clocks.filter((c) => c.overdue).map((c) => c.step),
    },
  };
}

export async function openIncident(
  q: Queryable,
  i: { kind: string; system?: string; accountId?: string; credentialId?: string; identityId?: string | null; data?: Record<string, unknown>; at?: string },
): Promise<Incident> {
  const { rows } = await q.query<Row>(
    `INSERT INTO incidents (id, kind, status, system, account_id, credential_id, identity_id, opened_at, data)
     VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $8) RETURNING *`,
    [
      randomUUID(),
      i.kind,
      i.system ?? null,
      i.accountId ?? null,
      i.credentialId ?? null,
      i.identityId ?? null,
      i.at ?? new Date().toISOString(),
      JSON.stringify(i.data ?? {}),
    ],
  );
  return fromRow(rows[0]);
}

export async function listIncidents(q: Queryable, opts: { status?: 'open' | 'closed' } = {}): Promise<Incident[]> {
  const { rows } = opts.status
    ? await q.query<Row>('SELECT * FROM incidents WHERE status = $1 ORDER BY opened_at DESC', [opts.status])
    : await q.query<Row>('SELECT * FROM incidents ORDER BY opened_at DESC');
  return rows.map(fromRow);
}

/** An incident by its id or a unique prefix of it (as the CLI prints them: the first 8 characters). */
export async function findIncident(q: Queryable, idOrPrefix: string): Promise<Incident> {
  const key = idOrPrefix.trim().toLowerCase();
  if (!/^[0-9a-f-]{4,36}$/.test(key))
    throw new LockstepError('validation', `incident ${JSON.stringify(idOrPrefix)}: give its id or the first (at least 4) characters of it`, { field: 'id' });
  const { rows } = await q.query<Row>("SELECT * FROM incidents WHERE id::text LIKE $1 || '%' ORDER BY opened_at DESC LIMIT 2", [key]);
  if (rows.length === 0) throw new LockstepError('not_found', `no incident ${idOrPrefix}`, { field: 'id' });
  if (rows.length > 1)
    throw new LockstepError('validation', `incident ${idOrPrefix} is ambiguous: more than one id starts with it; give more of it`, { field: 'id' });
  return fromRow(rows[0]);
}

/** Locks the incident's row for a change (inside a transaction). */
export async function lockIncident(q: Queryable, id: string): Promise<Incident | null> {
  const { rows } = await q.query<Row>('SELECT * FROM incidents WHERE id = $1 FOR UPDATE', [id]);
  return rows[0] ? fromRow(rows[0]) : null;
}

export async function setIncidentAcknowledged(q: Queryable, id: string, by: string, at: string): Promise<Incident> {
  const { rows } = await q.query<Row>('UPDATE incidents SET acknowledged_at = $2, acknowledged_by = $3 WHERE id = $1 RETURNING *', [id, at, by]);
  return fromRow(rows[0]);
}

export async function setIncidentStep(q: Queryable, id: string, step: IncidentStep, rec: IncidentStepRecord): Promise<Incident> {
  const { rows } = await q.query<Row>('UPDATE incidents SET steps = steps || jsonb_build_object($2::text, $3::jsonb) WHERE id = $1 RETURNING *', [
    id,
    step,
    JSON.stringify(rec),
  ]);
  return fromRow(rows[0]);
}

export async function setIncidentClosed(q: Queryable, id: string, by: string, reason: string, at: string): Promise<Incident> {
  const { rows } = await q.query<Row>("UPDATE incidents SET status = 'closed', closed_at = $2, closed_by = $3, close_reason = $4 WHERE id = $1 RETURNING *", [
    id,
    at,
    by,
    reason,
  ]);
  return fromRow(rows[0]);
}

/** Records that these overdue steps were announced. */
export async function setIncidentOverdueNotified(q: Queryable, id: string, steps: IncidentStep[]): Promise<void> {
  await q.query('UPDATE incidents SET overdue_notified = $2 WHERE id = $1', [id, steps]);
}

/** Open incidents with a step past due and not recorded, per step (the /metrics gauge, Health). */
export async function overdueIncidentSteps(q: Queryable, now: Date): Promise<Record<IncidentStep, number>> {
  const out: Record<IncidentStep, number> = { 'early-warning': 0, notification: 0, 'final-report': 0 };
  for (const i of await listIncidents(q, { status: 'open' })) for (const s of withNis2Clock(i, now).nis2.overdue) out[s]++;
  return out;
}
