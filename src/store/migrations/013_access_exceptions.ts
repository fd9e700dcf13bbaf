/**
 * Access exceptions (issue 15): "deny access group G to person P until D, because R". Policy
 * evaluation honours those in force (not removed, not ended); removed and ended ones stay as
 * the record. Read per person with the identity scope, so indexed by identity.
 */
export const sql = `
CREATE TABLE access_exceptions (
  id              uuid PRIMARY KEY,
  identity_id     uuid NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
  access_group_id text NOT NULL,
  until           timestamptz NOT NULL,
  reason          text NOT NULL,
  source          text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'review')),
  source_ref      text,
  created_by      text NOT NULL,
  created_at      timestamptz NOT NULL,
  removed_at      timestamptz,
  removed_by      text,
  removed_reason  text
);
CREATE INDEX access_exceptions_identity ON access_exceptions (identity_id, until) WHERE removed_at IS NULL;
CREATE INDEX access_exceptions_created ON access_exceptions (created_at);
`;
