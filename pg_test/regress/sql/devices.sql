-- The devices page: signed-in users list their own sessions and sign out of
-- them, called the way PostgREST calls functions (a transaction per request,
-- the verified claims set with set_config(..., true), SET LOCAL ROLE
-- authenticated), in the standalone and the attach installation.
\set HIDE_TABLEAM off
\set SHOW_CONTEXT never
\set VERBOSITY default
SET TimeZone = 'UTC';
CREATE EXTENSION auth_sessions;
CREATE ROLE anon NOLOGIN;
CREATE ROLE authenticated NOLOGIN;

-- Two users. User 1 has five sessions on five devices; user 2 two.
INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001'), ('00000000-0000-4000-8000-000000000002');
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, not_after, refreshed_at, user_agent, ip) VALUES
    ('a0000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-000000000001',
     '2026-11-01 08:00:00+00', '2026-12-01 09:00:00+00', 'aal1', NULL, '2026-12-01 09:00:00',
     'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
     '203.0.113.10'),
    ('b0000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-000000000001',
     '2026-11-20 10:00:00+00', '2026-11-20 10:00:00+00', 'aal2', NULL, NULL,
     'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
     '2001:db8::7'),
    ('c0000000-0000-4000-8000-00000000000c', '00000000-0000-4000-8000-000000000001',
     '2026-10-01 00:00:00+00', '2026-10-01 00:00:00+00', 'aal1', '2026-10-15 00:00:00+00', NULL,
     'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0', NULL),
    ('d0000000-0000-4000-8000-00000000000d', '00000000-0000-4000-8000-000000000001',
     '2026-11-25 00:00:00+00', '2026-11-30 12:00:00+00', 'aal1', NULL, '2026-11-30 12:00:00',
     'okhttp/4.12.0', '198.51.100.4'),
    ('e0000000-0000-4000-8000-00000000000e', '00000000-0000-4000-8000-000000000001',
     '2026-11-28 00:00:00+00', '2026-11-28 00:00:00+00', NULL, NULL, NULL, 'curl/8.5.0', '192.0.2.1'),
    ('f0000000-0000-4000-8000-00000000000f', '00000000-0000-4000-8000-000000000002',
     '2026-11-02 00:00:00+00', '2026-11-02 00:00:00+00', 'aal1', NULL, NULL, NULL, NULL),
    ('f1000000-0000-4000-8000-0000000000f1', '00000000-0000-4000-8000-000000000002',
     '2026-11-03 00:00:00+00', '2026-11-03 00:00:00+00', 'aal1', NULL, NULL, 'Mozilla/5.0', '192.0.2.2');
INSERT INTO auth.refresh_tokens (token, user_id, revoked, created_at, updated_at, session_id)
SELECT 'token-' || s.id, s.user_id::text, false, s.created_at, s.created_at, s.id FROM auth.sessions s;
INSERT INTO auth.mfa_amr_claims (session_id, created_at, updated_at, authentication_method, id)
SELECT s.id, s.created_at, s.created_at, 'password', gen_random_uuid() FROM auth.sessions s;

-- Any role may call the three functions; PostgREST's roles still have no
-- privilege on the tables.
SELECT p.oid::regprocedure AS function, has_function_privilege('anon', p.oid, 'EXECUTE') AS anon,
       has_function_privilege('authenticated', p.oid, 'EXECUTE') AS authenticated, p.prosecdef AS security_definer
  FROM pg_proc p WHERE p.pronamespace = 'auth'::regnamespace AND p.proname ~ '^(my_sessions|revoke_my)'
 ORDER BY p.proname;
SELECT has_table_privilege('authenticated', 'auth.sessions', 'SELECT') AS select_sessions,
       has_table_privilege('authenticated', 'auth.sessions', 'DELETE') AS delete_sessions;

-- What a row holds: no refresh token, no HMAC key, nothing of another user.
SELECT * FROM auth.my_sessions() LIMIT 0;

