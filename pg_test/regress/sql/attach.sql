-- Attach mode: CREATE EXTENSION auth_sessions_gotrue in a database whose auth
-- tables another owner (GoTrue) manages. It creates none of them, changes
-- none of their owners, privileges or row security, adds only the limit
-- trigger, and every function works on those tables, for that owner too.
\set HIDE_TABLEAM off
\set SHOW_CONTEXT never
\set VERBOSITY default
SET TimeZone = 'UTC';
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/../fixtures/gotrue_like.sql'
\i :fixture
CREATE FUNCTION public.auth_objects() RETURNS TABLE (object text, owner name, acl text, rowsec text, columns text, triggers text)
LANGUAGE sql AS $$
    SELECT c.oid::regclass::text, pg_get_userbyid(c.relowner), coalesce(c.relacl::text, ''),
           c.relrowsecurity || '/' || c.relforcerowsecurity,
           (SELECT count(*) || ' ' || left(md5(string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)), 8)
              FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
           coalesce((SELECT string_agg(t.tgname, ', ' ORDER BY t.tgname) FROM pg_trigger t
                      WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), '')
      FROM pg_class c WHERE c.relnamespace = 'auth'::regnamespace AND c.relkind IN ('r', 'S', 'i')
    UNION ALL
    SELECT t.oid::regtype::text, pg_get_userbyid(t.typowner), coalesce(t.typacl::text, ''), '', '', ''
      FROM pg_type t WHERE t.typnamespace = 'auth'::regnamespace AND t.typtype = 'e'
    UNION ALL
    SELECT 'schema auth', pg_get_userbyid(n.nspowner), coalesce(n.nspacl::text, ''), '', '', ''
      FROM pg_namespace n WHERE n.nspname = 'auth'
$$;
CREATE TABLE public.before AS SELECT * FROM public.auth_objects();

CREATE EXTENSION auth_sessions_gotrue;
-- What changed among the existing objects: the limit trigger, nothing else;
-- what is new: the extension's own prune_state (and its index).
SELECT 'changed' AS what, a.* FROM public.auth_objects() a JOIN before b USING (object)
 WHERE (a.*) IS DISTINCT FROM (b.*)
UNION ALL
SELECT 'new', a.* FROM public.auth_objects() a WHERE a.object NOT IN (SELECT object FROM before)
UNION ALL
SELECT 'gone', b.* FROM before b WHERE b.object NOT IN (SELECT object FROM public.auth_objects())
ORDER BY 1, 2;
-- Members: functions, the event trigger, prune_state; no GoTrue object.
SELECT pg_describe_object(classid, objid, 0) AS member
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'auth_sessions_gotrue')
   AND classid <> 'pg_proc'::regclass
 ORDER BY 1;

-- The two modes refuse each other.
CREATE EXTENSION auth_sessions;
\echo :LAST_ERROR_SQLSTATE

-- GoTrue's owner keeps working as before: its own statements, the limit
-- trigger firing for them, evicting as that role.
\c - auth_admin
SET search_path = auth;
INSERT INTO users (id, email) VALUES
    ('00000000-0000-4000-8000-000000000001', 'one@example.com'),
    ('00000000-0000-4000-8000-000000000002', 'two@example.com');
INSERT INTO "sessions" ("aal", "created_at", "factor_id", "id", "ip", "not_after", "oauth_client_id",
    "refresh_token_counter", "refresh_token_hmac_key", "refreshed_at", "scopes", "tag", "updated_at", "user_agent",
    "user_id")
VALUES ('aal1', '2026-01-01 00:00+00', NULL, 'a0000000-0000-4000-8000-00000000000a', '192.0.2.1', NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, '2026-01-01 00:00+00', 'ua', '00000000-0000-4000-8000-000000000001');
INSERT INTO "refresh_tokens" ("created_at", "instance_id", "parent", "revoked", "session_id", "token", "updated_at",
    "user_id")
VALUES ('2026-01-01 00:00+00', '00000000-0000-0000-0000-000000000000', NULL, false,
        'a0000000-0000-4000-8000-00000000000a', 'tok-a', '2026-01-01 00:00+00', '00000000-0000-4000-8000-000000000001');
SELECT id, aal FROM "sessions" WHERE id = 'a0000000-0000-4000-8000-00000000000a' LIMIT 1 FOR UPDATE SKIP LOCKED;
\c - postgres
SET TimeZone = 'UTC';
ALTER ROLE auth_admin SET auth_sessions.max_per_user = 1;
\c - auth_admin
SET search_path = auth;
INSERT INTO "sessions" ("aal", "created_at", "id", "updated_at", "user_id")
VALUES ('aal1', '2026-01-01 01:00+00', 'b0000000-0000-4000-8000-00000000000b', '2026-01-01 01:00+00',
        '00000000-0000-4000-8000-000000000001');
SELECT id FROM sessions ORDER BY id;
SELECT count(*) AS tokens_left FROM refresh_tokens;
\c - postgres
SET TimeZone = 'UTC';
ALTER ROLE auth_admin RESET auth_sessions.max_per_user;

-- The functions, on GoTrue's tables: validity (all five rules), the
-- lifecycle, the current session, stats and pruning.
SELECT auth.session_validity('b0000000-0000-4000-8000-00000000000b', '2026-01-02 00:00+00');
SET auth_sessions.allow_low_aal = '1h';
INSERT INTO auth.mfa_factors (id, user_id, status, created_at, updated_at)
VALUES ('f0000000-0000-4000-8000-00000000000f', '00000000-0000-4000-8000-000000000001', 'verified', now(), now());
SELECT auth.session_validity('b0000000-0000-4000-8000-00000000000b', '2026-01-01 02:00+00') AS at_allowance,
       auth.session_validity('b0000000-0000-4000-8000-00000000000b', '2026-01-01 02:00:00.000001+00') AS after;
