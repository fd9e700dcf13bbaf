import { useState, type FormEvent } from 'react';
import { governance, type AccessException } from '../api';
import { ActionButton, ErrorBox, Loading, matchesPerson, Page, PersonFilter, personText, useLoad, When, when } from '../common';
import { Link } from '../router';
import { can, needs, useMe } from '../session';

/** A person, by name, linked to their explanation (the id on hover; the short id when the service does not know them). */
export function PersonLink({ id, person }: { id: string; person?: { userName: string; displayName: string | null } | null }) {
  return (
    <Link to={`/people?who=${encodeURIComponent(person?.userName ?? id)}`} className={person ? undefined : 'mono'} title={`${id}: explain this person`}>
      {personText(person, id)}
    </Link>
  );
}

/** The declared access groups as a field's suggestions (GET /access-groups); the field takes any text. */
export function GroupSuggestions({ id }: { id: string }) {
  const groups = useLoad(() => governance.accessGroups().catch(() => ({ accessGroups: [] })), []);
  return (
    <datalist id={id}>
      {(groups.data?.accessGroups ?? []).map((g) => (
        <option key={g.id} value={g.id}>
          {`${g.name} (class ${g.protectionClass}, ${g.system})`}
        </option>
      ))}
    </datalist>
  );
}

/** Access exceptions (issue 15): a group denied to a person until a date whatever the rules grant, from a review or by hand. */
export function Exceptions() {
  const [all, setAll] = useState(false);
  const r = useLoad(() => governance.exceptions(all), [all], { everyMs: 30_000 });
  // shown here: a removed exception leaves the list of those in force
  const [removed, setRemoved] = useState<string | null>(null);
  const [who, setWho] = useState('');
  const shown = (r.data?.exceptions ?? []).filter((x) => matchesPerson(x.person, x.identityId, who));
  return (
    <Page title="Access exceptions">
      <NewException onDone={r.reload} />
      <div className="row">
        <label>
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> Show ended and removed exceptions too
        </label>
        <PersonFilter id="exception-person" value={who} onChange={setWho} />
      </div>
      {removed ? <p role="status">{removed}</p> : null}
      <ErrorBox error={r.error} />
      {!r.data && !r.error ? <Loading what="exceptions" /> : null}
      {r.data && r.data.exceptions.length === 0 ? <p>No exceptions{all ? '' : ' in force'}.</p> : null}
      {r.data && r.data.exceptions.length > 0 && shown.length === 0 ? (
        <p role="status">
          No exception{all ? '' : ' in force'} is about a person whose name, user name or employee id contains “{who.trim()}”.
        </p>
      ) : null}
      {shown.length ? (
        <table aria-label={all ? 'all exceptions' : 'exceptions in force'}>
          <thead>
            <tr>
              <th scope="col">Person</th>
              <th scope="col">Access group</th>
              <th scope="col">Until</th>
              <th scope="col">Source</th>
              <th scope="col">Reason</th>
              <th scope="col">Recorded</th>
              <th scope="col">End early</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((x) => (
              <ExceptionRow
                key={x.id}
                x={x}
                onDone={(m) => {
                  setRemoved(m);
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

function ExceptionRow({ x, onDone }: { x: AccessException; onDone: (message: string) => void }) {
  const me = useMe();
  const allowed = can(me, 'removeException');
  const [reason, setReason] = useState('');
  const [error, setError] = useState<Error | null>(null);
  const ended = x.removedAt !== null || Date.parse(x.until) <= Date.now();
  const remove = async () => {
    setError(null);
    try {
      const r = await governance.removeException(x.id, reason);
      onDone(`Exception for ${x.accessGroupId} removed; ${r.run.queued ? 'the reconciliation is queued' : 'the person was reconciled'}.`);
    } catch (e) {
      setError(e as Error);
    }
  };
  return (
    <tr>
      <td>
        <PersonLink id={x.identityId} person={x.person} />
      </td>
      <td>{x.accessGroupId}</td>
      <td>
        <When iso={x.until} />
      </td>
      <td>
        {x.source === 'review' ? 'review' : 'manual'}
        {x.sourceRef ? <div className="muted">{x.sourceRef}</div> : null}
      </td>
      <td>{x.reason}</td>
      <td>
        {when(x.createdAt)}
        <div className="muted">by {x.createdBy}</div>
      </td>
      <td>
        {x.removedAt ? (
          <span className="muted">
            removed {when(x.removedAt)} by {x.removedBy}: {x.removedReason}
          </span>
        ) : ended ? (
          <span className="muted">ended</span>
        ) : (
          <form
            className="filters"
            onSubmit={(e) => {
              e.preventDefault();
              void remove();
            }}
          >
            <label>
              Reason to end it
              <input value={reason} onChange={(e) => setReason(e.target.value)} maxLength={1000} required />
            </label>
            <ActionButton allowed={allowed} why={`ending an exception early needs ${needs('removeException')}`} type="submit">
              Remove
            </ActionButton>
          </form>
        )}
        <ErrorBox error={error} />
      </td>
    </tr>
  );
}

function NewException({ onDone }: { onDone: () => void }) {
  const me = useMe();
  const allowed = can(me, 'addException');
  const [identity, setIdentity] = useState('');
  const [group, setGroup] = useState('');
  const [untilDate, setUntil] = useState('');
  const [reason, setReason] = useState('');
  const [error, setError] = useState<Error | null>(null);
  const [msg, setMsg] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setMsg(null);
    try {
      const r = await governance.addException({ identity: identity.trim(), accessGroup: group.trim(), until: untilDate, reason });
      setMsg(
        `Exception recorded: ${r.exception.accessGroupId} is denied until ${when(r.exception.until)}; ${r.run.queued ? 'the reconciliation is queued' : 'the person was reconciled'}.`,
      );
      setReason('');
      onDone();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <details className="panel" open={allowed}>
      <summary>Add an exception</summary>
      <form className="filters" onSubmit={(e) => void submit(e)} aria-label="add an exception">
        <label>
          Person
          <input value={identity} onChange={(e) => setIdentity(e.target.value)} placeholder="userName or id" required />
        </label>
        <label>
          Access group
          <input value={group} onChange={(e) => setGroup(e.target.value)} list="exception-groups" required />
        </label>
        <GroupSuggestions id="exception-groups" />
        <label>
          Until
          <input type="date" value={untilDate} onChange={(e) => setUntil(e.target.value)} required />
        </label>
        <label>
          Reason
          <input value={reason} onChange={(e) => setReason(e.target.value)} maxLength={1000} required />
        </label>
        <ActionButton allowed={allowed} why={`recording an exception needs ${needs('addException')}`} type="submit" className="primary">
          Add exception
        </ActionButton>
      </form>
      {msg ? <p role="status">{msg}</p> : null}
      <ErrorBox error={error} />
    </details>
  );
}
