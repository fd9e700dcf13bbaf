/**
 * Invariant violations (issue 27): access the lock systems hold that breaks an invariant of the
 * mappings, as the last plan that looked at the person (or, for maxHolders, the last full plan)
 * found it. The service's memory of what it has reported: a violation found for the first time
 * is audited (`violation.found`, a notification), one no longer found is deleted and audited
 * (`violation.resolved`); /metrics and the console read it.
 */
export const sql = `
CREATE TABLE invariant_violations (
  key              text PRIMARY KEY,
  invariant        text NOT NULL,
  identity_id      uuid,
  user_name        text,
  access_group_ids text[] NOT NULL,
  message          text NOT NULL,
  first_seen       timestamptz NOT NULL,
  last_seen        timestamptz NOT NULL
);
CREATE INDEX invariant_violations_by_identity ON invariant_violations (identity_id);
-- a review item whose membership breaks an invariant names it: violators are listed first
ALTER TABLE review_items ADD COLUMN violations text[] NOT NULL DEFAULT '{}';
`;