SELECT auth.session_stats()->'sessions' AS by_validity;
RESET auth_sessions.allow_low_aal;
SELECT (auth.create_session('00000000-0000-4000-8000-000000000002', 'aal2', tag => 'web')).aal;
SELECT aal, tag, validity FROM auth.user_sessions('00000000-0000-4000-8000-000000000002');
SELECT auth.refresh_session(id, 'ua/2', '198.51.100.7') FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000002';
SELECT auth.set_session_aal(id, 'aal1', NULL, 'password') FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000002';
SELECT auth.set_session_aal(id, 'aal7') FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000002';
\echo :LAST_ERROR_SQLSTATE
SELECT set_config('request.jwt.claims', json_build_object('session_id', 'b0000000-0000-4000-8000-00000000000b')::text, false);
SELECT auth.session_id(), auth.current_session_is_valid(), auth.current_session_aal();
SELECT auth.revoke_user_sessions('00000000-0000-4000-8000-000000000002', 'global');
SET auth_sessions.timebox = '1h';
SELECT auth.prune_sessions(100, '0') AS pruned;
RESET auth_sessions.timebox;
SELECT count(*) AS sessions_left FROM auth.sessions;

-- Who administers sessions: the role that owns GoTrue's tables, and its
-- members (as postgres is a member of supabase_auth_admin on Supabase, not a
-- superuser): the administration functions, session_stats() and the
-- per-database settings, granted when the extension attached. A role that
-- is not a member (PostgREST's authenticated, say) gets none of them.
CREATE ROLE admin_member LOGIN NOSUPERUSER BYPASSRLS;
GRANT auth_admin TO admin_member;
CREATE ROLE api_user LOGIN;
GRANT USAGE ON SCHEMA auth TO api_user;
SELECT current_database() AS db \gset
ALTER DATABASE :"db" OWNER TO admin_member;
\c - admin_member
SET TimeZone = 'UTC';
SELECT auth.session_is_valid('b0000000-0000-4000-8000-00000000000b') AS valid,
       auth.session_stats()->>'status' AS status,
       (SELECT count(*) FROM auth.user_sessions('00000000-0000-4000-8000-000000000001')) AS listed,
       auth.revoke_session('d0000000-0000-4000-8000-00000000000d') AS revoked,
       auth.prune_sessions(10, '1 day') AS pruned;
SET auth_sessions.max_per_user = 5;
SHOW auth_sessions.max_per_user;
ALTER DATABASE :"db" SET auth_sessions.max_per_user = 4;
-- A database setting takes effect for GoTrue's next connection.
\c - auth_admin
SHOW auth_sessions.max_per_user;
\c - admin_member
ALTER DATABASE :"db" RESET auth_sessions.max_per_user;
\c - api_user
\set VERBOSITY terse
SELECT auth.session_is_valid('b0000000-0000-4000-8000-00000000000b');
SELECT auth.session_stats();
SELECT auth.revoke_session('b0000000-0000-4000-8000-00000000000b');
SELECT auth.prune_sessions(10, '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.session_id() IS NULL AS library_loaded;
SET auth_sessions.max_per_user = 0;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
\c - postgres
SET TimeZone = 'UTC';
ALTER DATABASE :"db" OWNER TO postgres;
DROP ROLE admin_member;
REVOKE USAGE ON SCHEMA auth FROM api_user;
DROP ROLE api_user;

-- GoTrue's owner may still change its own tables (they are not the
-- extension's); the extension's own table is guarded.
\c - auth_admin
ALTER TABLE auth.sessions ADD COLUMN later_migration text;
ALTER TABLE auth.sessions DROP COLUMN later_migration;
\c - postgres
ALTER TABLE auth.prune_state ADD COLUMN note text;
\echo :LAST_ERROR_SQLSTATE

-- DROP EXTENSION leaves GoTrue's tables; the limit trigger depends on the
-- extension's function, so it needs CASCADE, which removes just the trigger.
DROP EXTENSION auth_sessions_gotrue;
\echo :LAST_ERROR_SQLSTATE
DROP EXTENSION auth_sessions_gotrue CASCADE;
SELECT 'changed' AS what, a.* FROM public.auth_objects() a JOIN before b USING (object)
 WHERE (a.*) IS DISTINCT FROM (b.*)
UNION ALL
SELECT 'gone', b.* FROM before b WHERE b.object NOT IN (SELECT object FROM public.auth_objects())
ORDER BY 1, 2;

-- GoTrue's migrations alter its tables in the transactions that read them:
-- a session_is_valid call kept by a DO block does not keep ALTER TABLE out.
CREATE EXTENSION auth_sessions_gotrue;
BEGIN;
DO $$ DECLARE v boolean; BEGIN
    v := auth.session_is_valid('b0000000-0000-4000-8000-00000000000b');
    ALTER TABLE auth.sessions ADD COLUMN later_column text;
    ALTER TABLE auth.sessions DROP COLUMN later_column;
    RAISE NOTICE 'altered after a kept call'; END $$;
ROLLBACK;
DROP EXTENSION auth_sessions_gotrue CASCADE;

DROP SCHEMA auth CASCADE;
DROP TABLE public.before;
DROP FUNCTION public.auth_objects();
DROP OWNED BY auth_admin;
DROP ROLE auth_admin;
