-- The cost of one prune call does not depend on how many live sessions there
-- are: measured among the dataset's ~1M live sessions, then again after
-- adding 3M more. Each figure is the fastest of seven calls: the two sizes are
-- measured minutes apart, and this machine's speed drifts meanwhile.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE TEMP TABLE call_results (live text, path text, ms numeric, deleted bigint);
CREATE FUNCTION pg_temp.one_call(path text, live text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; took numeric; best numeric; n bigint; got bigint;
BEGIN
    FOR i IN 1 .. 7 LOOP
        IF path = 'not_after (sessions_not_after_idx)' THEN
            PERFORM public.add_expired(1000);
        ELSE
            -- 1k sessions past a 5-day timebox, found by the sweep.
            INSERT INTO auth.sessions (id, user_id, created_at, aal)
            SELECT gen_random_uuid(), '00000000-0000-4000-8000-000000000001', now() - interval '10 days', 'aal1'
              FROM generate_series(1, 1000);
        END IF;
        t0 := clock_timestamp();
        IF path = 'not_after (sessions_not_after_idx)' THEN
            got := auth.prune_sessions(1000);
        ELSE
            PERFORM set_config('auth_sessions.timebox', '5d', true);
            got := auth.prune_sessions(1000);
        END IF;
        took := extract(epoch FROM clock_timestamp() - t0) * 1000;
        IF best IS NULL OR took < best THEN best := took; n := got; END IF;
        -- Clear what is left before the next round.
        DELETE FROM auth.sessions WHERE not_after < now() OR created_at < now() - interval '5 days';
    END LOOP;
    INSERT INTO call_results VALUES (live, path, round(best, 1), n);
END $$;
SELECT pg_temp.one_call('not_after (sessions_not_after_idx)', '1M');
SELECT pg_temp.one_call('timebox (sweep of 10k rows)', '1M');
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, refreshed_at)
SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(to_hex(1 + g % 100000), 12, '0'))::uuid,
       now() - random() * interval '2 days', now(), 'aal1', now() AT TIME ZONE 'UTC'
  FROM generate_series(1, 3000000) g;
VACUUM ANALYZE auth.sessions;
SELECT pg_temp.one_call('not_after (sessions_not_after_idx)', '4M');
SELECT pg_temp.one_call('timebox (sweep of 10k rows)', '4M');
\pset footer off
SELECT a.path AS "one auth.prune_sessions(1000) call, 1k to prune", a.ms AS "ms among 1M live",
       b.ms AS "ms among 4M live", round(b.ms / a.ms, 2) AS "4M / 1M", a.deleted AS "deleted (1M)", b.deleted AS "deleted (4M)"
  FROM call_results a JOIN call_results b ON a.path = b.path AND a.live = '1M' AND b.live = '4M'
 ORDER BY 1;
