/**
 * Indexed look-ups a delta round needs: the Entra source finds the few people a delta names by
 * their Entra object id (kept in attributes) instead of reading the whole source.
 */
export const sql = `
CREATE INDEX identities_entra_object_id ON identities ((data->'attributes'->>'entraObjectId'))
`;
