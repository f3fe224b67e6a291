-- Pruning throughput, against the baselines the issue names, on the 1M-session
-- dataset. Only not_after applies here (no timebox or inactivity), and the
-- refresh-token sweep is kept out of it (token_grace of a century) so that all
-- three variants do the same work: delete 100k expired sessions and their tokens.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE TEMP TABLE prune_results (ord int, variant text, rows bigint, ms numeric, longest_ms numeric);
-- Every variant deletes 100k sessions added by public.add_expired (the
-- dataset's own expired sessions are cleared first, untimed).
DELETE FROM auth.sessions WHERE not_after < now();
SELECT public.add_expired(100000);
VACUUM ANALYZE auth.sessions, auth.refresh_tokens;
-- 1. One DELETE.
DO $$ DECLARE t0 timestamptz := clock_timestamp(); n bigint;
BEGIN
    DELETE FROM auth.sessions WHERE not_after < now();
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO prune_results VALUES (1, 'one DELETE ... WHERE not_after < now() (baseline)', n,
        round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1), round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1));
END $$;
VACUUM ANALYZE auth.sessions, auth.refresh_tokens;
-- 2. CALL auth.prune_expired_sessions (batches of 1000, a commit each).
SELECT public.add_expired(100000);
VACUUM ANALYZE auth.sessions, auth.refresh_tokens;
DO $$ DECLARE t0 timestamptz := clock_timestamp(); s bigint; t bigint; b integer; l interval;
BEGIN
    CALL auth.prune_expired_sessions(1000, '0', '100 years', '10 minutes', s, t, b, l);
    INSERT INTO prune_results VALUES (2, 'CALL auth.prune_expired_sessions() (batches of 1000)', s,
        round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1), round(extract(epoch FROM l) * 1000, 1));
END $$;
VACUUM ANALYZE auth.sessions, auth.refresh_tokens;
-- 3. GoTrue's cleanup: batches of 10, SKIP LOCKED, a commit each. Its
-- subquery has no ORDER BY, so the planner may scan the table past ever more
-- dead rows; it is stopped after 30 s and rated on what it deleted by then.
SELECT public.add_expired(100000);
VACUUM ANALYZE auth.sessions, auth.refresh_tokens;
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
    INSERT INTO prune_results VALUES (3, 'GoTrue-style batches of 10 (stopped after 30 s)', total,
        round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1), round(extract(epoch FROM longest) * 1000, 1));
END $$;
DELETE FROM auth.sessions WHERE not_after < now();
VACUUM ANALYZE auth.sessions, auth.refresh_tokens;
\pset footer off
SELECT r.variant, r.rows, r.ms AS "total ms", round(r.rows / (r.ms / 1000)) AS "rows/s",
       round((r.rows / r.ms) / (b.rows / b.ms), 2) AS "x baseline rows/s", r.longest_ms AS "longest batch ms"
  FROM prune_results r, prune_results b WHERE b.ord = 1 ORDER BY r.ord;
