/**
 * State the queue keeps in the store rather than in Redis, because it must outlive a Redis
 * that loses its data: when identities next need a look, revocations that have not landed,
 * progress of full reconciliations, and enqueues that could not reach Redis (an outbox).
 */
export const sql = `
-- when each identity next needs reconciling (validity start/end, leave date, unused credential)
CREATE TABLE queue_checks (
  identity_id    uuid PRIMARY KEY,
  next_check_at  timestamptz,
  -- false: a bucket's earliest instant, not necessarily this identity's own
  exact          boolean NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX queue_checks_due ON queue_checks (next_check_at) WHERE next_check_at IS NOT NULL;

-- revocations that did not land yet (principle 3: reported as overdue until they do)
CREATE TABLE queue_overdue (
  key              text PRIMARY KEY,
  kind             text NOT NULL,
  identity_id      uuid,
  system           text,
  operations       jsonb NOT NULL DEFAULT '[]'::jsonb,
  first_failed_at  timestamptz NOT NULL,
  last_failed_at   timestamptz NOT NULL,
  attempts         integer NOT NULL DEFAULT 1,
  last_error       text
);

-- one full reconciliation: split into bucket and orphan-scan parts
CREATE TABLE queue_full_runs (
  id               uuid PRIMARY KEY,
  trigger          text NOT NULL,
  actor            text NOT NULL,
  status           text NOT NULL,
  parts_total      integer NOT NULL,
  identities_total integer NOT NULL,
  systems          jsonb NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  error            text
);
CREATE INDEX queue_full_runs_created ON queue_full_runs (created_at DESC);

-- a finished part; written once per part, so a part that runs twice is not counted twice
CREATE TABLE queue_full_run_parts (
  run_id       uuid NOT NULL REFERENCES queue_full_runs(id) ON DELETE CASCADE,
  part         text NOT NULL,
  kind         text NOT NULL,
  identities   integer NOT NULL,
  applied      integer NOT NULL,
  failed       integer NOT NULL,
  failed_revocations integer NOT NULL,
  held         boolean NOT NULL,
  run_ids      jsonb NOT NULL DEFAULT '[]'::jsonb,
  error        text,
  finished_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, part)
);

-- enqueues that could not reach Redis; flushed when it is back
CREATE TABLE queue_outbox (
  id           bigserial PRIMARY KEY,
  identity_id  uuid NOT NULL,
  lane         text NOT NULL,
  reason       text NOT NULL,
  enqueued_at  timestamptz NOT NULL
);
`;
