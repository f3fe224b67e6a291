-- Installing into a database whose "auth" schema already exists works when the
-- schema has none of the extension's objects (pg_dump's restore hits exactly
-- this: it creates the schema, then runs CREATE EXTENSION).
-- pg_regress runs psql with these on; the seed was captured with them off.
\set HIDE_TABLEAM off
\set HIDE_TOAST_COMPRESSION off
\set SHOW_CONTEXT never
CREATE SCHEMA auth;
-- Unrelated objects in the schema (Supabase's helper functions, say) are fine.
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
CREATE EXTENSION auth_sessions;
SELECT extname, extnamespace::regnamespace AS schema, extrelocatable
  FROM pg_catalog.pg_extension WHERE extname = 'auth_sessions';
SELECT c.relname, c.relrowsecurity
  FROM pg_catalog.pg_class c
 WHERE c.relnamespace = 'auth'::regnamespace AND c.relkind = 'r'
 ORDER BY 1;
-- Asking for another schema is refused (the extension is not relocatable).
DROP EXTENSION auth_sessions;
CREATE EXTENSION auth_sessions SCHEMA public;
\echo :LAST_ERROR_SQLSTATE
-- DROP EXTENSION leaves the schema and what else was in it.
CREATE EXTENSION auth_sessions;
DROP EXTENSION auth_sessions;
SELECT p.oid::regprocedure AS left_in_auth FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'auth'::regnamespace;
DROP SCHEMA auth CASCADE;