-- User 1's request from session a: their five sessions, newest activity
-- first, the current one marked, each with its validity and device.
BEGIN;
SELECT set_config('request.jwt.claims',
    '{"sub":"00000000-0000-4000-8000-000000000001","role":"authenticated","session_id":"a0000000-0000-4000-8000-00000000000a"}',
    true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT id, device, browser, os, aal, ip, validity, is_current FROM auth.my_sessions();
SELECT id, created_at, last_active_at FROM auth.my_sessions();
COMMIT;

-- refreshed_at holds UTC wall-clock time: the last activity is the same
-- instant whatever the request's TimeZone.
BEGIN;
SET LOCAL TimeZone = 'America/New_York';
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT id, last_active_at, last_active_at = timestamptz '2026-12-01 09:00:00+00' AS same_instant
  FROM auth.my_sessions() WHERE is_current;
COMMIT;

-- User 2 sees exactly their own two sessions; an agent with nothing to go
-- on is an "Unknown device", a session without one has no label.
BEGIN;
SELECT set_config('request.jwt.claims',
    '{"sub":"00000000-0000-4000-8000-000000000002","session_id":"f1000000-0000-4000-8000-0000000000f1"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT id, device, user_agent, validity, is_current FROM auth.my_sessions();
COMMIT;

-- The user is the session row's, never the sub claim: claims naming user 2
-- with user 1's session list user 1's sessions (knowing a valid session id is
-- what it takes), and user 2's sub alone lists nothing.
BEGIN;
SELECT set_config('request.jwt.claims',
    '{"sub":"00000000-0000-4000-8000-000000000002","session_id":"d0000000-0000-4000-8000-00000000000d"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT count(*) AS listed, bool_and(id::text < 'f') AS all_user_1, count(*) FILTER (WHERE is_current) AS current
  FROM auth.my_sessions();
SELECT set_config('request.jwt.claims', '{"sub":"00000000-0000-4000-8000-000000000002"}', true) IS NOT NULL AS claims_set;
SELECT count(*) AS listed FROM auth.my_sessions();
COMMIT;

-- Without a valid current session: no rows, nothing revoked, no error.
-- Session c is past its not_after; the others are malformed or absent.
CREATE TEMP TABLE requests (claims text);
INSERT INTO requests VALUES
    ('{"session_id":"c0000000-0000-4000-8000-00000000000c"}'),
    ('{"session_id":"99999999-0000-4000-8000-000000000009"}'),
    ('not json'), ('[1,2]'), ('{}'), ('{"session_id":null}'), ('{"session_id":42}'),
    ('{"session_id":"not-a-uuid"}'), ('{"session_id":""}'), ('');
GRANT SELECT ON requests TO authenticated;
BEGIN;
SET LOCAL ROLE authenticated;
SELECT r.claims, set_config('request.jwt.claims', r.claims, true) IS NOT NULL AS set,
       (SELECT count(*) FROM auth.my_sessions()) AS listed,
       auth.revoke_my_session('d0000000-0000-4000-8000-00000000000d') AS revoked_d,
       auth.revoke_my_other_sessions() AS revoked_others
  FROM requests r;
COMMIT;
-- No claims at all (anon), and a NULL id.
BEGIN;
SET LOCAL ROLE anon;
SELECT count(*) AS listed, auth.revoke_my_session('d0000000-0000-4000-8000-00000000000d') AS revoked,
       auth.revoke_my_other_sessions() AS others FROM auth.my_sessions();
COMMIT;
SELECT count(*) AS sessions_left FROM auth.sessions;

-- A session past the timebox is not a valid current session either.
SET auth_sessions.timebox = '10d';
BEGIN;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT count(*) AS listed, auth.revoke_my_other_sessions() AS revoked FROM auth.my_sessions();
COMMIT;
RESET auth_sessions.timebox;

-- Revoking another user's session, or an id that does not exist: false, the
-- same answer, and nothing deleted. A NULL id: false.
BEGIN;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT auth.revoke_my_session('f0000000-0000-4000-8000-00000000000f') AS other_users,
       auth.revoke_my_session('99999999-0000-4000-8000-000000000009') AS missing,
       auth.revoke_my_session(NULL) AS null_id;
COMMIT;
SELECT user_id, count(*) FROM auth.sessions GROUP BY user_id ORDER BY user_id;
-- A malformed id is the caller's error.
BEGIN;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT auth.revoke_my_session('not-a-uuid');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- A read-only transaction (what PostgREST runs GET requests in) lists, and
-- refuses to revoke with SQLSTATE 25006, valid session or not.
BEGIN READ ONLY;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT count(*) AS listed FROM auth.my_sessions();
SELECT auth.revoke_my_session('b0000000-0000-4000-8000-00000000000b');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN READ ONLY;
SET LOCAL ROLE anon;
SELECT auth.revoke_my_other_sessions();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- Revoking one of the user's own sessions: a hard delete, its refresh token
-- and amr claim go with it, and its next request sees nothing and revokes
-- nothing.
BEGIN;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT auth.revoke_my_session('b0000000-0000-4000-8000-00000000000b') AS revoked;
SELECT auth.revoke_my_session('b0000000-0000-4000-8000-00000000000b') AS again;
SELECT id FROM auth.my_sessions();
COMMIT;
SELECT (SELECT count(*) FROM auth.sessions WHERE id = 'b0000000-0000-4000-8000-00000000000b') AS session,
       (SELECT count(*) FROM auth.refresh_tokens WHERE session_id = 'b0000000-0000-4000-8000-00000000000b') AS tokens,
       (SELECT count(*) FROM auth.mfa_amr_claims WHERE session_id = 'b0000000-0000-4000-8000-00000000000b') AS claims;
BEGIN;
SELECT set_config('request.jwt.claims', '{"session_id":"b0000000-0000-4000-8000-00000000000b"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT count(*) AS listed, auth.revoke_my_session('d0000000-0000-4000-8000-00000000000d') AS revoked_d,
       auth.revoke_my_other_sessions() AS revoked_others
  FROM auth.my_sessions();
COMMIT;
SELECT count(*) AS sessions_of_user_1 FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000001';

-- A trigger on auth.sessions that a role other than a superuser wrote would
-- run as the table's owner, here a superuser: refused (42501), nothing deleted.
CREATE ROLE devices_mallory;
GRANT USAGE, CREATE ON SCHEMA public TO devices_mallory;
GRANT TRIGGER ON auth.sessions TO devices_mallory;
SET ROLE devices_mallory;
CREATE FUNCTION public.mallory_was_here() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;
SET client_min_messages = error;
CREATE TRIGGER mallory BEFORE DELETE ON auth.sessions FOR EACH ROW EXECUTE FUNCTION public.mallory_was_here();
RESET client_min_messages;
RESET ROLE;
BEGIN;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT auth.revoke_my_other_sessions();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
DROP TRIGGER mallory ON auth.sessions;
DROP FUNCTION public.mallory_was_here();
REVOKE ALL ON SCHEMA public FROM devices_mallory;
REVOKE ALL ON auth.sessions FROM devices_mallory;
DROP ROLE devices_mallory;

-- GoTrue's others scope: every other session of the user goes, the current
-- one and the other user's stay.
BEGIN;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT auth.revoke_my_other_sessions() AS revoked;
SELECT id, is_current FROM auth.my_sessions();
COMMIT;
SELECT user_id, count(*) FROM auth.sessions GROUP BY user_id ORDER BY user_id;

-- The README's PostgREST recipe: wrappers in the exposed schema, called as
-- supabase.rpc() calls them (POST: a read-write transaction per request).
CREATE FUNCTION public.my_sessions()
RETURNS TABLE (id uuid, created_at timestamptz, last_active_at timestamptz, aal text, user_agent text,
               device text, browser text, os text, ip inet, validity text, is_current boolean)
LANGUAGE sql STABLE SET search_path = '' AS $$ SELECT * FROM auth.my_sessions() $$;
CREATE FUNCTION public.revoke_my_session(session_id uuid) RETURNS boolean
LANGUAGE sql VOLATILE SET search_path = '' AS $$ SELECT auth.revoke_my_session(session_id) $$;
CREATE FUNCTION public.revoke_my_other_sessions() RETURNS integer
LANGUAGE sql VOLATILE SET search_path = '' AS $$ SELECT auth.revoke_my_other_sessions() $$;
REVOKE EXECUTE ON FUNCTION public.my_sessions(), public.revoke_my_session(uuid), public.revoke_my_other_sessions()
    FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.my_sessions(), public.revoke_my_session(uuid), public.revoke_my_other_sessions()
    TO authenticated;
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, user_agent) VALUES
    ('a1000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-000000000001',
     '2026-11-29 00:00:00+00', '2026-11-29 00:00:00+00', 'aal1', 'Dart/3.2 (dart:io)');
BEGIN;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT id, device, is_current FROM public.my_sessions();
SELECT public.revoke_my_session('a1000000-0000-4000-8000-0000000000a1') AS revoked;
SELECT public.revoke_my_other_sessions() AS others;
COMMIT;
BEGIN;
SET LOCAL ROLE anon;
SELECT * FROM public.my_sessions();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
DROP FUNCTION public.my_sessions(), public.revoke_my_session(uuid), public.revoke_my_other_sessions();

-- Revoking the current session is a logout: the next request lists nothing.
BEGIN;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT auth.revoke_my_session('a0000000-0000-4000-8000-00000000000a') AS logged_out;
COMMIT;
BEGIN;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT count(*) AS listed, auth.revoke_my_other_sessions() AS revoked FROM auth.my_sessions();
COMMIT;
SELECT user_id, count(*) FROM auth.sessions GROUP BY user_id ORDER BY user_id;

DROP TABLE requests;
DROP EXTENSION auth_sessions;
DROP SCHEMA auth;

-- Attach mode: GoTrue's tables, owned by auth_admin, row security on; the
-- revocations delete as that owner (a trigger of the owner's records who
-- deleted), and the listing needs nothing on the tables.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/../fixtures/gotrue_like.sql'
\set ECHO none
\i :fixture
\set ECHO all
CREATE EXTENSION auth_sessions_gotrue;
-- As Supabase grants it to its API roles.
GRANT USAGE ON SCHEMA auth TO authenticated;
INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001'), ('00000000-0000-4000-8000-000000000002');
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, refreshed_at, user_agent, ip) VALUES
    ('a0000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-000000000001',
     '2026-11-01 08:00:00+00', '2026-11-01 08:00:00+00', 'aal1', '2026-12-01 09:00:00', 'okhttp/4.12.0', '203.0.113.10'),
    ('b0000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-000000000001',
     '2026-11-20 10:00:00+00', '2026-11-20 10:00:00+00', 'aal1', NULL, 'curl/8.5.0', NULL),
    ('c0000000-0000-4000-8000-00000000000c', '00000000-0000-4000-8000-000000000001',
     '2026-11-21 10:00:00+00', '2026-11-21 10:00:00+00', 'aal1', NULL, NULL, NULL),
    ('f0000000-0000-4000-8000-00000000000f', '00000000-0000-4000-8000-000000000002',
     '2026-11-02 00:00:00+00', '2026-11-02 00:00:00+00', 'aal1', NULL, NULL, NULL);
INSERT INTO auth.refresh_tokens (token, user_id, revoked, created_at, updated_at, session_id)
SELECT 'token-' || s.id, s.user_id::text, false, s.created_at, s.created_at, s.id FROM auth.sessions s;
SET ROLE auth_admin;
CREATE TABLE auth.deleted_by (session_id uuid, role name);
CREATE FUNCTION auth.note_deleter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO auth.deleted_by VALUES (OLD.id, current_user);
    RETURN OLD;
END $$;
CREATE TRIGGER note_deleter AFTER DELETE ON auth.sessions FOR EACH ROW EXECUTE FUNCTION auth.note_deleter();
RESET ROLE;
BEGIN;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT id, device, aal, ip, validity, is_current FROM auth.my_sessions();
SELECT auth.revoke_my_session('f0000000-0000-4000-8000-00000000000f') AS other_users;
SELECT auth.revoke_my_session('b0000000-0000-4000-8000-00000000000b') AS revoked;
SELECT auth.revoke_my_other_sessions() AS others;
SELECT id, is_current FROM auth.my_sessions();
COMMIT;
SELECT session_id, role FROM auth.deleted_by ORDER BY session_id;
SELECT s.user_id, count(*) AS sessions, (SELECT count(*) FROM auth.refresh_tokens t WHERE t.user_id = s.user_id::text) AS tokens
  FROM auth.sessions s GROUP BY s.user_id ORDER BY s.user_id;
-- The listing reads user_agent and ip directly, so it checks their types
-- first: a column of another type is a clear error (42804), and the other
-- functions, which do not read it, keep working.
ALTER TABLE auth.sessions ALTER COLUMN ip TYPE text;
BEGIN;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT count(*) FROM auth.my_sessions();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-00000000000a"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT auth.current_session_is_valid();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA auth CASCADE;
RESET client_min_messages;
DROP OWNED BY auth_admin;
DROP ROLE auth_admin;
DROP ROLE anon;
DROP OWNED BY authenticated;
DROP ROLE authenticated;
