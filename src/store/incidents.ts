import { randomUUID } from 'node:crypto';
import type { Queryable } from './db.js';

/**
 * NIS2 Art. 23: an early warning within 24 hours of becoming aware of a significant incident,
 * an incident notification within 72 hours, a final report within one month.
 */
const NIS2_CLOCK = { earlyWarningHours: 24, notificationHours: 72, finalReportDays: 30 } as const;

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
  data: Record<string, unknown>;
}

export interface IncidentView extends Incident {
  nis2: { earlyWarningDue: string; notificationDue: string; finalReportDue: string; earlyWarningOverdue: boolean; hoursToEarlyWarning: number };
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
  data: Record<string, unknown>;
}

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
    closedAt: r.closed_at ? new Date(r.closed_at).toISOString() : null,
    data: r.data,
  };
}

export function withNis2Clock(i: Incident, now: Date): IncidentView {
  const opened = Date.parse(i.openedAt);
  const h = 3_600_000;
  const ew = opened + NIS2_CLOCK.earlyWarningHours * h;
  return {
    ...i,
    nis2: {
      earlyWarningDue: new Date(ew).toISOString(),
      notificationDue: new Date(opened + NIS2_CLOCK.notificationHours * h).toISOString(),
      finalReportDue: new Date(opened + NIS2_CLOCK.finalReportDays * 24 * h).toISOString(),
      earlyWarningOverdue: i.status === 'open' && now.getTime() > ew,
      hoursToEarlyWarning: Math.round(((ew - now.getTime()) / h) * 10) / 10,
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
    [randomUUID(), i.kind, i.system ?? null, i.accountId ?? null, i.credentialId ?? null, i.identityId ?? null, i.at ?? new Date().toISOString(), JSON.stringify(i.data ?? {})],
  );
  return fromRow(rows[0]!);
}

export async function listIncidents(q: Queryable, opts: { status?: 'open' | 'closed' } = {}): Promise<Incident[]> {
  const { rows } = opts.status
    ? await q.query<Row>('SELECT * FROM incidents WHERE status = $1 ORDER BY opened_at DESC', [opts.status])
    : await q.query<Row>('SELECT * FROM incidents ORDER BY opened_at DESC');
  return rows.map(fromRow);
}
