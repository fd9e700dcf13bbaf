/**
 * SCIM users are keyed by their SCIM id, not by externalId: RFC 7643 sets no uniqueness on
 * externalId, and clients reuse it (test tools send literal placeholders). Two live SCIM users
 * may now carry one externalId; their identities are then a correlation conflict that the
 * reconciler refuses access to (src/reconcile/conflicts.ts) instead of guessing who owns the
 * lock account carrying that key.
 *
 * `keyed_by_id`: the source finds this identity by its own record (the SCIM user linked to it
 * through scim_users.identity_id), so (source, external_id) need not be unique among such
 * identities. Every other identity (files, Entra) stays unique by (source, external_id), which
 * upsertIdentity's ON CONFLICT names with the same predicate.
 */
export const sql = `
ALTER TABLE identities ADD COLUMN keyed_by_id boolean NOT NULL DEFAULT false;
UPDATE identities SET keyed_by_id = true WHERE id IN (SELECT identity_id FROM scim_users);
ALTER TABLE identities DROP CONSTRAINT identities_source_external_id_key;
CREATE UNIQUE INDEX identities_source_external_id ON identities (source, external_id) WHERE NOT keyed_by_id;
DROP INDEX scim_users_identity_key_live;
CREATE INDEX scim_users_identity_key ON scim_users (identity_key) WHERE deleted_at IS NULL;
CREATE INDEX identities_live_external_id ON identities (external_id) WHERE deleted_at IS NULL
`;
