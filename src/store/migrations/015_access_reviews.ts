/**
 * Access reviews (issue 15): campaigns of the reviews the mappings declare, and their items
 * (one person holding one group in scope, with the reviewer and the decision). A revoke is an
 * access exception (migration 13) with the review as its reason.
 */
export const sql = `
CREATE TABLE review_campaigns (
  id               uuid PRIMARY KEY,
  review_id        text NOT NULL,
  status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  started_at       timestamptz NOT NULL,
  started_by       text NOT NULL,
  deadline         timestamptz NOT NULL,
  next_reminder_at timestamptz,
  revoke_until     timestamptz NOT NULL,
  undecided        text NOT NULL CHECK (undecided IN ('keep', 'revoke')),
  closed_at        timestamptz
);
CREATE INDEX review_campaigns_review ON review_campaigns (review_id, started_at DESC);
CREATE UNIQUE INDEX review_campaigns_one_open ON review_campaigns (review_id) WHERE status = 'open';

CREATE TABLE review_items (
  id              uuid PRIMARY KEY,
  campaign_id     uuid NOT NULL REFERENCES review_campaigns(id) ON DELETE CASCADE,
  identity_id     uuid NOT NULL,
  user_name       text NOT NULL,
  access_group_id text NOT NULL,
  reviewer_kind   text,
  reviewer        text,
  decision        text CHECK (decision IN ('keep', 'revoke')),
  decided_by      text,
  decided_at      timestamptz,
  comment         text,
  decided_via     text CHECK (decided_via IN ('reviewer', 'deadline')),
  exception_id    uuid
);
CREATE INDEX review_items_campaign ON review_items (campaign_id, user_name, access_group_id);
`;
