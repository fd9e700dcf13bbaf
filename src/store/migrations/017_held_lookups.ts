/**
 * Everyone a held run holds keeps their access until it is approved or rejected (issue 21): every
 * revoking run asks whether its people wait in a held run, by subject, and the monitoring counts
 * them. held_subjects' key starts with the run, so that question needs its own index.
 */
export const sql = `
CREATE INDEX held_subjects_by_subject ON held_subjects (subject);
CREATE INDEX runs_held ON runs (created_at) WHERE status = 'held';
`;
