-- The cost of one prune call does not depend on how many live sessions there
-- are: measured among the dataset's ~1M live sessions, then again after
-- adding 3M more. Each figure is the fastest of seven calls: the two sizes are
-- measured minutes apart, and this machine's speed drifts meanwhile.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE TEMP TABLE call_results (live text, path text, ms numeric, deleted bigint);
-- The sweep reads the table in physical order, a window of about 10k rows
-- per call (as many blocks as the table's statistics say hold them). Each
-- call starts at a different window (the 1M calls at the first seven
-- sixteenths of the table, the 4M calls at the next seven), and its timebox
-- is chosen so that the oldest 1k sessions of that window are past it:
-- every call examines about 10k rows and deletes about 1k, at either size,
-- wherever earlier benchmarks left rows and holes. The table is compacted
-- first.
VACUUM FULL auth.sessions;
ANALYZE auth.sessions;
CREATE FUNCTION pg_temp.one_call(path text, live text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; took numeric; best numeric; n bigint; got bigint; k int; b bigint; w bigint; edge timestamptz;
BEGIN
    FOR i IN 1 .. 7 LOOP
        IF path = 'not_after (sessions_not_after_idx)' THEN
            PERFORM public.add_expired(1000);
        ELSE
            k := i + CASE live WHEN '1M' THEN 0 ELSE 7 END;
            b := pg_relation_size('auth.sessions') / current_setting('block_size')::int * k / 16;
            w := (SELECT ceil(10000 / (c.reltuples / greatest(c.relpages, 1))) FROM pg_class c
                   WHERE c.oid = 'auth.sessions'::regclass);
            SELECT s.created_at INTO edge FROM auth.sessions s
             WHERE s.ctid >= format('(%s,0)', b)::tid AND s.ctid < format('(%s,0)', b + w)::tid
             ORDER BY s.created_at OFFSET 999 LIMIT 1;
            UPDATE auth.prune_state SET session_cursor = format('(%s,0)', b)::tid;
            PERFORM set_config('auth_sessions.timebox', floor(extract(epoch FROM now() - edge))::text || 's', true);
        END IF;
        t0 := clock_timestamp();
        got := auth.prune_sessions(1000);
        took := extract(epoch FROM clock_timestamp() - t0) * 1000;
        IF best IS NULL OR took < best THEN best := took; n := got; END IF;
        -- Clear what is left before the next round.
        PERFORM set_config('auth_sessions.timebox', '0', true);
        DELETE FROM auth.sessions WHERE not_after < now();
    END LOOP;
    INSERT INTO call_results VALUES (live, path, round(best, 1), n);
END $$;
SELECT pg_temp.one_call('not_after (sessions_not_after_idx)', '1M');
SELECT pg_temp.one_call('timebox (sweep: a window of about 10k rows)', '1M');
-- Shaped as the dataset's rows (same width, so the same rows per block).
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, refreshed_at, user_agent, ip)
SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(to_hex(1 + g % 100000), 12, '0'))::uuid,
       now() - random() * interval '2 days', now(), 'aal1', now() AT TIME ZONE 'UTC',
       'Mozilla/5.0 (bench)', '198.51.100.1'
  FROM generate_series(1, 3000000) g;
VACUUM ANALYZE auth.sessions;
SELECT pg_temp.one_call('not_after (sessions_not_after_idx)', '4M');
SELECT pg_temp.one_call('timebox (sweep: a window of about 10k rows)', '4M');
\pset footer off
SELECT a.path AS "one auth.prune_sessions(1000) call, 1k to prune", a.ms AS "ms among 1M live",
       b.ms AS "ms among 4M live", round(b.ms / a.ms, 2) AS "4M / 1M", a.deleted AS "deleted (1M)", b.deleted AS "deleted (4M)"
  FROM call_results a JOIN call_results b ON a.path = b.path AND a.live = '1M' AND b.live = '4M'
 ORDER BY 1;
