-- A database that already has any of the extension's objects (a GoTrue-managed
-- one, say) is refused with a clear error and a hint, and nothing changes.
-- pg_regress runs psql with these on; the seed was captured with them off.
\set HIDE_TABLEAM off
\set HIDE_TOAST_COMPRESSION off
\set SHOW_CONTEXT never
CREATE SCHEMA auth;
-- What a GoTrue-managed database has: its own users and sessions (with
-- columns newer GoTrue releases add), and rows in them.
CREATE TYPE auth.aal_level AS ENUM ('aal1', 'aal2', 'aal3');
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
CREATE TABLE auth.sessions (id uuid PRIMARY KEY, user_id uuid NOT NULL REFERENCES auth.users(id),
                            aal auth.aal_level, refreshed_at timestamp, oauth_client_id uuid);
INSERT INTO auth.users VALUES ('22222222-2222-4222-8222-222222222222', 'a@example.com');
INSERT INTO auth.sessions (id, user_id) VALUES
    ('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222');
CREATE EXTENSION auth_sessions;
\echo :LAST_ERROR_SQLSTATE
-- Nothing changed: no extension, the existing tables and rows untouched,
-- and none of the extension's other tables created.
SELECT count(*) AS installed FROM pg_catalog.pg_extension WHERE extname = 'auth_sessions';
SELECT c.relname FROM pg_catalog.pg_class c
 WHERE c.relnamespace = 'auth'::regnamespace AND c.relkind IN ('r', 'S') ORDER BY 1;
SELECT * FROM auth.sessions;
-- Each object on its own is enough to refuse.
DROP TABLE auth.sessions, auth.users;
CREATE EXTENSION auth_sessions;
\echo :LAST_ERROR_SQLSTATE
DROP TYPE auth.aal_level;
CREATE TABLE auth.users (id uuid);
CREATE EXTENSION auth_sessions;
\echo :LAST_ERROR_SQLSTATE
DROP TABLE auth.users;
CREATE TABLE auth.sessions (id uuid);
CREATE EXTENSION auth_sessions;
\echo :LAST_ERROR_SQLSTATE
DROP TABLE auth.sessions;
CREATE TABLE auth.refresh_tokens (id bigserial);
CREATE EXTENSION auth_sessions;
\echo :LAST_ERROR_SQLSTATE
DROP TABLE auth.refresh_tokens;
CREATE TABLE auth.mfa_amr_claims (id uuid);
CREATE EXTENSION auth_sessions;
\echo :LAST_ERROR_SQLSTATE
DROP TABLE auth.mfa_amr_claims;
-- With the schema empty again, the install goes through.
CREATE EXTENSION auth_sessions;
SELECT count(*) AS tables FROM pg_catalog.pg_class c
 WHERE c.relnamespace = 'auth'::regnamespace AND c.relkind = 'r';
DROP EXTENSION auth_sessions;
DROP SCHEMA auth;
