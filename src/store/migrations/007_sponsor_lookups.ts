/**
 * Indexed look-ups for sponsorship: resolving the identity a `sponsor` attribute names (by
 * userName, which 001 indexes, externalId or email, case-insensitively) and finding the people
 * an identity sponsors. The sponsor expression is the one store/identities.ts compares.
 */
export const sql = `
CREATE INDEX identities_external_id_lower ON identities (lower(external_id));
CREATE INDEX identities_email_lower ON identities (lower(data->>'email'));
CREATE INDEX identities_sponsor_lower ON identities (lower(btrim(data->>'sponsor', E' \\t\\n\\r')))
`;
