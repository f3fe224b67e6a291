-- The standalone extension's tables are its members: pg_dump writes them as
-- one CREATE EXTENSION and never describes what was changed on them later.
-- So changes whose loss would lose rows (a column, a rename) are refused,
-- and those that would merely be lost (an index, a trigger, a policy) warn.
-- GoTrue's first migration is stopped at its first statement.
\set SHOW_CONTEXT never
\set VERBOSITY default
CREATE EXTENSION auth_sessions;
ALTER TABLE auth.sessions ADD COLUMN device text;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE auth.sessions ALTER COLUMN tag TYPE varchar(20);
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE auth.refresh_tokens RENAME COLUMN token TO token_text;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE auth.mfa_amr_claims RENAME TO amr_claims;
\echo :LAST_ERROR_SQLSTATE
CREATE SCHEMA archive;
ALTER TABLE auth.users SET SCHEMA archive;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE auth.sessions SET (fillfactor = 70);
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE auth.prune_state ADD COLUMN note text;
\echo :LAST_ERROR_SQLSTATE
-- Nothing happened.
SELECT count(*) AS columns FROM pg_attribute WHERE attrelid = 'auth.sessions'::regclass AND attnum > 0;
-- Row security and trigger switches change nothing pg_dump describes.
ALTER TABLE auth.sessions FORCE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY;
ALTER TABLE auth.sessions DISABLE TRIGGER enforce_session_limit;
ALTER TABLE auth.sessions ENABLE TRIGGER enforce_session_limit;
-- These are lost by pg_dump, not the rows: they go ahead, with a warning.
CREATE INDEX sessions_tag_idx ON auth.sessions (tag);
CREATE FUNCTION public.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER noop BEFORE UPDATE ON auth.sessions FOR EACH ROW EXECUTE FUNCTION public.noop();
CREATE POLICY own_sessions ON auth.sessions USING (false);
DROP POLICY own_sessions ON auth.sessions;
DROP TRIGGER noop ON auth.sessions;
DROP FUNCTION public.noop();
DROP INDEX auth.sessions_tag_idx;
-- Other tables, in auth too, are not the extension's business.
CREATE TABLE auth.devices (session_id uuid REFERENCES auth.sessions (id) ON DELETE CASCADE);
ALTER TABLE auth.devices ADD COLUMN label text;
CREATE INDEX ON auth.devices (session_id);
DROP TABLE auth.devices;
-- GoTrue's first migration, run by the owner of the schema (as Supabase
-- does), stops at its first statement, before anything is created.
CREATE ROLE auth_migrator LOGIN;
ALTER SCHEMA auth OWNER TO auth_migrator;
SET ROLE auth_migrator;
CREATE TABLE IF NOT EXISTS auth.users (instance_id uuid NULL, id uuid NOT NULL UNIQUE, CONSTRAINT users_pkey PRIMARY KEY (id));
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- A superuser who accepts that pg_dump will not keep a change can switch
-- the guard off (it is an ordinary event trigger) and on again.
ALTER EVENT TRIGGER auth_sessions_guard DISABLE;
ALTER TABLE auth.sessions ADD COLUMN device text;
ALTER TABLE auth.sessions DROP COLUMN device;
ALTER EVENT TRIGGER auth_sessions_guard ENABLE;
-- Calling the guard outside an event trigger is refused.
SELECT auth.refuse_lost_ddl();
\echo :LAST_ERROR_SQLSTATE
ALTER SCHEMA auth OWNER TO postgres;
DROP EXTENSION auth_sessions;
DROP SCHEMA archive;
DROP SCHEMA auth;
DROP ROLE auth_migrator;
