/** Identities, links, runs, the audit log and the state the reconciler keeps between runs. */
export const sql = `
CREATE TABLE identities (
  id           uuid PRIMARY KEY,
  source       text NOT NULL,
  external_id  text NOT NULL,
  user_name    text NOT NULL,
  active       boolean NOT NULL,
  data         jsonb NOT NULL,
  deleted_at   timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  version      integer NOT NULL DEFAULT 1,
  UNIQUE (source, external_id)
);
CREATE INDEX identities_user_name_lower ON identities (lower(user_name));
CREATE INDEX identities_external_id ON identities (external_id);

-- identity <-> account in one lock system (midPoint's "linked" situation)
CREATE TABLE links (
  system       text NOT NULL,
  identity_id  uuid NOT NULL REFERENCES identities(id),
  account_id   text NOT NULL,
  external_id  text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (system, identity_id),
  UNIQUE (system, account_id)
);

-- when an entitlement first began, so that maximum-validity windows do not slide
CREATE TABLE entitlement_anchors (
  identity_id      uuid NOT NULL REFERENCES identities(id),
  access_group_id  text NOT NULL,
  since            timestamptz NOT NULL,
  PRIMARY KEY (identity_id, access_group_id)
);

CREATE TABLE runs (
  id           uuid PRIMARY KEY,
  kind         text NOT NULL,
  trigger      text NOT NULL,
  status       text NOT NULL,
  scope        text NOT NULL,
  plan         jsonb,
  results      jsonb NOT NULL DEFAULT '[]'::jsonb,
  summary      jsonb,
  progress     jsonb,
  error        text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  started_at   timestamptz,
  finished_at  timestamptz,
  approved_by  text,
  approved_at  timestamptz
);
CREATE INDEX runs_created ON runs (created_at DESC);

-- append-only, hash-chained; audit_head serialises appends across processes
CREATE TABLE audit_log (
  seq        bigint PRIMARY KEY,
  at         timestamptz NOT NULL,
  actor      text NOT NULL,
  action     text NOT NULL,
  subject    text,
  run_id     uuid,
  data       jsonb NOT NULL,
  prev_hash  text NOT NULL,
  hash       text NOT NULL
);
CREATE INDEX audit_subject ON audit_log (subject);
CREATE TABLE audit_head (
  id    integer PRIMARY KEY CHECK (id = 1),
  seq   bigint NOT NULL,
  hash  text NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '${'0'.repeat(64)}');

-- last use of each credential, from the lock systems' access events
CREATE TABLE credential_usage (
  system         text NOT NULL,
  credential_id  text NOT NULL,
  account_id     text,
  last_used_at   timestamptz NOT NULL,
  PRIMARY KEY (system, credential_id)
);

-- cursors and sync state of drivers and sources (Entra delta links, access-event cursors)
CREATE TABLE sync_state (
  key         text PRIMARY KEY,
  value       jsonb NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE incidents (
  id            uuid PRIMARY KEY,
  kind          text NOT NULL,
  status        text NOT NULL,
  system        text,
  account_id    text,
  credential_id text,
  identity_id   uuid,
  opened_at     timestamptz NOT NULL,
  closed_at     timestamptz,
  data          jsonb NOT NULL DEFAULT '{}'::jsonb
);
`;
