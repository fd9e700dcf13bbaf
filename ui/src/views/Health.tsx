import { Link } from '../router';
import { useState } from 'react';
import { get, post } from '../api';
import { ActionButton } from '../common';
import { can, needs, useMe } from '../session';
import { BarChart, LineChart } from '../charts';
import { ErrorBox, Loading, Page, useLoad, when } from '../common';

interface Ready {
  status: string;
  store?: string;
  redis?: string;
  overdueRevocations?: number;
  oldestOverdueSince?: string | null;
  overdue?: Array<{ system?: string; identityId?: string; externalId?: string; since?: string; group?: string; [k: string]: unknown }>;
  pendingChanges?: number;
  oldestPendingSince?: string | null;
  heldRuns?: number;
  heldPeople?: number;
  heldMemberships?: number;
  oldestHeldSince?: string | null;
  held?: Array<{ runId: string; since: string; people: number; memberships: number; reason: string | null }>;
}

interface Dist {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  buckets: Array<{ le: number | null; count: number }>;
}

interface Health {
  at: string;
  overdue: { count: number; oldestSince: string | null };
  queues: Record<string, Record<string, number>>;
  queued: number;
  systems: Array<{ system: string; reachable: boolean; ms: number; error: string | null }>;
  latency: { revocation: Dist; grant: Dist };
  grantsApplied?: number;
  incidentReportsOverdue?: Record<'early-warning' | 'notification' | 'final-report', number>;
  sources: Array<{ name: string; type: string }>;
  history: Array<{ at: string; overdue: number; queued: number; revocations: number; revocationP95: number | null }>;
  sampleEveryMs: number;
}

const secs = (v: number | null) => (v === null ? '–' : v < 1 ? `${Math.round(v * 1000)} ms` : `${v.toFixed(1)} s`);

/** Per-bucket counts from cumulative ones, labelled by their upper bound. */
function bars(d: Dist) {
  let prev = 0;
  return d.buckets.map((b) => {
    const n = b.count - prev;
    prev = b.count;
    return { label: b.le === null ? '>' : b.le < 1 ? `${b.le * 1000}ms` : `${b.le}s`, value: n };
  });
}

