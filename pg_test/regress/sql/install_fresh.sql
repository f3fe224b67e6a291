-- A fresh install into a database with no "auth" schema creates the schema,
-- the type and the four tables exactly as GoTrue has them.
-- pg_regress runs psql with these on; the seed was captured with them off.
\set HIDE_TABLEAM off
\set HIDE_TOAST_COMPRESSION off
\set SHOW_CONTEXT never
SELECT count(*) AS auth_schemas FROM pg_catalog.pg_namespace WHERE nspname = 'auth';
CREATE EXTENSION auth_sessions;
-- Must equal shared/seed/auth.sessions.describe.md line for line, plus the
-- extension's own trigger (the per-user limit)
-- (pg_test/scenarios/check_seed.sh compares the two).
\d+ auth.sessions
\d+ auth.refresh_tokens
\d+ auth.mfa_amr_claims
\d+ auth.users
-- The enum's order matters: GoTrue deletes sessions WHERE aal < 'aal2'.
SELECT enumlabel, enumsortorder FROM pg_catalog.pg_enum
 WHERE enumtypid = 'auth.aal_level'::regtype ORDER BY enumsortorder;
SELECT 'aal1'::auth.aal_level < 'aal2' AS aal1_lt_aal2, 'aal2'::auth.aal_level < 'aal3' AS aal2_lt_aal3;
-- Every object is a member of the extension.
SELECT pg_catalog.pg_describe_object(classid, objid, objsubid) AS member
  FROM pg_catalog.pg_depend
 WHERE refclassid = 'pg_catalog.pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'auth_sessions')
 ORDER BY 1;
-- Every table, and the refresh_tokens sequence, keeps its rows in pg_dump.
SELECT c::regclass AS dumped, cond
  FROM pg_catalog.pg_extension e,
       unnest(e.extconfig, e.extcondition) AS x(c, cond)
 WHERE e.extname = 'auth_sessions'
 ORDER BY c::regclass::text;
-- No privilege on these tables goes to PUBLIC.
SELECT c.relname, a.privilege_type
  FROM pg_catalog.pg_class c, aclexplode(c.relacl) a
 WHERE c.relnamespace = 'auth'::regnamespace AND a.grantee = 0;
CREATE ROLE auth_sessions_nobody;
SELECT rel, has_table_privilege('auth_sessions_nobody', rel, 'SELECT') AS can_select,
       has_table_privilege('auth_sessions_nobody', rel, 'INSERT,UPDATE,DELETE') AS can_write
  FROM unnest(ARRAY['auth.users', 'auth.sessions', 'auth.refresh_tokens', 'auth.mfa_amr_claims']) AS rel;
SET ROLE auth_sessions_nobody;
SELECT count(*) FROM auth.sessions;
RESET ROLE;
-- Rows: the foreign keys hold, and deleting a user cascades to everything below.
INSERT INTO auth.sessions (id, user_id) VALUES
    ('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO auth.users (id) VALUES ('22222222-2222-4222-8222-222222222222');
INSERT INTO auth.sessions (id, user_id) VALUES
    ('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222');
INSERT INTO auth.refresh_tokens (token, user_id, session_id)
VALUES ('tok', '22222222-2222-4222-8222-222222222222', '11111111-1111-4111-8111-111111111111')
RETURNING id;
INSERT INTO auth.mfa_amr_claims (session_id, created_at, updated_at, authentication_method, id)
VALUES ('11111111-1111-4111-8111-111111111111', now(), now(), 'password', '33333333-3333-4333-8333-333333333333');
INSERT INTO auth.mfa_amr_claims (session_id, created_at, updated_at, authentication_method, id)
VALUES ('11111111-1111-4111-8111-111111111111', now(), now(), 'password', '44444444-4444-4444-8444-444444444444');
\echo :LAST_ERROR_SQLSTATE
DELETE FROM auth.users;
SELECT (SELECT count(*) FROM auth.sessions) AS sessions,
       (SELECT count(*) FROM auth.refresh_tokens) AS refresh_tokens,
       (SELECT count(*) FROM auth.mfa_amr_claims) AS mfa_amr_claims;
-- One API for both modes: no function of the extension names GoTrue's type
-- or tables in its signature (arguments, results, OUT columns); the only
-- type outside pg_catalog is the extension's own auth.created_session.
SELECT DISTINCT t.oid::regtype AS non_catalog_type
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
       AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'auth_sessions'),
       unnest(p.proargtypes::oid[] || coalesce(p.proallargtypes, '{}') || p.prorettype) AS a(type_oid)
  JOIN pg_catalog.pg_type t ON t.oid = a.type_oid
 WHERE t.typnamespace <> 'pg_catalog'::regnamespace;
-- DROP EXTENSION refuses while objects of yours depend on its tables ...
CREATE TABLE public.profiles (id uuid PRIMARY KEY REFERENCES auth.users(id));
DROP EXTENSION auth_sessions;
\echo :LAST_ERROR_SQLSTATE
DROP TABLE public.profiles;
-- ... and otherwise drops the type and the tables with their rows. The auth
-- schema stays: CREATE EXTENSION created it for the extension to live in, but
-- it is not one of the extension's objects.
INSERT INTO auth.users (id) VALUES ('22222222-2222-4222-8222-222222222222');
DROP EXTENSION auth_sessions;
SELECT to_regclass('auth.sessions') AS sessions, to_regclass('auth.users') AS users,
       to_regtype('auth.aal_level') AS aal_level;
SELECT count(*) AS auth_schemas FROM pg_catalog.pg_namespace WHERE nspname = 'auth';
DROP SCHEMA auth;
DROP ROLE auth_sessions_nobody;
