import { useState } from 'react';
import { get, post, type Incident } from '../api';
import { ActionButton, matchesPerson, PersonFilter, RichText, When } from '../common';
import { ErrorBox, Loading, Page, useLoad, until } from '../common';
import { can, needs, useMe } from '../session';
import { PersonLink } from './Exceptions';

type IncidentView = Incident;
type Step = NonNullable<Incident['nis2']['overdue']>[number];
type StepRecord = NonNullable<Incident['steps']>[string];

function Clock({ label, due, open, sent }: { label: string; due: string; open: boolean; sent?: StepRecord | null }) {
  if (sent) {
    return (
      <span className="clock sent">
        {label}: sent <When iso={sent.sentAt} /> by {sent.by}, ref. {sent.reference}
        {Date.parse(sent.sentAt) > Date.parse(due) ? ' (late)' : ''}
      </span>
    );
  }
  const late = open && Date.parse(due) < Date.now();
  return (
    <span className={`clock${late ? ' late' : ''}`}>
      {label}: <When iso={due} />
      {open ? ` (${until(due)})` : ' (not recorded)'}
    </span>
  );
}

/** Incidents (lost credentials and the like) with the NIS2 Art. 23 clocks: early warning 24 h, notification 72 h, final report 1 month; acknowledge, record each report, close. */
export function Incidents() {
  const me = useMe();
  const [status, setStatus] = useState('open');
  const [who, setWho] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const allowed = can(me, 'incidents');
  const r = useLoad(
    () => (allowed ? get<{ incidents: IncidentView[] }>(`incidents${status ? `?status=${status}` : ''}`) : Promise.resolve({ incidents: [] })),
    [status, allowed],
    { everyMs: 30_000 },
  );
  const shown = (r.data?.incidents ?? []).filter((i) => matchesPerson(i.person, i.identityId ?? '', who));
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
        <PersonFilter id="incident-person" value={who} onChange={setWho} />
      </div>
      <ErrorBox error={r.error} />
      <LostCredential onDone={r.reload} />
      {done ? <p role="status">{done}</p> : null}
      {!r.data && !r.error ? <Loading what="incidents" /> : null}
      {r.data && r.data.incidents.length === 0 && allowed ? <p>No {status ? `${status} ` : ''}incidents.</p> : null}
      {r.data && r.data.incidents.length > 0 && shown.length === 0 ? (
        <p role="status">No incident is about a person whose name, user name or employee id contains “{who.trim()}”.</p>
      ) : null}
      {shown.length ? (
        <table aria-label="incidents">
          <thead>
            <tr>
              <th scope="col">Opened</th>
              <th scope="col">Person</th>
              <th scope="col">Kind</th>
              <th scope="col">Status</th>
              <th scope="col">Where</th>
              <th scope="col">NIS2 clocks</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((i) => (
              <IncidentRow
                key={i.id}
                i={i}
                onDone={(m) => {
                  setDone(m);
                  r.reload();
                }}
              />
            ))}
          </tbody>
        </table>
      ) : null}
    </Page>
  );
}

const STEP_LABEL: Record<Step, string> = { 'early-warning': 'early warning', notification: 'notification', 'final-report': 'final report' };

