/**
 * The revocation budget: every person (or orphan account) who lost access in one lock system,
 * and when. The mass-revocation guard counts the distinct people in a rolling window across
 * runs, so a mass change that reaches the queue one person at a time (an HR export, SCIM
 * deprovisioning, an Entra delta) is held once it goes past the guard's limits, however it
 * arrives. Approved revocations are kept but not counted: the approver accepted them.
 */
export const sql = `
CREATE TABLE revocation_ledger (
  id        bigserial PRIMARY KEY,
  at        timestamptz NOT NULL,
  system    text NOT NULL,
  subject   text NOT NULL,
  run_id    uuid,
  approved  boolean NOT NULL DEFAULT false
);
CREATE INDEX revocation_ledger_at ON revocation_ledger (at);
`;

/** The people a held run holds (one row each, whatever number of runs put them there). */
export const heldSql = `
CREATE TABLE held_subjects (
  run_id   uuid NOT NULL,
  subject  text NOT NULL,
  at       timestamptz NOT NULL,
  PRIMARY KEY (run_id, subject)
);
`;