/** Readiness, overdue revocations, queue depth, lock systems' reachability, and small charts of them over time. */
export function HealthView() {
  const ready = useLoad(
    async () => {
      const r = await fetch('/readyz', { credentials: 'same-origin' });
      return (await r.json()) as Ready;
    },
    [],
    { everyMs: 10_000 },
  );
  const h = useLoad(() => get<Health>('console/health'), [], { everyMs: 10_000 });
  const rd = ready.data;
  const d = h.data;
  return (
    <Page title="System health">
      <ErrorBox error={ready.error ?? h.error} />
      {!rd && !d ? <Loading what="health" /> : null}
      <div className="cards">
        {rd ? (
          <>
            <div className={`card ${rd.status === 'ready' ? 'good' : 'bad'}`} aria-label="readiness">
              <div className="card-title">Service</div>
              <div className="card-value">{rd.status}</div>
              <div className="muted">
                store {rd.store ?? '?'} · Redis {rd.redis ?? '?'}
              </div>
            </div>
            <div className={`card ${(rd.overdueRevocations ?? 0) > 0 ? 'bad' : 'good'}`} aria-label="overdue revocations">
              <div className="card-title">Overdue revocations</div>
              <div className="card-value">{rd.overdueRevocations ?? 0}</div>
              <div className="muted">{rd.oldestOverdueSince ? `oldest since ${when(rd.oldestOverdueSince)}` : 'every revocation has landed'}</div>
            </div>
            <div className={`card ${(rd.heldPeople ?? 0) > 0 ? 'bad' : 'good'}`} aria-label="held revocations">
              <div className="card-title">Held revocations</div>
              <div className="card-value">{rd.heldPeople ?? 0}</div>
              <div className="muted">
                {rd.heldRuns
                  ? `${rd.heldPeople ?? 0} people keep ${rd.heldMemberships ?? 0} memberships in ${rd.heldRuns} held run(s), oldest since ${when(rd.oldestHeldSince ?? null)}: approve or reject`
                  : 'no run waits for approval'}
              </div>
            </div>
            {d?.incidentReportsOverdue ? <IncidentCard overdue={d.incidentReportsOverdue} /> : null}
            <div className="card" aria-label="pending changes">
              <div className="card-title">Pending changes</div>
              <div className="card-value">{rd.pendingChanges ?? 0}</div>
              <div className="muted">{rd.oldestPendingSince ? `oldest since ${when(rd.oldestPendingSince)}` : 'none waiting'}</div>
            </div>
          </>
        ) : null}
        {d ? (
          <div className="card" aria-label="queue depth">
            <div className="card-title">Queued jobs (waiting or running)</div>
            <div className="card-value">{d.queued}</div>
            <div className="muted">
              {Object.entries(d.queues)
                .map(
                  ([q, s]) =>
                    `${q}: ${(s.waiting ?? 0) + (s.prioritized ?? 0)} waiting, ${s.active ?? 0} active, ${s.delayed ?? 0} delayed${s.failed ? `, ${s.failed} failed` : ''}`,
                )
                .join(' · ') || 'no queue counts yet'}
            </div>
          </div>
        ) : null}
      </div>
      {d ? (
        <>
          <h2>Lock systems</h2>
          <table aria-label="lock systems">
            <thead>
              <tr>
                <th scope="col">System</th>
                <th scope="col">Reachable</th>
                <th scope="col">Answered in</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {d.systems.map((s) => (
                <tr key={s.system} className={s.reachable ? undefined : 'late'}>
                  <td>{s.system}</td>
                  <td>{s.reachable ? 'yes' : 'no'}</td>
                  <td>{s.ms} ms</td>
                  <td>{s.error ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Sources sources={d.sources} />
          <h2>Revocation latency</h2>
          <p>
            From the source event to the lock system: {d.latency.revocation.count} revocations since this process started
            {d.latency.revocation.count
              ? `; p50 ${secs(d.latency.revocation.p50)}, p95 ${secs(d.latency.revocation.p95)}, p99 ${secs(d.latency.revocation.p99)}`
              : ''}
            . Grants: {d.grantsApplied ?? d.latency.grant.count} applied since this process started
            {d.latency.grant.count ? ` (from a source event: p95 ${secs(d.latency.grant.p95)} of ${d.latency.grant.count})` : ''}.
          </p>
          <div className="charts">
            <BarChart title="Revocations by latency (event to applied)" bars={bars(d.latency.revocation)} />
            <LineChart title="Revocation latency, p95 per interval (s)" points={d.history.map((x) => ({ at: x.at, value: x.revocationP95 }))} unit=" s" />
            <LineChart title="Overdue revocations over time" points={d.history.map((x) => ({ at: x.at, value: x.overdue }))} />
            <LineChart title="Queued jobs over time" points={d.history.map((x) => ({ at: x.at, value: x.queued }))} />
          </div>
          <p className="muted">
            History sampled every {Math.round(d.sampleEveryMs / 1000)} s by this process since it started; Prometheus (/metrics) keeps the long history.
          </p>
        </>
      ) : null}
      {rd?.held?.length ? (
        <>
          <h2>Held runs waiting for approval</h2>
          <table aria-label="held runs">
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Held since</th>
                <th scope="col">People</th>
                <th scope="col">Memberships</th>
                <th scope="col">Why</th>
              </tr>
            </thead>
            <tbody>
              {rd.held.map((x) => (
                <tr key={x.runId} className="late">
                  <td>
                    <a href={`/ui/runs?id=${x.runId}`}>{x.runId.slice(0, 8)}</a>
                  </td>
                  <td>{when(x.since)}</td>
                  <td>{x.people}</td>
                  <td>{x.memberships}</td>
                  <td>{x.reason ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
      {rd?.overdue?.length ? (
        <>
          <h2>Overdue revocations</h2>
          <pre>{JSON.stringify(rd.overdue, null, 2)}</pre>
        </>
      ) : null}
    </Page>
  );
}

interface SyncResult {
  source: string;
  type: string;
  counts?: Record<string, number>;
  rows?: number;
  errors?: Array<{ text: string }>;
  warnings?: string[];
  seen?: number;
  created?: number;
  changed?: number;
  removed?: number;
  leavers?: number;
}

/** The configured sources, each with "Pull now" (POST /sources/{name}/sync) and what the pull found. */
function Sources({ sources }: { sources: Array<{ name: string; type: string }> }) {
  const me = useMe();
  const allowed = can(me, 'syncSource');
  const [result, setResult] = useState<SyncResult | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  if (!sources.length) return null;
  const pull = async (name: string) => {
    setBusy(name);
    setError(null);
    setResult(null);
    try {
      setResult(await post<SyncResult>(`sources/${encodeURIComponent(name)}/sync`));
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(null);
    }
  };
  const counts =
    result?.counts ??
    (result
      ? { seen: result.seen ?? 0, created: result.created ?? 0, changed: result.changed ?? 0, removed: result.removed ?? 0, leavers: result.leavers ?? 0 }
      : null);
  return (
    <>
      <h2>Sources</h2>
      <ul aria-label="sources">
        {sources.map((s) => (
          <li key={s.name} className="row">
            <strong>{s.name}</strong> <span className="muted">({s.type})</span>
            <ActionButton allowed={allowed} why={`pulling a source needs ${needs('syncSource')}`} onClick={() => void pull(s.name)} disabled={busy !== null}>
              {busy === s.name ? `Pulling ${s.name}…` : `Pull ${s.name} now`}
            </ActionButton>
          </li>
        ))}
      </ul>
      {result && counts ? (
        <div role="status" className="ok">
          Pulled {result.source}:{' '}
          {Object.entries(counts)
            .map(([k, v]) => `${v} ${k}`)
            .join(', ')}
          .
          {result.errors?.length ? (
            <ul>
              {result.errors.map((e, i) => (
                <li key={i}>{e.text}</li>
              ))}
            </ul>
          ) : null}
          {result.warnings?.map((w, i) => (
            <p key={i} className="warning">
              {w}
            </p>
          ))}
        </div>
      ) : null}
      <ErrorBox error={error} />
    </>
  );
}

/** NIS2 reports due and not recorded as sent (issue 26): red while any is overdue, with a way to the incidents. */
function IncidentCard({ overdue }: { overdue: Record<'early-warning' | 'notification' | 'final-report', number> }) {
  const total = overdue['early-warning'] + overdue.notification + overdue['final-report'];
  const parts = [
    overdue['early-warning'] ? `${overdue['early-warning']} early warning${overdue['early-warning'] === 1 ? '' : 's'}` : '',
    overdue.notification ? `${overdue.notification} notification${overdue.notification === 1 ? '' : 's'}` : '',
    overdue['final-report'] ? `${overdue['final-report']} final report${overdue['final-report'] === 1 ? '' : 's'}` : '',
  ].filter(Boolean);
  return (
    <div className={`card ${total > 0 ? 'bad' : 'good'}`} aria-label="overdue incident reports">
      <div className="card-title">Overdue incident reports</div>
      <div className="card-value">{total}</div>
      <div className="muted">
        {total ? (
          <>
            {parts.join(', ')} not recorded as sent: <Link to="/incidents">Incidents</Link>
          </>
        ) : (
          'every NIS2 report due is recorded'
        )}
      </div>
    </div>
  );
}
