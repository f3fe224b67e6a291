-- The end of bench/prune.sql: GoTrue's cleanup, then the report.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
-- GoTrue's cleanup: batches of 10, SKIP LOCKED, a commit each. Its subquery
-- has no ORDER BY, so the planner may scan the table past ever more dead
-- rows; it is stopped after 30 s and rated on what it deleted by then,
-- against the median DELETE.
\if :{?no_gotrue_batches}
\else
SELECT public.add_expired(100000);
VACUUM ANALYZE auth.sessions, auth.refresh_tokens;
CHECKPOINT;
DO $$ DECLARE t0 timestamptz := clock_timestamp(); b0 timestamptz; n bigint; total bigint := 0; longest interval := '0';
BEGIN
    LOOP
        b0 := clock_timestamp();
        DELETE FROM auth.sessions WHERE id IN (SELECT id FROM auth.sessions WHERE not_after < now()
                                                LIMIT 10 FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        COMMIT;
        longest := greatest(longest, clock_timestamp() - b0);
        total := total + n;
        EXIT WHEN n = 0 OR clock_timestamp() - t0 > interval '30 seconds';
    END LOOP;
    INSERT INTO public.prune_results VALUES (0, 3, 'GoTrue-style batches of 10 (stopped after 30 s)', total,
        round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1), round(extract(epoch FROM longest) * 1000, 1));
END $$;
DELETE FROM auth.sessions WHERE not_after < now();
VACUUM ANALYZE auth.sessions, auth.refresh_tokens;
\endif
\pset footer off
-- Every round: the DELETE and the CALL measured back to back.
SELECT r.round, r.variant, r.rows, r.ms AS "total ms", round(r.rows / (r.ms / 1000)) AS "rows/s",
       round((r.rows / r.ms) / (b.rows / b.ms), 2) AS "x that round's DELETE rows/s", r.longest_ms AS "longest batch ms"
  FROM public.prune_results r JOIN public.prune_results b ON b.round = r.round AND b.ord = 1
 ORDER BY r.round, r.ord;
-- The summary: medians over the rounds.
WITH ratio AS (
    SELECT (c.rows / c.ms) / (d.rows / d.ms) AS x, c.longest_ms
      FROM public.prune_results c JOIN public.prune_results d ON d.round = c.round AND d.ord = 1
     WHERE c.ord = 2),
delete_median AS (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY rows / ms) AS per_ms FROM public.prune_results WHERE ord = 1)
SELECT 'CALL auth.prune_expired_sessions(): median over rounds' AS summary,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 2) AS "x DELETE rows/s",
       round(min(x)::numeric, 2) AS "worst round", round(max(x)::numeric, 2) AS "best round",
       max(longest_ms) AS "longest batch ms (any round)"
  FROM ratio
UNION ALL
SELECT 'GoTrue-style batches of 10', round(((g.rows / g.ms) / m.per_ms)::numeric, 2), NULL, NULL, g.longest_ms
  FROM public.prune_results g, delete_median m WHERE g.ord = 3;
