-- What auth_sessions does: GoTrue's session schema, exactly, the session
-- lifecycle in SQL with GoTrue's validity rules and a per-user limit,
-- revocation in row-level security, and the devices page.
\pset footer off
\set ON_ERROR_STOP 0
\set SHOW_CONTEXT never
SET TimeZone = 'America/New_York';  -- answers do not depend on it
\echo '--- auth.sessions, as GoTrue (Supabase Auth) defines it:'
\d+ auth.sessions
\echo '--- a user signs in twice (auth.create_session):'
INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001');
SELECT id, aal, created_at, user_agent FROM auth.create_session('00000000-0000-4000-8000-000000000001', user_agent => 'laptop');
SELECT id, aal, created_at, user_agent FROM auth.create_session('00000000-0000-4000-8000-000000000001', user_agent => 'phone');
\echo '--- a refresh stores UTC wall-clock time in refreshed_at (timestamp without time zone):'
SELECT auth.refresh_session(id, 'laptop/2') FROM auth.sessions WHERE user_agent = 'laptop';
SELECT user_agent, refreshed_at AS stored_utc, refreshed_at AT TIME ZONE 'UTC' AS as_instant FROM auth.sessions ORDER BY created_at;
\echo '--- validity at a given time, with an 8h timebox and a 1h inactivity timeout (superuser settings):'
SET auth_sessions.timebox = '8h';
SET auth_sessions.inactivity_timeout = '1h';
SELECT user_agent, auth.session_validity(id) AS now,
       auth.session_validity(id, now() + interval '61 minutes') AS in_61_minutes,
       auth.session_validity(id, now() + interval '9 hours') AS in_9_hours
  FROM auth.sessions ORDER BY created_at;
\echo '--- at most 2 sessions per user; a third login evicts the least recently active:'
SET auth_sessions.max_per_user = 2;
SELECT user_agent FROM auth.create_session('00000000-0000-4000-8000-000000000001', user_agent => 'tablet');
SELECT user_agent, validity FROM auth.user_sessions('00000000-0000-4000-8000-000000000001');
\echo '--- or, with limit_strategy = reject, the login is refused (SQLSTATE 53400):'
SET auth_sessions.limit_strategy = 'reject';
SELECT auth.create_session('00000000-0000-4000-8000-000000000001', user_agent => 'tv');
\echo '--- logout of the other sessions (GoTrue scope "others"); children go by cascade:'
SELECT auth.revoke_user_sessions('00000000-0000-4000-8000-000000000001', 'others',
       (SELECT id FROM auth.sessions WHERE user_agent = 'tablet')) AS revoked;
SELECT user_agent, validity FROM auth.user_sessions('00000000-0000-4000-8000-000000000001');
\echo '--- row-level security: a table only a live session can read, queried as PostgREST does:'
RESET auth_sessions.max_per_user;
RESET auth_sessions.limit_strategy;
DO $$ BEGIN CREATE ROLE authenticated NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE TABLE public.notes (id int PRIMARY KEY, body text);
INSERT INTO public.notes VALUES (1, 'hello'), (2, 'world');
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY live_session ON public.notes FOR SELECT TO authenticated USING (auth.current_session_is_valid());
GRANT SELECT ON public.notes TO authenticated;
SELECT set_config('demo.session', (SELECT id::text FROM auth.sessions WHERE user_agent = 'tablet'), false) IS NULL AS no_session;
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', json_build_object('role', 'authenticated', 'session_id', current_setting('demo.session'))::text, true) IS NULL AS unset;
SELECT auth.session_id(), auth.current_session_is_valid(), auth.current_session_aal();
SELECT * FROM public.notes;
\echo '--- the policy call is evaluated once per statement (an InitPlan), not per row:'
EXPLAIN (COSTS OFF) SELECT * FROM public.notes;
COMMIT;
\echo '--- the devices page: the signed-in user lists their sessions and signs the others out (auth.my_sessions):'
SELECT count(*) AS signed_in FROM (
    SELECT auth.create_session('00000000-0000-4000-8000-000000000001', user_agent =>
        'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1')
    UNION ALL
    SELECT auth.create_session('00000000-0000-4000-8000-000000000001', user_agent => 'okhttp/4.12.0')) s;
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', json_build_object('role', 'authenticated', 'session_id', current_setting('demo.session'))::text, true) IS NULL AS unset;
SELECT device, validity, is_current FROM auth.my_sessions();
SELECT auth.revoke_my_other_sessions() AS signed_out;
SELECT device, is_current FROM auth.my_sessions();
COMMIT;
\echo '--- logout; the same (unexpired) token sees nothing at its next request:'
SELECT auth.revoke_session(current_setting('demo.session')::uuid);
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', json_build_object('role', 'authenticated', 'session_id', current_setting('demo.session'))::text, true) IS NULL AS unset;
SELECT count(*) AS visible FROM public.notes;
COMMIT;
