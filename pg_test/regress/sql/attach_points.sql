-- Attach mode created at any point of a database's life (src/attach/):
-- half-way through GoTrue's migrations (a column or a table still to come),
-- on an empty auth schema (as Supabase's init scripts leave it before GoTrue
-- first starts, and as a restore finds it), then completed by itself.
-- (Not run through the update from 0.4.0 and older in pg_test/upgrade/upgrade.sh:
-- their install scripts refuse a half-migrated schema by design.)
\set HIDE_TABLEAM off
\set SHOW_CONTEXT never
\set VERBOSITY default
SET TimeZone = 'UTC';
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixture :abs_srcdir '/../fixtures/gotrue_like.sql'
\o /dev/null
\i :fixture
\o
SET ROLE auth_admin;
INSERT INTO auth.users (id, email) VALUES ('00000000-0000-4000-8000-000000000001', 'one@example.com');
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal)
VALUES ('b0000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-000000000001', now(), now(), 'aal1');
RESET ROLE;

-- Half-way (a column or a table still to come), the extension waits: its
-- functions say what is missing (55000), session_stats() says it is
-- waiting, and the command that completes GoTrue's tables attaches the
-- limit trigger, once.
CREATE FUNCTION public.limit_triggers() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM pg_trigger t
     WHERE t.tgrelid = to_regclass('auth.sessions') AND t.tgname = 'enforce_session_limit'
       AND t.tgfoid = to_regprocedure('auth.enforce_session_limit()')
$$;
ALTER TABLE auth.sessions RENAME COLUMN refreshed_at TO refreshed;
CREATE EXTENSION auth_sessions_gotrue;
SELECT public.limit_triggers() AS limit_trigger, auth.session_tables_missing() AS missing;
SELECT auth.session_stats() - 'worker' AS stats;
SELECT auth.session_is_valid('b0000000-0000-4000-8000-00000000000b');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
SELECT auth.revoke_session('b0000000-0000-4000-8000-00000000000b');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM auth.user_sessions('00000000-0000-4000-8000-000000000001');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.create_session('00000000-0000-4000-8000-000000000001');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.prune_sessions();
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
\c - auth_admin
ALTER TABLE auth.sessions RENAME COLUMN refreshed TO refreshed_at;
\c - postgres
SET TimeZone = 'UTC';
SELECT public.limit_triggers() AS limit_trigger, auth.session_tables_missing() AS missing,
       auth.session_stats()->>'status' AS status;
SELECT auth.session_is_valid('b0000000-0000-4000-8000-00000000000b');
DROP EXTENSION auth_sessions_gotrue CASCADE;
ALTER TABLE auth.mfa_amr_claims RENAME TO mfa_amr_claims_later;
CREATE EXTENSION auth_sessions_gotrue;
SELECT public.limit_triggers() AS limit_trigger, auth.session_tables_missing() AS missing;
-- A command on another table attaches nothing; the one that completes
-- GoTrue's tables does.
CREATE TABLE public.unrelated (id int);
ALTER TABLE public.unrelated ADD COLUMN note text;
SELECT public.limit_triggers() AS limit_trigger;
ALTER TABLE auth.mfa_amr_claims_later RENAME TO mfa_amr_claims;
SELECT public.limit_triggers() AS limit_trigger, auth.session_tables_missing() AS missing;
DROP TABLE public.unrelated;
DROP EXTENSION auth_sessions_gotrue CASCADE;

-- An empty auth schema (as Supabase's init scripts leave it before GoTrue
-- first starts, and as a restore finds it when it runs CREATE EXTENSION):
-- it creates none of GoTrue's objects and no trigger; its functions say what
-- is missing until GoTrue's tables exist; then GoTrue's role creates them,
-- and the limit trigger is there, attached by the extension's owner.
DROP SCHEMA auth CASCADE;
CREATE SCHEMA auth AUTHORIZATION auth_admin;
CREATE EXTENSION auth_sessions_gotrue;
SELECT c.oid::regclass AS relation FROM pg_class c WHERE c.relnamespace = 'auth'::regnamespace AND c.relkind = 'r';
SELECT to_regtype('auth.aal_level') AS aal_level;
SELECT auth.session_is_valid('b0000000-0000-4000-8000-00000000000b');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.session_stats() - 'worker' AS stats;
\i :fixture
SELECT public.limit_triggers() AS limit_trigger, auth.session_stats()->>'status' AS status;
-- A restore creates the tables, then runs the dump's CREATE TRIGGER: it
-- takes the place of the extension's, so there is one.
SELECT oid AS attached FROM pg_trigger WHERE tgname = 'enforce_session_limit' \gset
CREATE TRIGGER enforce_session_limit AFTER INSERT OR UPDATE OF user_id ON auth.sessions
    FOR EACH ROW EXECUTE FUNCTION auth.enforce_session_limit();
SELECT public.limit_triggers() AS limit_trigger,
       (SELECT oid FROM pg_trigger WHERE tgname = 'enforce_session_limit') <> :attached AS replaced;
-- Another trigger of that name is refused as usual, and changes nothing.
CREATE FUNCTION public.other_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER enforce_session_limit AFTER INSERT ON auth.sessions
    FOR EACH ROW EXECUTE FUNCTION public.other_trigger();
\echo :LAST_ERROR_SQLSTATE
SELECT public.limit_triggers() AS limit_trigger;
-- A role with just TRIGGER on the table cannot replace it that way (it
-- could not drop it either): refused as usual, and nothing changes.
CREATE ROLE trigger_only;
GRANT USAGE ON SCHEMA auth TO trigger_only;
GRANT TRIGGER ON auth.sessions TO trigger_only;
GRANT EXECUTE ON FUNCTION auth.enforce_session_limit() TO trigger_only;
SELECT oid AS attached FROM pg_trigger WHERE tgname = 'enforce_session_limit' \gset
SET ROLE trigger_only;
CREATE TRIGGER enforce_session_limit AFTER INSERT ON auth.sessions
    FOR EACH ROW WHEN (false) EXECUTE FUNCTION auth.enforce_session_limit();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT public.limit_triggers() AS limit_trigger,
       (SELECT oid FROM pg_trigger WHERE tgname = 'enforce_session_limit') = :attached AS unchanged;
DROP OWNED BY trigger_only;
DROP ROLE trigger_only;
-- Dropped by hand, it stays dropped until GoTrue's tables change again.
DROP TRIGGER enforce_session_limit ON auth.sessions;
CREATE TABLE public.unrelated (id int);
SELECT public.limit_triggers() AS limit_trigger;
DROP TABLE public.unrelated;
SELECT auth.attach_session_tables() AS attached, public.limit_triggers() AS limit_trigger;
DROP FUNCTION public.other_trigger();
DROP EXTENSION auth_sessions_gotrue CASCADE;
DROP SCHEMA auth CASCADE;
DROP FUNCTION public.limit_triggers();
DROP OWNED BY auth_admin;
DROP ROLE auth_admin;
