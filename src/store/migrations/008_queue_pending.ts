/**
 * Acknowledged changes that have not been reconciled yet. A source's write is acknowledged
 * once it is in the store; the job that reconciles it lives in Redis, and a Redis that
 * restarts without its data (no AOF, a failover to a replica that lagged) loses it. So every
 * enqueue is also written here, and deleted only when a reconciliation that started after it
 * has finished: what is still here when the queue's state is found lost is enqueued again.
 */
export const sql = `
CREATE TABLE queue_pending (
  identity_id      uuid PRIMARY KEY,
  lane             text NOT NULL,
  reason           text NOT NULL,
  enqueued_at      timestamptz NOT NULL,
  first_at         timestamptz NOT NULL,
  requeued_at      timestamptz,
  requeues         integer NOT NULL DEFAULT 0
);
CREATE INDEX queue_pending_enqueued ON queue_pending (enqueued_at);
`;
