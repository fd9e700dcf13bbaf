/**
 * The revocation budget's check and spend as one function call: the advisory lock, the count of
 * people who lost access in the window (overall and per lock system, with this run's), the
 * verdict against the population the caller gives and, when it does not hold, the record of this run's people. One round
 * trip and one commit per revoking run instead of six statements in a transaction: every leaver
 * takes this path. In a VOLATILE PL/pgSQL function each statement takes a fresh snapshot, so the
 * counts after the lock see every spend committed before it.
 */
export const sql = `
CREATE OR REPLACE FUNCTION lockstep_spend_budget(
  p_systems text[], p_subjects text[], p_since timestamptz, p_at timestamptz, p_run uuid, p_approved boolean,
  p_min integer, p_abs integer, p_pct double precision, p_pop_systems text[], p_pop_counts integer[]
) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  v_rows jsonb;
  v_hold jsonb;
BEGIN
  PERFORM pg_advisory_xact_lock(7436851202944501842);
  WITH win AS (SELECT DISTINCT system, subject FROM revocation_ledger WHERE at > p_since AND NOT approved),
       mine AS (SELECT DISTINCT system, subject FROM unnest(p_systems, p_subjects) AS s(system, subject)),
       everyone AS (SELECT system, subject, false AS new FROM win
                    UNION ALL
                    SELECT m.system, m.subject, true FROM mine m WHERE NOT EXISTS (SELECT 1 FROM win w WHERE w.system = m.system AND w.subject = m.subject)),
       counted AS (SELECT system, count(DISTINCT subject)::int AS affected, (count(DISTINCT subject) FILTER (WHERE new))::int AS added
                     FROM everyone GROUP BY GROUPING SETS ((system), ())),
       -- the population, as the caller counted it a moment ago (counting 100k identities per leaver costs more than the rest)
       pop AS (SELECT s AS system, n FROM unnest(p_pop_systems, p_pop_counts) AS u(s, n)),
       judged AS (
         SELECT c.system, c.affected, c.added,
                CASE WHEN c.system IS NULL THEN coalesce(p.n, 0) ELSE greatest(coalesce(p.n, 0), c.affected) END AS population
           FROM counted c LEFT JOIN pop p ON p.system IS NOT DISTINCT FROM c.system
          WHERE c.system IS NULL OR c.system = ANY(p_systems))
  SELECT jsonb_agg(jsonb_build_object('system', system, 'affected', affected, 'added', added, 'population', population,
           'over', affected >= p_min AND (affected > p_abs OR (CASE WHEN population > 0 THEN affected * 100.0 / population ELSE 100 END) > p_pct))
           ORDER BY system NULLS FIRST)
    INTO v_rows FROM judged;
  SELECT r INTO v_hold FROM jsonb_array_elements(coalesce(v_rows, '[]'::jsonb)) AS r
   WHERE (r->>'over')::boolean AND (r->>'added')::int > 0 LIMIT 1;
  IF v_hold IS NULL OR p_approved THEN
    INSERT INTO revocation_ledger (at, system, subject, run_id, approved)
    SELECT p_at, s.system, s.subject, p_run, p_approved FROM unnest(p_systems, p_subjects) AS s(system, subject);
  END IF;
  RETURN jsonb_build_object('rows', coalesce(v_rows, '[]'::jsonb), 'recorded', v_hold IS NULL OR p_approved);
END
$fn$;
`;
