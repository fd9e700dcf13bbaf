import { useEffect, useState } from 'react';
import { get, post, type Run, type RunListItem } from '../api';
import { ActionButton, ErrorBox, Loading, Page, RichText, Status, useLoad, When, when } from '../common';
import { Progress } from '../charts';
import { PlanView } from '../plan';
import { navigate, useRoute } from '../router';
import { actorPrincipal, can, meAsActor, needs, useMe } from '../session';

export function Runs() {
  const { query } = useRoute();
  const id = query.get('id');
  return id ? <RunDetail id={id} /> : <RunList />;
}

const RUNS_PAGE = 50;

/** What the Progress column says: applied of planned (a bar while it applies), or why there is nothing to apply. */
function progressOf(r: RunListItem): React.ReactNode {
  if (r.progress && r.progress.total > 0) {
    return <Progress done={r.progress.done} total={r.progress.total} label={`progress of run ${r.id.slice(0, 8)}`} />;
  }
  if (r.operations === 0) return <span className="muted">nothing to do</span>;
  if (r.status === 'planned') return <span className="muted">plan only</span>;
  if (r.status === 'held' || r.status === 'cancelled') return <span className="muted">0 of {r.operations} applied</span>;
  if (r.applied !== undefined) return <Progress done={(r.applied ?? 0) + (r.failed ?? 0)} total={r.operations} label={`progress of run ${r.id.slice(0, 8)}`} />;
  return '–';
}

