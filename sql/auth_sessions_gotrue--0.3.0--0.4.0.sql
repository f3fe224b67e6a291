-- auth_sessions 0.3.0 -> 0.4.0 (not released yet): security and correctness
-- fixes (issue 21). What this creates equals what the 0.4.0 install script
-- creates (pg_test/upgrade.sh compares them object by object).
-- (The same script, under the other name, updates the other extension name.)

-- The DDL guard fires for every command tag: a change to a member table can
-- be filed under ALTER VIEW, ALTER INDEX, ALTER TYPE, ... (src/guard.rs).
DROP EVENT TRIGGER auth_sessions_guard;
CREATE EVENT TRIGGER auth_sessions_guard ON ddl_command_start
    EXECUTE FUNCTION auth.refuse_lost_ddl();
COMMENT ON FUNCTION auth.refuse_lost_ddl() IS
    'auth_sessions: event trigger (auth_sessions_guard): refuses every command that changes the extension''s own tables, their columns or its types (whatever its tag), and CREATE TABLE IF NOT EXISTS of them, whose changes pg_dump would not keep; warns that it does not keep indexes, triggers, rules and policies on them either';

-- The per-user limit fires AFTER each stored row, inserted or moved to
-- another user (src/limits.rs): it holds for multi-row INSERT, COPY and
-- MERGE, and a row ON CONFLICT skips evicts nothing. The trigger is on
-- auth.sessions when that table exists (in attach mode, GoTrue's; it may not
-- exist yet).
DO $limit$
BEGIN
    IF pg_catalog.to_regclass('auth.sessions') IS NOT NULL THEN
        DROP TRIGGER IF EXISTS enforce_session_limit ON auth.sessions;
        CREATE TRIGGER enforce_session_limit
            AFTER INSERT OR UPDATE OF user_id ON auth.sessions
            FOR EACH ROW EXECUTE FUNCTION auth.enforce_session_limit();
    END IF;
END
$limit$;
