-- Immediate revocation in row-level security, queried the way PostgREST does:
-- a transaction that switches to a non-superuser role and sets the verified
-- JWT's claims with set_config(..., true).
\set HIDE_TABLEAM off
\set HIDE_TOAST_COMPRESSION off
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
CREATE EXTENSION auth_sessions;
CREATE ROLE anon NOLOGIN;
CREATE ROLE authenticated NOLOGIN;
INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001');
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal) VALUES
    ('a0000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-000000000001', now(), now(), 'aal1'),
    ('b0000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-000000000001',
     now() - interval '3 hours', now() - interval '3 hours', 'aal1');

-- A table only a valid session may read, and rows only an MFA session may read.
CREATE TABLE public.notes (id int PRIMARY KEY, mfa_only boolean NOT NULL DEFAULT false);
INSERT INTO public.notes SELECT n, n > 900 FROM generate_series(1, 1000) n;
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_valid_session ON public.notes FOR SELECT
    USING (auth.current_session_is_valid() AND (NOT mfa_only OR auth.current_session_aal() >= 'aal2'));
GRANT SELECT ON public.notes TO anon, authenticated;

-- The roles PostgREST uses have no privilege on auth.sessions; the functions
-- work for them anyway, and session_is_valid(uuid) stays privileged.
SELECT has_table_privilege('authenticated', 'auth.sessions', 'SELECT') AS can_read_sessions,
       has_function_privilege('authenticated', 'auth.current_session_is_valid()', 'EXECUTE') AS current_fn,
       has_function_privilege('authenticated', 'auth.session_is_valid(uuid, timestamptz)', 'EXECUTE') AS by_id_fn;

-- A valid session sees the rows (not the MFA-only ones at aal1).
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims',
    '{"sub":"00000000-0000-4000-8000-000000000001","role":"authenticated","session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SELECT auth.session_id(), auth.current_session_is_valid(), auth.current_session_aal();
SELECT count(*) FROM public.notes;
SELECT auth.session_is_valid('a0000000-0000-4000-8000-00000000000a');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- After step-up to aal2 the MFA-only rows appear: the policy reads the
-- database's aal, not the token's (which still says aal1).
SELECT auth.set_session_aal('a0000000-0000-4000-8000-00000000000a', 'aal2', NULL, 'totp');
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"aal":"aal1","session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SELECT auth.current_session_aal(), count(*) FROM public.notes;
COMMIT;

-- The older per-claim setting works too.
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claim.session_id', 'a0000000-0000-4000-8000-00000000000a', true) IS NOT NULL AS claim_set;
SELECT auth.session_id(), count(*) FROM public.notes;
COMMIT;

-- anon without claims, and malformed claims, see nothing and raise nothing.
BEGIN;
SET LOCAL ROLE anon;
SELECT auth.session_id(), auth.current_session_is_valid(), auth.current_session_aal(), count(*) FROM public.notes;
COMMIT;
CREATE TEMP TABLE bad_claims (claims text);
INSERT INTO bad_claims VALUES ('not json'), ('[1,2]'), ('"a0000000-0000-4000-8000-00000000000a"'), ('{}'),
    ('{"session_id":null}'), ('{"session_id":42}'), ('{"session_id":{"id":"a0000000-0000-4000-8000-00000000000a"}}'),
    ('{"session_id":"not-a-uuid"}'), ('{"session_id":""}'), ('');
GRANT SELECT ON bad_claims TO authenticated;
BEGIN;
SET LOCAL ROLE authenticated;
SELECT b.claims, set_config('request.jwt.claims', b.claims, true) IS NOT NULL AS set,
       (SELECT count(*) FROM public.notes) AS visible
  FROM bad_claims b;
COMMIT;

-- Revocation takes effect at the next statement, though the JWT is unexpired.
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SELECT count(*) FROM public.notes;
RESET ROLE;
SELECT auth.revoke_session('a0000000-0000-4000-8000-00000000000a');
SET LOCAL ROLE authenticated;
SELECT auth.current_session_is_valid(), count(*) FROM public.notes;
ROLLBACK;

-- The caller's own uncommitted changes count, and rolling them back (to a
-- savepoint) counts too: no earlier answer is reused for a later statement.
BEGIN;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SELECT auth.current_session_is_valid() AS before;
SAVEPOINT s;
DELETE FROM auth.sessions WHERE id = 'a0000000-0000-4000-8000-00000000000a';
SELECT auth.current_session_is_valid() AS after_delete;
ROLLBACK TO SAVEPOINT s;
SELECT auth.current_session_is_valid() AS after_rollback;
RELEASE SAVEPOINT s;
SELECT auth.current_session_is_valid() AS after_release;
COMMIT;

