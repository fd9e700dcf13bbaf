/**
 * The incident lifecycle (NIS2 Art. 23, issue 26): an incident is acknowledged, its early warning
 * (24 h), notification (72 h) and final report (one month) are recorded as sent (when, by whom,
 * a reference), and it is closed with a reason. Each recorded step stops its clock; a step that
 * fell due unrecorded is announced once (`overdue_notified`, the steps already announced).
 */
export const sql = `
ALTER TABLE incidents ADD COLUMN acknowledged_at timestamptz;
ALTER TABLE incidents ADD COLUMN acknowledged_by text;
ALTER TABLE incidents ADD COLUMN steps jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE incidents ADD COLUMN closed_by text;
ALTER TABLE incidents ADD COLUMN close_reason text;
ALTER TABLE incidents ADD COLUMN overdue_notified text[] NOT NULL DEFAULT '{}';
CREATE INDEX incidents_open ON incidents (opened_at) WHERE status = 'open';
`;