function RunList() {
  const me = useMe();
  // pages: the cursor of each page shown (null: the newest); only the newest page is polled
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  const before = cursors[cursors.length - 1] ?? null;
  const list = useLoad(
    () => get<{ runs: RunListItem[]; more?: boolean; next?: string | null }>(`runs?limit=${RUNS_PAGE}${before ? `&before=${encodeURIComponent(before)}` : ''}`),
    [before],
    { everyMs: before ? undefined : 3000 },
  );
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const start = async (mode: 'plan' | 'apply') => {
    setBusy(true);
    setError(null);
    try {
      const r = await post<{ runId: string | null }>('runs', { mode });
      if (r.runId) navigate(`/runs?id=${encodeURIComponent(r.runId)}`);
      else list.reload();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  const runs = list.data?.runs ?? [];
  const held = runs.filter((r) => r.status === 'held');
  const mayStart = can(me, 'startRun');
  return (
    <Page
      title="Runs"
      actions={
        <>
          <ActionButton allowed={mayStart} why={`starting a run needs ${needs('startRun')}`} onClick={() => void start('plan')} disabled={busy}>
            Plan now
          </ActionButton>
          <ActionButton allowed={mayStart} why={`starting a run needs ${needs('startRun')}`} onClick={() => void start('apply')} disabled={busy}>
            Apply full reconciliation
          </ActionButton>
        </>
      }
    >
      <ErrorBox error={error ?? list.error} />
      {held.length ? (
        <div className="callout" role="region" aria-label="held runs">
          <h2>Held for approval</h2>
          <ul>
            {held.map((r) => (
              <li key={r.id}>
                <a
                  href={`/ui/runs?id=${r.id}`}
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(`/runs?id=${r.id}`);
                  }}
                >
                  Run {r.id.slice(0, 8)}
                </a>{' '}
                ({r.trigger}, {r.operations} operations): {r.error ? <RichText text={r.error} /> : null}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {!list.data && !list.error ? <Loading what="runs" /> : null}
      {list.data ? (
        <table aria-label="runs">
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Status</th>
              <th scope="col">Kind</th>
              <th scope="col">Trigger</th>
              <th scope="col">Operations</th>
              <th scope="col">Progress</th>
              <th scope="col">Created</th>
              <th scope="col">Finished</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id} className={r.status === 'held' ? 'held' : undefined}>
                <td>
                  <a
                    href={`/ui/runs?id=${r.id}`}
                    onClick={(e) => {
                      e.preventDefault();
                      navigate(`/runs?id=${r.id}`);
                    }}
                  >
                    {r.id.slice(0, 8)}
                  </a>
                </td>
                <td>
                  <Status s={r.status} />
                </td>
                <td>{r.kind}</td>
                <td>{r.trigger}</td>
                <td>{r.operations}</td>
                <td>{progressOf(r)}</td>
                <td>
                  <When iso={r.createdAt} />
                </td>
                <td>
                  <When iso={r.finishedAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {list.data && (cursors.length > 1 || list.data.more) ? (
        <nav className="row pager" aria-label="run pages">
          <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
            Newer
          </button>
          <span className="muted">Page {cursors.length}</span>
          <button type="button" disabled={!list.data.more || !list.data.next} onClick={() => setCursors((c) => [...c, list.data!.next ?? null])}>
            Older
          </button>
        </nav>
      ) : null}
    </Page>
  );
}

function RunDetail({ id }: { id: string }) {
  const me = useMe();
  // a run's record carries its whole plan: re-read it often only while it moves, now and then while it waits
  const [every, setEvery] = useState<number | undefined>(3000);
  const run = useLoad(() => get<Run>(`runs/${encodeURIComponent(id)}`), [id], { everyMs: every });
  const status = run.data?.status;
  useEffect(() => {
    if (status) setEvery(status === 'applying' || status === 'approved' ? 3000 : status === 'held' ? 15_000 : undefined);
  }, [status]);
  const [error, setError] = useState<Error | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const act = async (what: 'approve' | 'reject') => {
    setBusy(true);
    setError(null);
    try {
      const r = await post<{ run: Run | null; held?: boolean }>(`runs/${encodeURIComponent(id)}/${what}`, what === 'reject' && reason ? { reason } : {});
      setDone(
        what === 'approve'
          ? r.held
            ? `Approved, but the world had moved: held again as run ${r.run?.id ?? ''}.`
            : 'Approved: the run is being applied.'
          : 'Rejected: nothing of it is applied.',
      );
      run.reload();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  const back = (
    <button type="button" onClick={() => navigate('/runs')}>
      All runs
    </button>
  );
  if (run.error)
    return (
      <Page title={`Run ${id.slice(0, 8)}`} actions={back}>
        <ErrorBox error={run.error} />
      </Page>
    );
  if (!run.data)
    return (
      <Page title={`Run ${id.slice(0, 8)}`} actions={back}>
        <Loading what="the run" />
      </Page>
    );
  const r = run.data;
  const causedBy = r.causedBy ?? [];
  const mine = !!me && causedBy.some((a) => actorPrincipal(a) === meAsActor(me));
  const mayApprove = can(me, 'approve');
  const approveWhy = !mayApprove
    ? `approving needs ${needs('approve')}`
    : mine
      ? 'four-eyes: you started or caused this run, so someone else must approve it'
      : '';
  return (
    <Page title={`Run ${r.id.slice(0, 8)}`} actions={back}>
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          <Status s={r.status} />
        </dd>
        <dt>Kind, scope</dt>
        <dd>
          {r.kind}, {r.scope}
        </dd>
        <dt>Trigger</dt>
        <dd>{r.trigger}</dd>
        <dt>Created</dt>
        <dd>{when(r.createdAt)}</dd>
        {r.finishedAt ? (
          <>
            <dt>Finished</dt>
            <dd>{when(r.finishedAt)}</dd>
          </>
        ) : null}
        {r.approvedBy ? (
          <>
            <dt>Approved by</dt>
            <dd>{r.approvedBy}</dd>
          </>
        ) : null}
        {r.progress && (r.status === 'applying' || r.progress.done > 0) ? (
          <>
            <dt>Progress</dt>
            <dd>
              <Progress done={r.progress.done} total={r.progress.total} label="run progress" />
            </dd>
          </>
        ) : null}
        {causedBy.length ? (
          <>
            <dt>Started or caused by</dt>
            <dd>{causedBy.join(', ')}</dd>
          </>
        ) : null}
      </dl>
      {r.error ? (
        <p className={r.status === 'held' ? 'warning' : 'error'} role="note">
          <RichText text={r.error} />
        </p>
      ) : null}
      {r.status === 'held' ? (
        <div className="callout" role="region" aria-label="approval">
          <p>This run is held: nothing of it is applied until someone approves it. Whoever started or caused it cannot approve it.</p>
          <div className="row">
            <ActionButton allowed={mayApprove && !mine} why={approveWhy} className="primary" onClick={() => void act('approve')} disabled={busy}>
              Approve run
            </ActionButton>
            <label htmlFor="reject-reason">Reason for rejecting</label>
            <input id="reject-reason" value={reason} onChange={(e) => setReason(e.target.value)} maxLength={1000} />
            <ActionButton allowed={mayApprove} why={`rejecting needs ${needs('approve')}`} onClick={() => void act('reject')} disabled={busy}>
              Reject run
            </ActionButton>
          </div>
          {approveWhy ? <p className="muted">{approveWhy}.</p> : null}
        </div>
      ) : null}
      {done ? (
        <p role="status" className="ok">
          {done}
        </p>
      ) : null}
      <ErrorBox error={error} />
      {r.plan ? <PlanView plan={r.plan} results={r.results} /> : <p className="muted">This run has no plan recorded.</p>}
    </Page>
  );
}