-- Expiry: by timebox (session b is 3 hours old) and by inactivity.
SET auth_sessions.timebox = '2h';
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"session_id":"b0000000-0000-4000-8000-00000000000b"}', true) IS NOT NULL AS claims_set;
SELECT auth.current_session_is_valid(), auth.current_session_aal(), count(*) FROM public.notes;
COMMIT;
RESET auth_sessions.timebox;
SET auth_sessions.inactivity_timeout = '1h';
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"session_id":"b0000000-0000-4000-8000-00000000000b"}', true) IS NOT NULL AS claims_set;
SELECT auth.current_session_is_valid(), count(*) FROM public.notes;
COMMIT;
-- A timed-out session cannot be refreshed (GoTrue checks validity first) ...
SELECT auth.refresh_session('b0000000-0000-4000-8000-00000000000b');
-- ... but one refreshed in time stays valid under the same timeout.
RESET auth_sessions.inactivity_timeout;
SELECT auth.refresh_session('b0000000-0000-4000-8000-00000000000b');
SET auth_sessions.inactivity_timeout = '1h';
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"session_id":"b0000000-0000-4000-8000-00000000000b"}', true) IS NOT NULL AS claims_set;
SELECT auth.current_session_is_valid(), count(*) FROM public.notes;
COMMIT;
RESET auth_sessions.inactivity_timeout;

-- Changing the claims within a transaction is seen by the next statement.
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"session_id":"b0000000-0000-4000-8000-00000000000b"}', true) IS NOT NULL AS claims_set;
SELECT count(*) FROM public.notes;
SELECT set_config('request.jwt.claims', '{"session_id":"ffffffff-0000-4000-8000-00000000000f"}', true) IS NOT NULL AS claims_set;
SELECT count(*) FROM public.notes;
COMMIT;

-- The calls are evaluated once per statement (an InitPlan), as a hand-written
-- (SELECT ...) would be (the functions' planner support function rewrites
-- them); with hoisting off they run per row, same answers.
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"session_id":"b0000000-0000-4000-8000-00000000000b"}', true) IS NOT NULL AS claims_set;
EXPLAIN (COSTS OFF) SELECT count(*) FROM public.notes;
SELECT count(*) FROM public.notes;
EXPLAIN (COSTS OFF) SELECT count(*) FROM (SELECT id FROM public.notes WHERE id > 10) n;
SELECT count(*) FROM (SELECT id FROM public.notes WHERE id > 10) n;
SET LOCAL auth_sessions.hoist_current_session = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM public.notes;
SELECT count(*) FROM public.notes;
COMMIT;
-- Inside CASE too (wherever the planner simplifies expressions): the InitPlan
-- is evaluated only if the CASE needs it.
CREATE POLICY notes_case ON public.notes FOR SELECT
    USING (CASE WHEN id > 0 THEN auth.current_session_is_valid() ELSE false END);
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"session_id":"b0000000-0000-4000-8000-00000000000b"}', true) IS NOT NULL AS claims_set;
EXPLAIN (COSTS OFF) SELECT count(*) FROM public.notes;
SELECT count(*) FROM public.notes;
COMMIT;
DROP POLICY notes_case ON public.notes;
-- A prepared statement's plan is reused, but the InitPlan runs per execution:
-- a revocation between two executions is seen by the second.
SET ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"session_id":"b0000000-0000-4000-8000-00000000000b"}', false) IS NOT NULL AS claims_set;
PREPARE visible AS SELECT count(*) FROM public.notes;
EXECUTE visible;
RESET ROLE;
SELECT auth.revoke_session('b0000000-0000-4000-8000-00000000000b');
SET ROLE authenticated;
EXECUTE visible;
RESET ROLE;
DEALLOCATE visible;
RESET request.jwt.claims;

-- From the first statement of a connection: planning it asks the support
-- function, which loads the library; no session_preload_libraries needed.
\c
SELECT count(*) AS library_loaded FROM pg_catalog.pg_settings WHERE name = 'auth_sessions.hoist_current_session';
SET ROLE authenticated;
EXPLAIN (COSTS OFF) SELECT count(*) FROM public.notes;
RESET ROLE;
SELECT count(*) AS library_loaded FROM pg_catalog.pg_settings WHERE name = 'auth_sessions.hoist_current_session';

DROP TABLE public.notes;
DROP EXTENSION auth_sessions;
DROP SCHEMA auth;
DROP ROLE anon;
DROP OWNED BY authenticated;
DROP ROLE authenticated;
