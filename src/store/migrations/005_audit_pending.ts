/**
 * Audit entries are written in the transaction of the change they record, into audit_pending,
 * without taking the chain's head lock. A sealer moves them into the hash chain (audit_log) in
 * batches after commit, so concurrent writers no longer queue on one row for the length of
 * their transactions. `at` is kept as the ISO text that will be hashed.
 */
export const sql = `
CREATE TABLE audit_pending (
  id       bigserial PRIMARY KEY,
  at       text NOT NULL,
  actor    text NOT NULL,
  action   text NOT NULL,
  subject  text,
  run_id   uuid,
  data     jsonb NOT NULL
)
`;
