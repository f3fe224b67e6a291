-- One round of bench/prune.sql: one DELETE, then the procedure, each deleting
-- 100k sessions added by public.add_expired. Needs :round.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT public.add_expired(100000);
VACUUM ANALYZE auth.sessions, auth.refresh_tokens;
CHECKPOINT;
SELECT set_config('bench.round', :'round', false);
-- 1. One DELETE.
DO $$ DECLARE t0 timestamptz := clock_timestamp(); n bigint;
BEGIN
    DELETE FROM auth.sessions WHERE not_after < now();
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO public.prune_results VALUES (current_setting('bench.round')::int, 1,
        'one DELETE ... WHERE not_after < now() (baseline)', n,
        round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1), round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1));
END $$;
VACUUM ANALYZE auth.sessions, auth.refresh_tokens;
-- 2. CALL auth.prune_expired_sessions (batches of 1000, a commit each).
SELECT public.add_expired(100000);
VACUUM ANALYZE auth.sessions, auth.refresh_tokens;
CHECKPOINT;
-- Nothing else runs, so it never yields (auth_sessions.prune_busy_share); a
-- pause would mean another session was busy, and is reported.
DO $$ DECLARE t0 timestamptz := clock_timestamp(); s bigint; t bigint; b integer; l interval; p interval;
BEGIN
    CALL auth.prune_expired_sessions(1000, '0', '100 years', '10 minutes', s, t, b, l, p);
    IF p > interval '0' THEN
        RAISE WARNING 'the procedure paused for % (another session was busy): this round is not comparable', p;
    END IF;
    INSERT INTO public.prune_results VALUES (current_setting('bench.round')::int, 2,
        'CALL auth.prune_expired_sessions() (batches of 1000)', s,
        round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1), round(extract(epoch FROM l) * 1000, 1));
END $$;
VACUUM ANALYZE auth.sessions, auth.refresh_tokens;
