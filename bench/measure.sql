-- Runs each benchmark query several times and keeps the fastest run, so a
-- stray stall elsewhere on the machine does not decide a ratio.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET auth_sessions.timebox = '3d';
SET auth_sessions.inactivity_timeout = '1d';
CREATE TEMP TABLE results (grp text, variant text, ms numeric, baseline boolean, ord int, answer bigint);
-- The best of `runs` timings of `query` (which returns one bigint), and its answer.
CREATE FUNCTION pg_temp.measure(grp text, variant text, query text, runs int, baseline boolean, ord int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; best numeric; took numeric; n bigint;
BEGIN
    FOR i IN 1 .. runs LOOP
        t0 := clock_timestamp();
        EXECUTE query INTO n;
        took := extract(epoch FROM clock_timestamp() - t0) * 1000;
        best := least(best, took);
    END LOOP;
    INSERT INTO results VALUES (grp, variant, round(best, 1), baseline, ord, n);
END $$;

-- 200k random lookups against 1M sessions. The baseline is what the issue
-- names: a correlated EXISTS probing sessions_pkey once per row (nested loop;
-- hash and merge joins off). The planner's own choice is shown too.
-- One transaction per group: now() is fixed, so every variant must agree.
BEGIN;
SET LOCAL enable_hashjoin = off;
SET LOCAL enable_mergejoin = off;
SELECT pg_temp.measure('lookups', 'correlated EXISTS index probe, rules as constants (baseline)', $q$
    SELECT count(*) FROM public.lookup_ids l WHERE EXISTS (SELECT 1 FROM auth.sessions s WHERE s.id = l.id
       AND (s.not_after IS NULL OR now() <= s.not_after)
       AND now() <= s.created_at + interval '3 days'
       AND now() <= coalesce(s.refreshed_at AT TIME ZONE 'UTC', s.created_at) + interval '1 day') $q$, 5, true, 1);
SET LOCAL enable_hashjoin = on;
SET LOCAL enable_mergejoin = on;
SELECT pg_temp.measure('lookups', 'same EXISTS, planner''s choice (hash join over all sessions)', $q$
    SELECT count(*) FROM public.lookup_ids l WHERE EXISTS (SELECT 1 FROM auth.sessions s WHERE s.id = l.id
       AND (s.not_after IS NULL OR now() <= s.not_after)
       AND now() <= s.created_at + interval '3 days'
       AND now() <= coalesce(s.refreshed_at AT TIME ZONE 'UTC', s.created_at) + interval '1 day') $q$, 5, false, 2);
SELECT pg_temp.measure('lookups', 'LANGUAGE sql function', 'SELECT count(*) FROM public.lookup_ids WHERE public.valid_sql(id)', 3, false, 3);
SELECT pg_temp.measure('lookups', 'PL/pgSQL function', 'SELECT count(*) FROM public.lookup_ids WHERE public.valid_plpgsql(id)', 3, false, 4);
SELECT pg_temp.measure('lookups', 'SECURITY DEFINER sql, pinned search_path', 'SELECT count(*) FROM public.lookup_ids WHERE public.valid_sql_definer(id)', 3, false, 5);
SELECT pg_temp.measure('lookups', 'auth.session_is_valid(id)', 'SELECT count(*) FROM public.lookup_ids WHERE auth.session_is_valid(id)', 5, false, 6);
COMMIT;

-- The same with the default settings (no timebox, no inactivity timeout):
-- the baseline probes sessions_pkey and checks not_after only.
BEGIN;
SET LOCAL auth_sessions.timebox = 0;
SET LOCAL auth_sessions.inactivity_timeout = 0;
SET LOCAL enable_hashjoin = off;
SET LOCAL enable_mergejoin = off;
SELECT pg_temp.measure('lookups, default settings', 'correlated EXISTS index probe, not_after only (baseline)', $q$
    SELECT count(*) FROM public.lookup_ids l WHERE EXISTS (SELECT 1 FROM auth.sessions s WHERE s.id = l.id
       AND (s.not_after IS NULL OR now() <= s.not_after)) $q$, 5, true, 1);
SELECT pg_temp.measure('lookups, default settings', 'auth.session_is_valid(id)', 'SELECT count(*) FROM public.lookup_ids WHERE auth.session_is_valid(id)', 5, false, 2);
COMMIT;

-- The row-security rows only on the standalone schema (bench/gotrue.sh
-- measures the lookups again on GoTrue's, with -v lookups_only=1).
\if :{?lookups_only}
\else
-- count(*) over 1M rows as authenticated with claims set, as PostgREST does.
SELECT set_config('bench.session', (SELECT id::text FROM auth.sessions WHERE auth.session_is_valid(id) LIMIT 1), false) IS NULL AS no_valid_session;
CREATE FUNCTION pg_temp.count_as_authenticated() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    PERFORM set_config('request.jwt.claims', json_build_object('role', 'authenticated', 'session_id', current_setting('bench.session'))::text, true);
    SET LOCAL ROLE authenticated;
    -- EXECUTE: planned anew each time, so each policy (and setting) is planned.
    EXECUTE 'SELECT count(*) FROM public.items' INTO n;
    RESET ROLE;
    RETURN n;
END $$;
BEGIN;
ALTER TABLE public.items DISABLE ROW LEVEL SECURITY;
SELECT pg_temp.measure('rls count(*)', 'no policy (baseline)', 'SELECT pg_temp.count_as_authenticated()', 5, true, 1);
ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY items_unwrapped ON public.items FOR SELECT USING (auth.current_session_is_valid());
SELECT pg_temp.measure('rls count(*)', 'USING (auth.current_session_is_valid())', 'SELECT pg_temp.count_as_authenticated()', 5, false, 2);
SET LOCAL auth_sessions.hoist_current_session = off;
SELECT pg_temp.measure('rls count(*)', 'same, hoisting off (per-row calls, per-snapshot cache)', 'SELECT pg_temp.count_as_authenticated()', 3, false, 3);
SET LOCAL auth_sessions.hoist_current_session = on;
DROP POLICY items_unwrapped ON public.items;
CREATE POLICY items_wrapped ON public.items FOR SELECT USING ((SELECT auth.current_session_is_valid()));
SELECT pg_temp.measure('rls count(*)', 'USING ((SELECT auth.current_session_is_valid()))', 'SELECT pg_temp.count_as_authenticated()', 5, false, 4);
DROP POLICY items_wrapped ON public.items;
CREATE POLICY items_sql ON public.items FOR SELECT USING (public.valid_sql_definer(current_setting('bench.session')::uuid));
SELECT pg_temp.measure('rls count(*)', 'USING (SECURITY DEFINER sql fn(claim)), for contrast', 'SELECT pg_temp.count_as_authenticated()', 1, false, 5);
DROP POLICY items_sql ON public.items;
ALTER TABLE public.items DISABLE ROW LEVEL SECURITY;
COMMIT;
\endif

\pset footer off
SELECT r.grp AS "benchmark", r.variant, r.ms AS "best ms",
       round(r.ms / b.ms, 2) AS "x baseline", r.answer AS "count"
  FROM results r JOIN results b ON b.grp = r.grp AND b.baseline
 ORDER BY r.grp DESC, r.ord;
-- Every variant of a benchmark must give the same answer, or its time means nothing.
SELECT grp AS "benchmark", CASE WHEN count(DISTINCT answer) = 1 THEN 'all variants agree'
            ELSE 'VARIANTS DISAGREE: ' || string_agg(DISTINCT answer::text, ', ') END AS "answers"
  FROM results GROUP BY grp ORDER BY grp DESC;
