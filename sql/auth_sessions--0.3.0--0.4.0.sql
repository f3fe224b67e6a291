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
