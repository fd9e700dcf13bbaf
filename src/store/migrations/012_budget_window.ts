/**
 * The revocation budget's window as one row per person and lock system (and one per person for
 * "any system", system '*'), holding the last unapproved revocation: the budget check counts
 * index entries in a range instead of sorting every ledger row of the window for distinct
 * people. Migration 11's function counted that way and grew with the window (about 1 ms per
 * 1,000 revocations in it, for every leaver, under the budget's lock: at 10k revocations an
 * hour, 23 ms per leaver, about 40 leavers a second at most). The ledger stays the record of
 * every spend; the window is derived from it.
 */
export const sql = `
CREATE TABLE revocation_window (
  system   text NOT NULL,
  subject  text NOT NULL,
  last_at  timestamptz NOT NULL,
  PRIMARY KEY (system, subject)
);
CREATE INDEX revocation_window_at ON revocation_window (system, last_at);
INSERT INTO revocation_window (system, subject, last_at)
  SELECT system, subject, max(at) FROM revocation_ledger WHERE NOT approved GROUP BY system, subject
  UNION ALL
  SELECT '*', subject, max(at) FROM revocation_ledger WHERE NOT approved GROUP BY subject;

CREATE OR REPLACE FUNCTION lockstep_spend_budget(
  p_systems text[], p_subjects text[], p_since timestamptz, p_at timestamptz, p_run uuid, p_approved boolean,
  p_min integer, p_abs integer, p_pct double precision, p_pop_systems text[], p_pop_counts integer[]
) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  v_rows jsonb;
  v_hold jsonb;
BEGIN
  PERFORM pg_advisory_xact_lock(7436851202944501842);
  WITH mine AS (SELECT s.system, s.subject FROM unnest(p_systems, p_subjects) AS s(system, subject)
                UNION SELECT '*', s.subject FROM unnest(p_subjects) AS s(subject)),
       keys AS (SELECT system FROM mine UNION SELECT '*'),
       fresh AS (SELECT m.system, count(*)::int AS added FROM mine m
                  WHERE NOT EXISTS (SELECT 1 FROM revocation_window w WHERE w.system = m.system AND w.subject = m.subject AND w.last_at > p_since)
                  GROUP BY m.system),
       counted AS (SELECT nullif(k.system, '*') AS system,
                          (SELECT count(*) FROM revocation_window w WHERE w.system = k.system AND w.last_at > p_since)::int + coalesce(f.added, 0) AS affected,
                          coalesce(f.added, 0) AS added
                     FROM keys k LEFT JOIN fresh f ON f.system = k.system),
       -- the population, as the caller counted it a moment ago (counting 100k identities per leaver costs more than the rest)
       pop AS (SELECT s AS system, n FROM unnest(p_pop_systems, p_pop_counts) AS u(s, n)),
       judged AS (
         SELECT c.system, c.affected, c.added,
                CASE WHEN c.system IS NULL THEN coalesce(p.n, 0) ELSE greatest(coalesce(p.n, 0), c.affected) END AS population
           FROM counted c LEFT JOIN pop p ON p.system IS NOT DISTINCT FROM c.system)
  SELECT jsonb_agg(jsonb_build_object('system', system, 'affected', affected, 'added', added, 'population', population,
           'over', affected >= p_min AND (affected > p_abs OR (CASE WHEN population > 0 THEN affected * 100.0 / population ELSE 100 END) > p_pct))
           ORDER BY system NULLS FIRST)
    INTO v_rows FROM judged;
  SELECT r INTO v_hold FROM jsonb_array_elements(coalesce(v_rows, '[]'::jsonb)) AS r
   WHERE (r->>'over')::boolean AND (r->>'added')::int > 0 LIMIT 1;
  IF v_hold IS NULL OR p_approved THEN
    INSERT INTO revocation_ledger (at, system, subject, run_id, approved)
    SELECT p_at, s.system, s.subject, p_run, p_approved FROM unnest(p_systems, p_subjects) AS s(system, subject);
    IF NOT p_approved THEN
      INSERT INTO revocation_window (system, subject, last_at)
      SELECT s.system, s.subject, p_at FROM unnest(p_systems, p_subjects) AS s(system, subject)
      UNION SELECT '*', s.subject, p_at FROM unnest(p_subjects) AS s(subject)
      ON CONFLICT (system, subject) DO UPDATE SET last_at = greatest(revocation_window.last_at, EXCLUDED.last_at);
    END IF;
  END IF;
  RETURN jsonb_build_object('rows', coalesce(v_rows, '[]'::jsonb), 'recorded', v_hold IS NULL OR p_approved);
END
$fn$;
`;
