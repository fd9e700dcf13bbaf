import { useState } from 'react';
import { ApiError, get, post } from '../api';
import { ErrorBox, Loading, Page, RichText, useLoad, When } from '../common';
import { PersonLink } from './Exceptions';
import { can, needs, useMe } from '../session';

interface Entry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string | null;
  runId: string | null;
  data: Record<string, unknown>;
  hash: string;
  person?: { id: string; userName: string; displayName: string | null } | null;
}

interface AuditPage {
  entries: Entry[];
  more: boolean;
  next: number | null;
  why?: string | null;
}

const PAGE = 100;

interface Verify {
  ok: boolean;
  entries?: number;
  firstBadSeq?: number | null;
  problem?: string | null;
  pending?: number;
  anchoredSeq?: number | null;
  firstBad?: { line: number; seq: number; kind: string; problem: string } | null;
}

/** One line of an entry's data: its reason and result, as the plan and the run recorded them. */
function summaryOf(d: Record<string, unknown>): string {
  const reason = d.reason as { text?: unknown } | string | undefined;
  const text = typeof reason === 'string' ? reason : typeof reason?.text === 'string' ? reason.text : '';
  const status = (d.result as { status?: unknown } | undefined)?.status;
  // the incident lifecycle: which report, when, its reference; an overdue step's own text
  if (typeof d.step === 'string' && typeof d.reference === 'string')
    return `${d.step} sent ${String(d.sentAt ?? '')}, reference ${d.reference}${d.late ? ' (late)' : ''}`;
  if (!text && typeof d.text === 'string') return d.text;
  return [text, typeof status === 'string' ? `(${status})` : ''].filter(Boolean).join(' ');
}

/** The hash-chained audit log, newest first, and its verification (the chain, and signed checkpoints if pasted). */
export function Audit() {
  const me = useMe();
  const allowed = can(me, 'audit');
  const [subject, setSubject] = useState('');
  const [since, setSince] = useState('');
  const [applied, setApplied] = useState({ subject: '', since: '' });
  // pages: the cursor of each page shown so far (null: the newest); Older and Newer walk it
  const [cursors, setCursors] = useState<Array<number | null>>([null]);
  const before = cursors[cursors.length - 1] ?? null;
  const query = new URLSearchParams({
    limit: String(PAGE),
    ...(applied.subject ? { q: applied.subject } : {}),
    ...(applied.since ? { since: new Date(applied.since).toISOString() } : {}),
    ...(before !== null ? { before: String(before) } : {}),
  });
  const log = useLoad(
    () => (allowed ? get<AuditPage>(`console/audit?${query}`) : Promise.resolve({ entries: [], more: false, next: null })),
    [applied.subject, applied.since, before, allowed],
  );
  const [verify, setVerify] = useState<Verify | null>(null);
  const [checkpoints, setCheckpoints] = useState('');
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(null);
    setVerify(null);
    try {
      setVerify(
        checkpoints.trim()
          ? await post<Verify>('audit/verify', { checkpoints }, { okStatuses: [409] })
          : await get<Verify>('audit/verify', { okStatuses: [409] }),
      );
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  if (!allowed)
    return (
      <Page title="Audit log">
        <p className="muted">The audit log needs {needs('audit')}.</p>
      </Page>
    );
  const entries = log.data?.entries ?? [];
  return (
    <Page title="Audit log">
      <section className="panel" aria-label="verification">
        <label htmlFor="checkpoints" className="block">
          Signed checkpoints (optional: JSON lines from the checkpoint sink)
        </label>
        <textarea id="checkpoints" rows={3} value={checkpoints} onChange={(e) => setCheckpoints(e.target.value)} spellCheck={false} />
        <div className="row">
          <button type="button" className="primary" onClick={() => void run()} disabled={busy}>
            {busy ? 'Verifying…' : 'Verify audit chain'}
          </button>
        </div>
        {verify ? (
          <p role="status" className={verify.ok ? 'ok' : 'error'}>
            {verify.ok
              ? `The chain verifies${verify.entries !== undefined ? `: ${verify.entries} entries` : ''}${verify.anchoredSeq ? `, anchored by checkpoints up to entry ${verify.anchoredSeq}` : ''}${verify.pending ? ` (${verify.pending} committed entries not chained yet)` : ''}.`
              : `The chain does not verify: ${verify.problem ?? verify.firstBad?.problem ?? 'broken'}${verify.firstBadSeq ? ` (first bad entry ${verify.firstBadSeq})` : ''}.`}
          </p>
        ) : null}
        <ErrorBox error={error instanceof ApiError || error ? error : null} />
      </section>
      <form
        role="search"
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied({ subject: subject.trim(), since });
          setCursors([null]);
        }}
      >
        <label htmlFor="audit-subject">Person or subject (name, user name, employee id; or a run id, system:account)</label>
        <input id="audit-subject" value={subject} onChange={(e) => setSubject(e.target.value)} />
        <label htmlFor="audit-since">Since</label>
        <input id="audit-since" type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
        <button type="submit">Filter</button>
      </form>
      <ErrorBox error={log.error} />
      {!log.data && !log.error ? <Loading what="the audit log" /> : null}
      {log.data && entries.length === 0 ? (
        <p role="status" className="muted">
          {log.data.why ?? 'No entries.'}
        </p>
      ) : null}
      {entries.length ? (
        <table aria-label="audit entries">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">What</th>
              <th scope="col">Subject</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.seq}>
                <td>{e.seq}</td>
                <td>
                  <When iso={e.at} />
                </td>
                <td>{e.actor}</td>
                <td>{e.action}</td>
                <td>
                  {e.person ? <PersonLink id={e.person.id} person={e.person} /> : null}
                  {e.subject && e.subject !== e.person?.id ? (
                    <div className="mono muted" title={e.subject}>
                      {e.subject.length > 24 ? `${e.subject.slice(0, 8)}…` : e.subject}
                    </div>
                  ) : null}
                </td>
                <td>
                  <RichText text={summaryOf(e.data)} />
                  <details>
                    <summary>data</summary>
                    <pre>{JSON.stringify(e.data, null, 2)}</pre>
                  </details>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {log.data && (cursors.length > 1 || log.data.more) ? (
        <nav className="row pager" aria-label="audit pages">
          <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
            Newer
          </button>
          <span className="muted" role="status">
            Page {cursors.length}: entries {entries[0]?.seq ?? '–'} to {entries.at(-1)?.seq ?? '–'}
          </span>
          <button type="button" disabled={!log.data.more || log.data.next === null} onClick={() => setCursors((c) => [...c, log.data!.next])}>
            Older
          </button>
        </nav>
      ) : null}
    </Page>
  );
}
