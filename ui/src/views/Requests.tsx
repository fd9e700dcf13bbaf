import { useState, type FormEvent } from 'react';
import { governance, type AccessRequest } from '../api';
import { ActionButton, ErrorBox, Loading, matchesPerson, Page, PersonFilter, Status, useLoad, When, when } from '../common';
import { actorPrincipal, can, meAsActor, needs, useMe } from '../session';
import { GroupSuggestions, PersonLink } from './Exceptions';

/** Access requests (issue 15): ask for an access group or a role bundle for a window; the group's owner (or sponsor) approves or denies. */
export function Requests() {
  const [status, setStatus] = useState('pending');
  const r = useLoad(() => governance.requests(status), [status], { everyMs: 30_000 });
  // the outcome of a decision is shown here: the decided request may leave the list it was in
  const [decided, setDecided] = useState<string | null>(null);
  const [who, setWho] = useState('');
  const shown = (r.data?.requests ?? []).filter((q) => matchesPerson(q.person, q.identityId, who));
  return (
    <Page title="Access requests">
      <NewRequest onDone={r.reload} />
      <div className="row">
        <label htmlFor="request-status">Show</label>
        <select id="request-status" value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="pending">pending requests</option>
          <option value="approved">approved requests</option>
          <option value="denied">denied requests</option>
          <option value="">all requests</option>
        </select>
        <PersonFilter id="request-person" value={who} onChange={setWho} />
      </div>
      {decided ? <p role="status">{decided}</p> : null}
      <ErrorBox error={r.error} />
      {!r.data && !r.error ? <Loading what="requests" /> : null}
      {r.data && r.data.requests.length === 0 ? <p>No requests.</p> : null}
      {r.data && r.data.requests.length > 0 && shown.length === 0 ? (
        <p role="status">No request is for a person whose name, user name or employee id contains “{who.trim()}”.</p>
      ) : null}
      {shown.length ? (
        <table aria-label="access requests">
          <thead>
            <tr>
              <th scope="col">Requested</th>
              <th scope="col">Person</th>
              <th scope="col">Access</th>
              <th scope="col">Window</th>
              <th scope="col">Justification</th>
              <th scope="col">Status and approvals</th>
              <th scope="col">Decide</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((q) => (
              <RequestRow
                key={q.id}
                q={q}
                onDone={(m) => {
                  setDecided(m);
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

function RequestRow({ q, onDone }: { q: AccessRequest; onDone: (message: string) => void }) {
  const me = useMe();
  const allowed = can(me, 'approve');
  const [comment, setComment] = useState('');
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const act = async (what: 'approve' | 'deny') => {
    setError(null);
    setBusy(true);
    try {
      if (what === 'approve') {
        const a = await governance.approveRequest(q.id, comment.trim());
        onDone(
          a.request.status === 'approved'
            ? `Approved the request for ${q.target}: the grant is being applied.`
            : `Your approval of the request for ${q.target} is recorded; another step is still open.`,
        );
      } else {
        await governance.denyRequest(q.id, comment.trim());
        onDone(`Denied the request for ${q.target}.`);
      }
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  // four-eyes: whoever asked, and the person the access is for, never decide it (the API refuses it too)
  const mine =
    !!me &&
    (actorPrincipal(q.requestedBy) === meAsActor(me) ||
      (!!q.person && [me.name, me.email, me.subject].some((n) => !!n && [q.person!.userName, q.person!.externalId].includes(n))));
  const why = !allowed
    ? `deciding a request needs ${needs('approve')}`
    : 'four-eyes: you asked for this access (or it is for you), so someone else must decide it';
  const mayDecide = allowed && !mine;
  return (
    <tr>
      <td>
        {when(q.createdAt)}
        <div className="muted">by {q.requestedBy}</div>
      </td>
      <td>
        <PersonLink id={q.identityId} person={q.person} />
      </td>
      <td>
        {q.kind === 'role' ? `role ${q.target}` : q.target}
        {q.kind === 'role' ? <div className="muted">{q.groups.join(', ')}</div> : null}
      </td>
      <td>
        <When iso={q.validFrom} /> – <When iso={q.validUntil} />
      </td>
      <td>{q.justification}</td>
      <td>
        <Status s={q.status} />
        <ul className="plain" aria-label="approval steps">
          {q.steps.map((s, i) => (
            <li key={i}>
              {s.kind}
              {s.who ? ` ${s.who}` : ' (any approver)'}:{' '}
              {s.approvedBy ? `given by ${s.approvedBy} ${when(s.approvedAt)}${s.comment ? ` (${s.comment})` : ''}` : 'open'}
            </li>
          ))}
        </ul>
        {q.decidedBy ? (
          <div className="muted">
            {q.status} by {q.decidedBy} {when(q.decidedAt)}
            {q.decisionComment ? `: ${q.decisionComment}` : ''}
          </div>
        ) : null}
      </td>
      <td>
        {q.status === 'pending' ? (
          <form
            className="filters"
            onSubmit={(e) => {
              e.preventDefault();
              void act('approve');
            }}
          >
            <label>
              Comment
              <input value={comment} onChange={(e) => setComment(e.target.value)} maxLength={1000} placeholder="required to deny" />
            </label>
            <ActionButton allowed={mayDecide} why={why} type="submit" className="primary" disabled={busy}>
              Approve
            </ActionButton>
            <ActionButton allowed={mayDecide} why={why} type="button" disabled={busy} onClick={() => void act('deny')}>
              Deny
            </ActionButton>
          </form>
        ) : null}
        <ErrorBox error={error} />
      </td>
    </tr>
  );
}

function NewRequest({ onDone }: { onDone: () => void }) {
  const [identity, setIdentity] = useState('');
  const [kind, setKind] = useState<'accessGroup' | 'role'>('accessGroup');
  const [target, setTarget] = useState('');
  const [from, setFrom] = useState('');
  const [untilDate, setUntil] = useState('');
  const [justification, setJustification] = useState('');
  const [error, setError] = useState<Error | null>(null);
  const [msg, setMsg] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setMsg(null);
    try {
      const r = await governance.createRequest({
        identity: identity.trim(),
        ...(kind === 'role' ? { role: target.trim() } : { accessGroup: target.trim() }),
        ...(from ? { from } : {}),
        until: untilDate,
        justification,
      });
      setMsg(`Request for ${r.target} recorded: ${r.status}, waiting for ${r.steps.map((s) => s.who ?? 'an approver').join(' and ')}.`);
      setJustification('');
      onDone();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <details className="panel" open>
      <summary>Request access</summary>
      <form className="filters" onSubmit={(e) => void submit(e)} aria-label="request access">
        <label>
          Person
          <input value={identity} onChange={(e) => setIdentity(e.target.value)} placeholder="userName or id" required />
        </label>
        <label>
          Kind
          <select value={kind} onChange={(e) => setKind(e.target.value as 'accessGroup' | 'role')}>
            <option value="accessGroup">access group</option>
            <option value="role">role bundle</option>
          </select>
        </label>
        <label>
          {kind === 'role' ? 'Role bundle' : 'Access group'}
          <input value={target} onChange={(e) => setTarget(e.target.value)} list={kind === 'role' ? undefined : 'request-groups'} required />
        </label>
        {kind === 'accessGroup' ? <GroupSuggestions id="request-groups" /> : null}
        <label>
          From
          <input type="date" value={from} onChange={(e) => setFrom(e.target.value)} />
        </label>
        <label>
          Until
          <input type="date" value={untilDate} onChange={(e) => setUntil(e.target.value)} required />
        </label>
        <label>
          Justification
          <input value={justification} onChange={(e) => setJustification(e.target.value)} maxLength={1000} required />
        </label>
        <button type="submit" className="primary">
          Submit request
        </button>
      </form>
      {msg ? <p role="status">{msg}</p> : null}
      <ErrorBox error={error} />
    </details>
  );
}
