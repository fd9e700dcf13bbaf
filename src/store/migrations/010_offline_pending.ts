/**
 * Revocations that offline locks have not learned yet (data-on-card systems, capability
 * `offline`): the lock system has taken them, but a key updated before them still opens what it
 * learned until it is updated again or expires. Kept until `learned_by` (the latest expiry of the
 * holder's keys then): explain and the access report show who can still open which door, and
 * until when, although their access was revoked.
 */
export const sql = `
CREATE TABLE offline_pending (
  system       text NOT NULL,
  account_id   text NOT NULL,
  group_ref    text NOT NULL,
  identity_id  uuid,
  user_name    text,
  kind         text NOT NULL,
  revoked_at   timestamptz NOT NULL,
  learned_by   timestamptz NOT NULL,
  run_id       uuid,
  PRIMARY KEY (system, account_id, group_ref)
);
CREATE INDEX offline_pending_identity ON offline_pending (identity_id);
`;
