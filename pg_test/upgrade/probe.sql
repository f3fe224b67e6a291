-- Behaviour that must be the same on an updated and a fresh install
-- (pg_test/upgrade/upgrade.sh): answers at a fixed time, row-level security as
-- a role like PostgREST's authenticated, the view, and the write paths (rolled back).
\set QUIET on
\pset format unaligned
\pset tuples_only on
SET TimeZone = 'UTC';
SELECT 'version ' || extversion FROM pg_catalog.pg_extension WHERE extname IN ('auth_sessions', 'auth_sessions_gotrue');
SELECT 'validity ' || v || ' ' || count(*)
  FROM (SELECT auth.session_validity(id, timestamptz '2026-03-01 00:00:00+00') AS v FROM auth.sessions) s
 GROUP BY v ORDER BY v;
SELECT 'report ' || validity || ' ' || count(*) FROM public.session_report GROUP BY validity ORDER BY 1;
-- Session 1 (user 2, aal2) and session 5 (user 6, past its not_after).
BEGIN;
SET LOCAL ROLE upgrade_user;
SELECT set_config('request.jwt.claims',
    '{"sub":"00000000-0000-4000-8000-000000000002","session_id":"10000000-0000-4000-8000-000000000001"}', true) IS NULL;
SELECT 'rls live ' || auth.current_session_is_valid() || ' ' || coalesce(auth.current_session_aal(), '-') || ' ' || count(*)
  FROM public.notes;
SELECT 'devices ' || count(*) || ' ' || string_agg(device || ' ' || validity || ' ' || is_current, ', ' ORDER BY id)
  FROM auth.my_sessions();
SELECT set_config('request.jwt.claims',
    '{"sub":"00000000-0000-4000-8000-000000000006","session_id":"10000000-0000-4000-8000-000000000005"}', true) IS NULL;
SELECT 'rls ended ' || auth.current_session_is_valid() || ' ' || count(*) FROM public.notes;
ROLLBACK;
BEGIN;
SELECT 'revoke ' || auth.revoke_session('10000000-0000-4000-8000-000000000002');
SELECT 'refresh ' || auth.refresh_session('10000000-0000-4000-8000-000000000004', 'probe', '10.9.9.9');
SELECT 'user sessions ' || count(*) || ' ' || string_agg(validity, ',' ORDER BY id)
  FROM auth.user_sessions('00000000-0000-4000-8000-000000000005');
SELECT 'created ' || (auth.create_session('00000000-0000-4000-8000-000000000003')).aal;
SELECT 'pruned ' || auth.prune_sessions(1000);
SELECT 'left ' || count(*) FROM auth.sessions;
ROLLBACK;
