import { useState, type FormEvent } from 'react';
import { get, post, type Account, type Explanation, type PersonRow } from '../api';
import { ActionButton } from '../common';
import { can, needs, useMe } from '../session';
import { ClassBadge, ErrorBox, Loading, Page, useLoad, when } from '../common';
import { reasonText } from '../plan';
import { navigate, useRoute } from '../router';

export function People() {
  const { query } = useRoute();
  const q = query.get('q') ?? '';
  const who = query.get('who');
  const deleted = query.get('deleted') === '1';
  const [text, setText] = useState(q);
  const list = useLoad(
    () => get<{ identities: PersonRow[]; more: boolean }>(`identities?limit=50&q=${encodeURIComponent(q)}${deleted ? '&deleted=1' : ''}`),
    [q, deleted],
  );
  const here = (o: { q?: string; who?: string | null; deleted?: boolean }) => {
    const p = new URLSearchParams({ q: o.q ?? q });
    if (o.deleted ?? deleted) p.set('deleted', '1');
    if (o.who) p.set('who', o.who);
    return `/people?${p}`;
  };
  const search = (e: FormEvent) => {
    e.preventDefault();
    navigate(here({ q: text.trim(), who: null }));
  };
  return (
    <Page title="People">
      <div className="split">
        <div className="list-pane">
          <form role="search" onSubmit={search} className="row">
            <label htmlFor="people-q">Search people</label>
            <input id="people-q" type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="name, user name, employee id, department" />
            <button type="submit">Search</button>
          </form>
          <label className="row">
            <input type="checkbox" checked={deleted} onChange={(e) => navigate(here({ deleted: e.target.checked, who }))} /> Include people their source deleted
          </label>
          <ErrorBox error={list.error} />
          {list.loading && !list.data ? <Loading what="people" /> : null}
          {list.data ? (
            <>
              <ul className="people" aria-label="people found">
                {[...list.data.identities]
                  .sort((a, b) => (a.displayName ?? a.userName).localeCompare(b.displayName ?? b.userName))
                  .map((p) => {
                    // a deleted person's user name may be someone else's now: by id
                    const key = p.deleted ? p.id : p.userName;
                    return (
                      <li key={p.id}>
                        <button
                          type="button"
                          className={`link${who === key ? ' current' : ''}`}
                          aria-current={who === key ? 'true' : undefined}
                          onClick={() => navigate(here({ who: key }))}
                        >
                          {p.displayName ?? p.userName}
                        </button>
                        <span className="muted">
                          {' '}
                          {p.userName} · {p.employeeType ?? '–'} · {p.department ?? '–'}
                          {p.deleted ? ' · deleted at source' : p.leaver ? ' · leaver' : ''}
                        </span>
                      </li>
                    );
                  })}
              </ul>
              {list.data.identities.length === 0 ? <p className="muted">Nobody matches.</p> : null}
              {list.data.more ? <p className="muted">More people match: narrow the search.</p> : null}
            </>
          ) : null}
        </div>
        <div className="detail-pane">{who ? <Explain who={who} /> : <p className="muted">Choose a person to see every door they may open, and why.</p>}</div>
      </div>
    </Page>
  );
}