function IncidentRow({ i, onDone }: { i: IncidentView; onDone: (message: string) => void }) {
  const me = useMe();
  const may = can(me, 'handleIncident');
  const why = `handling incidents needs ${needs('handleIncident')}`;
  const open = i.status === 'open';
  const clocks = i.nis2.clocks ?? [
    { step: 'early-warning' as const, label: 'early warning', due: i.nis2.earlyWarningDue, sent: null, overdue: i.nis2.earlyWarningOverdue },
    { step: 'notification' as const, label: 'notification', due: i.nis2.notificationDue, sent: null, overdue: false },
    { step: 'final-report' as const, label: 'final report', due: i.nis2.finalReportDue, sent: null, overdue: false },
  ];
  const nextStep = clocks.find((c) => !c.sent)?.step ?? 'early-warning';
  const [step, setStep] = useState<Step>(nextStep);
  const [reference, setReference] = useState('');
  const [reason, setReason] = useState('');
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const short = i.id.slice(0, 8);
  const act = async (what: 'ack' | 'report' | 'close') => {
    setError(null);
    setBusy(true);
    try {
      const path = `incidents/${encodeURIComponent(i.id)}/${what}`;
      if (what === 'ack') await post(path, {});
      else if (what === 'report') await post(path, { step, reference: reference.trim() });
      else await post(path, { reason: reason.trim() });
      onDone(
        what === 'ack'
          ? `Incident ${short} acknowledged.`
          : what === 'report'
            ? `The ${STEP_LABEL[step]} of incident ${short} is recorded as sent: its clock stopped.`
            : `Incident ${short} closed.`,
      );
      setReference('');
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  const late = (i.nis2.overdue ?? (i.nis2.earlyWarningOverdue ? ['early-warning'] : [])).length > 0;
  return (
    <tr className={late ? 'late' : undefined}>
      <td>
        <When iso={i.openedAt} />
        <div className="muted mono" title={i.id}>
          {short}
        </div>
      </td>
      <td>{i.identityId ? <PersonLink id={i.identityId} person={i.person} /> : typeof i.data.holder === 'string' ? i.data.holder : '–'}</td>
      <td>
        {i.kind}
        {typeof i.data.note === 'string' ? <div className="muted">{i.data.note}</div> : null}
      </td>
      <td>
        {i.status}
        {i.acknowledgedAt ? (
          <div className="muted">
            acknowledged by {i.acknowledgedBy} <When iso={i.acknowledgedAt} />
          </div>
        ) : open ? (
          <div className="muted">not acknowledged</div>
        ) : null}
        {i.closedAt ? (
          <div className="muted">
            closed by {i.closedBy ?? '?'} <When iso={i.closedAt} />
            {i.closeReason ? (
              <>
                : <RichText text={i.closeReason} />
              </>
            ) : null}
          </div>
        ) : null}
      </td>
      <td>
        {i.system ?? '–'}
        {i.credentialId ? ` · credential ${i.credentialId}` : ''}
        {i.accountId ? ` · account ${i.accountId}` : ''}
      </td>
      <td className="clocks">
        {clocks.map((c) => (
          <Clock key={c.step} label={c.label} due={c.due} open={open} sent={c.sent} />
        ))}
      </td>
      <td>
        {open ? (
          <div className="incident-actions">
            {!i.acknowledgedAt ? (
              <ActionButton allowed={may} why={why} type="button" disabled={busy} onClick={() => void act('ack')}>
                Acknowledge
              </ActionButton>
            ) : null}
            <form
              className="filters"
              aria-label={`record a report of incident ${short}`}
              onSubmit={(e) => {
                e.preventDefault();
                void act('report');
              }}
            >
              <label>
                Report sent
                <select value={step} onChange={(e) => setStep(e.target.value as Step)}>
                  {clocks
                    .filter((c) => !c.sent)
                    .map((c) => (
                      <option key={c.step} value={c.step}>
                        {c.label}
                      </option>
                    ))}
                </select>
              </label>
              <label>
                Reference
                <input value={reference} onChange={(e) => setReference(e.target.value)} maxLength={300} required placeholder="CSIRT or authority reference" />
              </label>
              <ActionButton allowed={may && clocks.some((c) => !c.sent)} why={may ? 'every report is recorded' : why} type="submit" disabled={busy}>
                Record report
              </ActionButton>
            </form>
            <form
              className="filters"
              aria-label={`close incident ${short}`}
              onSubmit={(e) => {
                e.preventDefault();
                void act('close');
              }}
            >
              <label>
                Reason
                <input value={reason} onChange={(e) => setReason(e.target.value)} maxLength={1000} required />
              </label>
              <ActionButton allowed={may} why={why} type="submit" disabled={busy}>
                Close incident
              </ActionButton>
            </form>
          </div>
        ) : null}
        <ErrorBox error={error} />
      </td>
    </tr>
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
      const r = await post<{ result: { status: string } }>(
        `credentials/${encodeURIComponent(system)}/${encodeURIComponent(credential)}/lost`,
        note ? { note } : {},
      );
      setMsg(
        r.result.status === 'applied'
          ? 'The credential is blocked; an incident is open.'
          : 'Queued: it is retried until the lock system takes it; an incident is open.',
      );
      onDone();
    } catch (e) {
      setError(e as Error);
    }
  };
  return (
    <details className="panel">
      <summary>Report a lost credential</summary>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
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
