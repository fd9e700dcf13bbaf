/**
 * Credentials lockstep itself suspended for a leaver, on lock systems that cannot suspend an
 * account (the leaver's credentials are suspended instead): when the person is entitled again
 * (a rehire, a leave reverted at source), these and only these are set active again. A
 * credential suspended by anyone else (an operator, a lost-card report, the unused-credential
 * rule) is never reactivated by lockstep. `released_at` is when lockstep reactivated it: the
 * unused-credential rule counts from then, not from a last use before the person left.
 */
export const sql = `
CREATE TABLE credential_holds (
  system         text NOT NULL,
  credential_id  text NOT NULL,
  account_id     text NOT NULL,
  cause          text NOT NULL,
  held_at        timestamptz NOT NULL,
  released_at    timestamptz,
  PRIMARY KEY (system, credential_id)
);
`;
