import { useState } from 'react';
import { get, post } from '../api';
import { ActionButton } from '../common';
import { ErrorBox, Loading, Page, useLoad, when, until } from '../common';
import { can, needs, useMe } from '../session';

interface IncidentView {
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
  nis2: { earlyWarningDue: string; notificationDue: string; finalReportDue: string; earlyWarningOverdue: boolean; hoursToEarlyWarning: number };
}

function Clock({ label, due, open }: { label: string; due: string; open: boolean }) {
  const late = open && Date.parse(due) < Date.now();
  return (
    <span className={`clock${late ? ' late' : ''}`}>
      {label}: {when(due)}
      {open ? ` (${until(due)})` : ''}
    </span>
  );
}

/** Incidents (lost credentials and the like) with the NIS2 Art. 23 clocks: early warning 24 h, notification 72 h, final report 1 month. */
export function Incidents() {
  const me = useMe();
  const [status, setStatus] = useState('open');
  const allowed = can(me, 'incidents');
  const r = useLoad(() => (allowed ? get<{ incidents: IncidentView[] }>(`incidents${status ? `?status=${status}` : ''}`) : Promise.resolve({ incidents: [] })), [status, allowed], { everyMs: 30_000 });
  return (
    <Page title="Incidents">
      {!allowed ? <p className="muted">Incidents need {needs('incidents')}.</p> : null}
      <div className="row">
        <label htmlFor="incident-status">Show</label>
        <select id="incident-status" value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="open">open incidents</option>
          <option value="closed">closed incidents</option>
          <option value="">all incidents</option>
        </select>
      </div>
      <ErrorBox error={r.error} />
      <LostCredential onDone={r.reload} />
      {!r.data && !r.error ? <Loading what="incidents" /> : null}
      {r.data && r.data.incidents.length === 0 && allowed ? <p>No incidents.</p> : null}
      {r.data?.incidents.length ? (
        <table aria-label="incidents">
          <thead>
            <tr>
              <th scope="col">Opened</th>
              <th scope="col">Kind</th>
              <th scope="col">Status</th>
              <th scope="col">Where</th>
              <th scope="col">NIS2 clocks</th>
            </tr>
          </thead>
          <tbody>
            {r.data.incidents.map((i) => (
              <tr key={i.id} className={i.nis2.earlyWarningOverdue ? 'late' : undefined}>
                <td>{when(i.openedAt)}</td>
                <td>
                  {i.kind}
                  {typeof i.data.note === 'string' ? <div className="muted">{i.data.note}</div> : null}
                </td>
                <td>{i.status}</td>
                <td>
                  {i.system ?? '–'}
                  {i.credentialId ? ` · credential ${i.credentialId}` : ''}
                  {i.accountId ? ` · account ${i.accountId}` : ''}
                </td>
                <td className="clocks">
                  <Clock label="early warning" due={i.nis2.earlyWarningDue} open={i.status === 'open'} />
                  <Clock label="notification" due={i.nis2.notificationDue} open={i.status === 'open'} />
                  <Clock label="final report" due={i.nis2.finalReportDue} open={i.status === 'open'} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Page>
  );
}

/** Report a lost card or key: it is killed at once (retried until it lands) and an incident opens. */
function LostCredential({ onDone }: { onDone: () => void }) {
  const me = useMe();
  const allowed = can(me, 'reportLost');
  const [system, setSystem] = useState('');
  const [credential, setCredential] = useState('');
  const [note, setNote] = useState('');
  const [msg, setMsg] = useState<string | null>(null);
  // the configured lock systems, offered as the field's suggestions
  const systems = useLoad(() => get<{ systems: Array<{ system: string }> }>('console/health').then((h) => h.systems.map((x) => x.system)), []);
  const [error, setError] = useState<Error | null>(null);
  const submit = async () => {
    setError(null);
    setMsg(null);
    try {
      const r = await post<{ result: { status: string } }>(`credentials/${encodeURIComponent(system)}/${encodeURIComponent(credential)}/lost`, note ? { note } : {});
      setMsg(r.result.status === 'applied' ? 'The credential is blocked; an incident is open.' : 'Queued: it is retried until the lock system takes it; an incident is open.');
      onDone();
    } catch (e) {
      setError(e as Error);
    }
  };
  return (
    <details className="panel">
      <summary>Report a lost credential</summary>
      <form className="filters" onSubmit={(e) => { e.preventDefault(); void submit(); }}>
        <label>
          Lock system
          <input value={system} onChange={(e) => setSystem(e.target.value)} list="lost-systems" required />
          <datalist id="lost-systems">
            {(systems.data ?? []).map((n) => (
              <option key={n} value={n} />
            ))}
          </datalist>
        </label>
        <label>
          Credential id
          <input value={credential} onChange={(e) => setCredential(e.target.value)} required />
        </label>
        <label>
          Note
          <input value={note} onChange={(e) => setNote(e.target.value)} maxLength={2000} />
        </label>
        <ActionButton allowed={allowed} why={`reporting a lost credential needs ${needs('reportLost')}`} type="submit">
          Block credential
        </ActionButton>
      </form>
      {msg ? <p role="status">{msg}</p> : null}
      <ErrorBox error={error} />
    </details>
  );
}
