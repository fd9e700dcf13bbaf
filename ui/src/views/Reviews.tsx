import { useState, type FormEvent } from 'react';
import { governance, type ReviewCampaign, type ReviewItem } from '../api';
import { ActionButton, ErrorBox, Loading, Page, Status, useLoad, when, until } from '../common';
import { can, needs, useMe } from '../session';

/** Access reviews (issue 15): campaigns with their progress; each item kept or revoked by its reviewer; the report as evidence (CSV). */
export function Reviews() {
  const [status, setStatus] = useState('open');
  const [open, setOpen] = useState<string | null>(null);
  const r = useLoad(() => governance.reviews(status), [status], { everyMs: 30_000 });
  return (
    <Page title="Access reviews">
      <StartReview
        onDone={(id) => {
          setOpen(id);
          r.reload();
        }}
      />
      <div className="row">
        <label htmlFor="review-status">Show</label>
        <select id="review-status" value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="open">open campaigns</option>
          <option value="closed">closed campaigns</option>
          <option value="">all campaigns</option>
        </select>
      </div>
      <ErrorBox error={r.error} />
      {!r.data && !r.error ? <Loading what="campaigns" /> : null}
      {r.data && r.data.campaigns.length === 0 ? <p>No campaigns.</p> : null}
      {r.data?.campaigns.length ? (
        <table aria-label="review campaigns">
          <thead>
            <tr>
              <th scope="col">Review</th>
              <th scope="col">Status</th>
              <th scope="col">Started</th>
              <th scope="col">Deadline</th>
              <th scope="col">Progress</th>
              <th scope="col" />
            </tr>
          </thead>
          <tbody>
            {r.data.campaigns.map((c) => (
              <CampaignRow key={c.id} c={c} shown={open === c.id} onShow={() => setOpen(open === c.id ? null : c.id)} />
            ))}
          </tbody>
        </table>
      ) : null}
      {open ? <Campaign id={open} onDone={r.reload} /> : null}
    </Page>
  );
}

function CampaignRow({ c, shown, onShow }: { c: ReviewCampaign; shown: boolean; onShow: () => void }) {
  // the progress comes from the campaign's report (the list carries no counts)
  const rep = useLoad(() => governance.review(c.id), [c.id]);
  const s = rep.data?.summary;
  return (
    <tr>
      <td>{c.reviewId}</td>
      <td>
        <Status s={c.status} />
      </td>
      <td>
        {when(c.startedAt)}
        <div className="muted">by {c.startedBy}</div>
      </td>
      <td>
        {when(c.deadline)}
        {c.status === 'open' ? (
          <div className="muted">
            {until(c.deadline)}; undecided: {c.undecided}
          </div>
        ) : null}
      </td>
      <td>
        {s
          ? `${s.items - s.undecided} of ${s.items} decided (${s.kept} kept, ${s.revoked} revoked, ${s.undecided} undecided${s.byDeadline ? `, ${s.byDeadline} by the deadline` : ''})`
          : '…'}
      </td>
      <td>
        <button type="button" onClick={onShow} aria-expanded={shown}>
          {shown ? 'Hide items' : `Show ${c.reviewId} items`}
        </button>
      </td>
    </tr>
  );
}

function Campaign({ id, onDone }: { id: string; onDone: () => void }) {
  const r = useLoad(() => governance.review(id), [id]);
  const [error, setError] = useState<Error | null>(null);
  if (!r.data) return r.error ? <ErrorBox error={r.error} /> : <Loading what="the campaign" />;
  const { campaign, items } = r.data;
  const csv = async () => {
    setError(null);
    try {
      await governance.reportCsv(campaign);
    } catch (e) {
      setError(e as Error);
    }
  };
  return (
    <section className="panel" aria-label={`campaign ${campaign.reviewId}`}>
      <header className="page-head">
        <h2>
          {campaign.reviewId} · started {when(campaign.startedAt)}
        </h2>
        <div className="page-actions">
          <button type="button" onClick={() => void csv()}>
            Download report CSV
          </button>
        </div>
      </header>
      <ErrorBox error={error} />
      {items.length === 0 ? <p>No items.</p> : null}
      {items.length ? (
        <table aria-label="review items">
          <thead>
            <tr>
              <th scope="col">Person</th>
              <th scope="col">Access group</th>
              <th scope="col">Reviewer</th>
              <th scope="col">Decision</th>
            </tr>
          </thead>
          <tbody>
            {items.map((i) => (
              <ItemRow
                key={i.id}
                i={i}
                open={campaign.status === 'open'}
                onDone={() => {
                  r.reload();
                  onDone();
                }}
              />
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

function ItemRow({ i, open, onDone }: { i: ReviewItem; open: boolean; onDone: () => void }) {
  const me = useMe();
  const allowed = can(me, 'approve');
  const [comment, setComment] = useState('');
  const [error, setError] = useState<Error | null>(null);
  const decide = async (d: 'keep' | 'revoke') => {
    setError(null);
    try {
      await governance.decide(i.campaignId, i.id, d, comment.trim());
      onDone();
    } catch (e) {
      setError(e as Error);
    }
  };
  const why = `deciding a review item needs ${needs('approve')}`;
  return (
    <tr>
      <td>{i.userName}</td>
      <td>{i.accessGroupId}</td>
      <td>{i.reviewer ? `${i.reviewerKind ?? ''} ${i.reviewer}`.trim() : 'any approver'}</td>
      <td>
        {i.decision ? (
          <span>
            <Status s={i.decision} /> {i.decidedVia === 'deadline' ? 'by the deadline' : `by ${i.decidedBy ?? ''}`} {when(i.decidedAt)}
            {i.comment ? <div className="muted">{i.comment}</div> : null}
          </span>
        ) : open ? (
          <form
            className="filters"
            onSubmit={(e) => {
              e.preventDefault();
              void decide('keep');
            }}
            aria-label={`decide ${i.userName} ${i.accessGroupId}`}
          >
            <label>
              Comment
              <input value={comment} onChange={(e) => setComment(e.target.value)} maxLength={1000} placeholder="required to revoke" />
            </label>
            <ActionButton allowed={allowed} why={why} type="submit">
              Keep
            </ActionButton>
            <ActionButton allowed={allowed} why={why} type="button" onClick={() => void decide('revoke')}>
              Revoke
            </ActionButton>
          </form>
        ) : (
          <span className="muted">undecided</span>
        )}
        <ErrorBox error={error} />
      </td>
    </tr>
  );
}

function StartReview({ onDone }: { onDone: (campaignId: string) => void }) {
  const me = useMe();
  const allowed = can(me, 'startReview');
  const [review, setReview] = useState('');
  const [error, setError] = useState<Error | null>(null);
  const [msg, setMsg] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setMsg(null);
    try {
      const r = await governance.startReview(review.trim());
      setMsg(`Campaign of ${r.campaign.reviewId} started: ${r.items.length} items, deadline ${when(r.campaign.deadline)}.`);
      onDone(r.campaign.id);
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <details className="panel">
      <summary>Start a campaign</summary>
      <form className="filters" onSubmit={(e) => void submit(e)} aria-label="start a campaign">
        <label>
          Review id
          <input value={review} onChange={(e) => setReview(e.target.value)} placeholder="reviews[].id in the mappings" required />
        </label>
        <ActionButton allowed={allowed} why={`starting a campaign needs ${needs('startReview')}`} type="submit">
          Start campaign
        </ActionButton>
      </form>
      {msg ? <p role="status">{msg}</p> : null}
      <ErrorBox error={error} />
    </details>
  );
}
