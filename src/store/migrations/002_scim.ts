/**
 * The SCIM source's own tables: the full SCIM resources as clients sent them (the identity
 * keeps only what policies use), and group membership. Written in the same transaction as the
 * identity they belong to.
 */
export const sql = `
-- one row per SCIM User. Deleted users stay (deleted_at) so their history and identity link remain
CREATE TABLE scim_users (
  id             uuid PRIMARY KEY,
  identity_id    uuid NOT NULL REFERENCES identities(id),
  -- userName folded to lower case by the application (caseExact false): uniqueness and filters use it
  user_name_key  text NOT NULL,
  external_id    text,
  -- externalId, else id: the identity's key within the source, unique among live users
  identity_key   text NOT NULL,
  active         boolean NOT NULL,
  resource       jsonb NOT NULL,
  version        integer NOT NULL DEFAULT 1,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  deleted_at     timestamptz
);
CREATE UNIQUE INDEX scim_users_user_name_live ON scim_users (user_name_key) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX scim_users_identity_key_live ON scim_users (identity_key) WHERE deleted_at IS NULL;
CREATE INDEX scim_users_external_id ON scim_users (external_id) WHERE deleted_at IS NULL;
CREATE INDEX scim_users_created ON scim_users (created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX scim_users_identity ON scim_users (identity_id);

-- groups are not identities: a deleted group is gone (the audit log keeps what it was)
CREATE TABLE scim_groups (
  id                uuid PRIMARY KEY,
  display_name_key  text NOT NULL,
  external_id       text,
  resource          jsonb NOT NULL,
  version           integer NOT NULL DEFAULT 1,
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL
);
CREATE UNIQUE INDEX scim_groups_display_name ON scim_groups (display_name_key);
CREATE INDEX scim_groups_external_id ON scim_groups (external_id);
CREATE INDEX scim_groups_created ON scim_groups (created_at, id);

CREATE TABLE scim_group_members (
  group_id  uuid NOT NULL REFERENCES scim_groups(id) ON DELETE CASCADE,
  user_id   uuid NOT NULL REFERENCES scim_users(id),
  added_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, user_id)
);
CREATE INDEX scim_group_members_user ON scim_group_members (user_id);
`;
