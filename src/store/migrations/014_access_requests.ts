/**
 * Access requests (issue 15): a person (or their manager) asks for an access group or a role
 * bundle for a time window; the group's owner and, for non-employees, the sponsor approve; an
 * approved request is a time-bound grant policy evaluation adds, with the request as its reason.
 */
export const sql = `
CREATE TABLE access_requests (
  id             uuid PRIMARY KEY,
  identity_id    uuid NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
  kind           text NOT NULL CHECK (kind IN ('accessGroup', 'role')),
  target         text NOT NULL,
  groups         text[] NOT NULL,
  valid_from     timestamptz NOT NULL,
  valid_until    timestamptz NOT NULL,
  justification  text NOT NULL,
  status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
  steps          jsonb NOT NULL,
  requested_by   text NOT NULL,
  created_at     timestamptz NOT NULL,
  decided_at     timestamptz,
  decided_by     text,
  decision_comment text
);
CREATE INDEX access_requests_grants ON access_requests (identity_id, valid_until) WHERE status = 'approved';
CREATE INDEX access_requests_status ON access_requests (status, created_at);
`;