function Explain({ who }: { who: string }) {
  const x = useLoad(() => get<Explanation>(`identities/${encodeURIComponent(who)}/explain`), [who]);
  if (x.error) return <ErrorBox error={x.error} />;
  if (!x.data) return <Loading what={`the explanation for ${who}`} />;
  const e = x.data;
  const i = e.identity;
  return (
    <article aria-label={`explanation for ${i.userName}`}>
      <h2>{i.displayName ?? i.userName}</h2>
      <dl className="facts">
        <dt>User name</dt>
        <dd>{i.userName}</dd>
        <dt>Employee id (correlation key)</dt>
        <dd>{i.externalId}</dd>
        <dt>Source</dt>
        <dd>{i.source}</dd>
        <dt>Type</dt>
        <dd>{i.employeeType ?? '–'}</dd>
        <dt>Department, site</dt>
        <dd>
          {i.department ?? '–'}, {i.site ?? '–'}
        </dd>
        <dt>Manager, sponsor</dt>
        <dd>
          {i.manager ?? '–'}, {i.sponsor ?? '–'}
        </dd>
        {i.hireDate ? (
          <>
            <dt>Hire date</dt>
            <dd>{i.hireDate}</dd>
          </>
        ) : null}
        <dt>Groups</dt>
        <dd>{i.groups.join(', ') || '–'}</dd>
        <dt>Source roles</dt>
        <dd>{i.roles.map((r) => r.value).join(', ') || '–'}</dd>
        <dt>Status</dt>
        <dd>
          {i.deletedAt ? `deleted at its source ${when(i.deletedAt)}: a leaver, no access` : e.leaver ? 'leaver: no access' : i.active ? 'active' : 'inactive'}
        </dd>
        {i.leaveDate ? (
          <>
            <dt>Leave date</dt>
            <dd>{i.leaveDate}</dd>
          </>
        ) : null}
        {i.contractEnd ? (
          <>
            <dt>Contract end</dt>
            <dd>{i.contractEnd}</dd>
          </>
        ) : null}
        <dt>Next check</dt>
        <dd>{when(e.nextCheckAt) || 'none: time alone changes nothing'}</dd>
      </dl>
      {e.conflict ? (
        <p className="warning" role="note">
          Correlation conflict: employee id {e.conflict.externalId} is also held by {e.conflict.heldBy.map((h) => h.userName).join(', ')}. Nobody gets access
          through it until one person holds it.
        </p>
      ) : null}
      <h3>Entitlements</h3>
      {e.entitlements.length === 0 ? <p>No entitlements.</p> : null}
      {e.entitlements.length ? (
        <table aria-label="entitlements">
          <thead>
            <tr>
              <th scope="col">Access group</th>
              <th scope="col">Class</th>
              <th scope="col">System</th>
              <th scope="col">Valid from</th>
              <th scope="col">Valid until</th>
              <th scope="col">Why (rule · bundle · source role · matched values)</th>
            </tr>
          </thead>
          <tbody>
            {e.entitlements.map((en) => (
              <tr key={en.accessGroup.id}>
                <td>{en.accessGroup.name}</td>
                <td>
                  <ClassBadge c={en.accessGroup.protectionClass} />
                </td>
                <td>{en.accessGroup.system}</td>
                <td>{when(en.validFrom) || '–'}</td>
                <td>{when(en.validUntil) || 'open-ended'}</td>
                <td>
                  <ul className="reasons">
                    {en.reasons.map((r, k) => (
                      <li key={k}>
                        {reasonText(r)}
                        {r.notes?.length ? <span className="muted"> ({r.notes.join('; ')})</span> : null}
                      </li>
                    ))}
                  </ul>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {e.denied.length ? (
        <>
          <h3>Refused</h3>
          <ul aria-label="refused access">
            {e.denied.map((d, k) => (
              <li key={k}>
                {d.accessGroupId} (rule {d.rule}): {d.reason}
              </li>
            ))}
          </ul>
        </>
      ) : null}
      <h3>Lock systems</h3>
      <ul aria-label="lock-system accounts">
        {e.systems.map((s) => (
          <li key={s.system}>
            <strong>{s.system}</strong>:{' '}
            {s.account ? (
              <>
                account {s.account.id} ({s.account.state}
                {s.linked ? ', linked' : ', not linked yet'}); memberships {s.account.memberships.map((m) => m.group).join(', ') || 'none'}; credentials
                {s.account.credentials.length ? ':' : ' none'}
                <Credentials system={s.system} account={s.account} onChange={x.reload} />
              </>
            ) : (
              'no account'
            )}
          </li>
        ))}
      </ul>
      <details>
        <summary>As `lockstep explain` prints it</summary>
        <pre>{e.text.join('\n')}</pre>
      </details>
    </article>
  );
}

/** A person's credentials in one lock system, each with "Report lost" (blocks it at once, opens an incident). */
function Credentials({ system, account, onChange }: { system: string; account: Account; onChange: () => void }) {
  const me = useMe();
  const allowed = can(me, 'reportLost');
  const [msg, setMsg] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  if (!account.credentials.length) return null;
  const lost = async (id: string) => {
    setError(null);
    try {
      const r = await post<{ result: { status: string } }>(`credentials/${encodeURIComponent(system)}/${encodeURIComponent(id)}/lost`, {
        accountId: account.id,
      });
      setMsg(
        r.result.status === 'applied'
          ? `Credential ${id} is blocked; an incident is open (see Incidents).`
          : `Credential ${id}: queued, retried until the lock system takes it; an incident is open.`,
      );
      onChange();
    } catch (e) {
      setError(e as Error);
    }
  };
  return (
    <>
      <ul aria-label={`credentials in ${system}`}>
        {account.credentials.map((c) => (
          <li key={c.id}>
            {c.type} {c.number ?? c.id}: {c.status}
            {c.lastUsedAt ? `, last used ${when(c.lastUsedAt)}` : ', never used'}{' '}
            {c.status === 'active' || c.status === 'suspended' ? (
              <ActionButton allowed={allowed} why={`reporting a lost credential needs ${needs('reportLost')}`} onClick={() => void lost(c.id)}>
                Report {c.type} {c.number ?? c.id} lost
              </ActionButton>
            ) : null}
          </li>
        ))}
      </ul>
      {msg ? <p role="status">{msg}</p> : null}
      <ErrorBox error={error} />
    </>
  );
}
