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
-- Every form of PostgreSQL's grammar that changes a relation, its columns
-- or constraints, or a type (AlterTableStmt under each object kind it
-- accepts, RenameStmt, AlterObjectSchemaStmt, AlterOwnerStmt, AlterSeqStmt,
-- AlterEnumStmt, AlterTypeStmt), generated over every member table, the
-- member sequence, the member types and the tables' row types: each refused
-- with 0A000 by the guard, before PostgreSQL looks at whether it fits.
CREATE TEMP TABLE forms (form text, template text);
INSERT INTO forms VALUES
    ('ALTER TABLE ADD COLUMN',             'ALTER TABLE %1$s ADD COLUMN x integer'),
    ('ALTER TABLE ALTER COLUMN',           'ALTER TABLE %1$s ALTER COLUMN %2$I SET STATISTICS 10'),
    ('ALTER TABLE SET',                    'ALTER TABLE %1$s SET (fillfactor = 70)'),
    ('ALTER TABLE OWNER',                  'ALTER TABLE %1$s OWNER TO auth_migrator'),
    ('ALTER TABLE RENAME',                 'ALTER TABLE %1$s RENAME TO x'),
    ('ALTER TABLE RENAME COLUMN',          'ALTER TABLE %1$s RENAME COLUMN %2$I TO x'),
    ('ALTER TABLE RENAME CONSTRAINT',      'ALTER TABLE %1$s RENAME CONSTRAINT c TO x'),
    ('ALTER TABLE SET SCHEMA',             'ALTER TABLE %1$s SET SCHEMA archive'),
    ('ALTER VIEW RENAME COLUMN',           'ALTER VIEW %1$s RENAME COLUMN %2$I TO x'),
    ('ALTER VIEW RENAME',                  'ALTER VIEW %1$s RENAME TO x'),
    ('ALTER VIEW SET SCHEMA',              'ALTER VIEW %1$s SET SCHEMA archive'),
    ('ALTER VIEW OWNER',                   'ALTER VIEW %1$s OWNER TO auth_migrator'),
    ('ALTER VIEW ALTER COLUMN',            'ALTER VIEW %1$s ALTER COLUMN %2$I SET DEFAULT NULL'),
    ('ALTER MATERIALIZED VIEW RENAME COLUMN', 'ALTER MATERIALIZED VIEW %1$s RENAME COLUMN %2$I TO x'),
    ('ALTER MATERIALIZED VIEW RENAME',     'ALTER MATERIALIZED VIEW %1$s RENAME TO x'),
    ('ALTER MATERIALIZED VIEW SET SCHEMA', 'ALTER MATERIALIZED VIEW %1$s SET SCHEMA archive'),
    ('ALTER FOREIGN TABLE ADD COLUMN',     'ALTER FOREIGN TABLE %1$s ADD COLUMN x integer'),
    ('ALTER FOREIGN TABLE RENAME COLUMN',  'ALTER FOREIGN TABLE %1$s RENAME COLUMN %2$I TO x'),
    ('ALTER FOREIGN TABLE RENAME',         'ALTER FOREIGN TABLE %1$s RENAME TO x'),
    ('ALTER FOREIGN TABLE SET SCHEMA',     'ALTER FOREIGN TABLE %1$s SET SCHEMA archive'),
    ('ALTER INDEX RENAME',                 'ALTER INDEX %1$s RENAME TO x'),
    ('ALTER INDEX SET',                    'ALTER INDEX %1$s SET (fillfactor = 70)'),
    ('ALTER INDEX SET TABLESPACE',         'ALTER INDEX %1$s SET TABLESPACE pg_default'),
    ('ALTER SEQUENCE RENAME',              'ALTER SEQUENCE %1$s RENAME TO x'),
    ('ALTER SEQUENCE SET SCHEMA',          'ALTER SEQUENCE %1$s SET SCHEMA archive'),
    ('ALTER SEQUENCE OWNER',               'ALTER SEQUENCE %1$s OWNER TO auth_migrator'),
    ('ALTER SEQUENCE options',             'ALTER SEQUENCE %1$s INCREMENT BY 2'),
    ('ALTER TYPE (row type) RENAME',       'ALTER TYPE %1$s RENAME TO x'),
    ('ALTER TYPE (row type) ADD ATTRIBUTE', 'ALTER TYPE %1$s ADD ATTRIBUTE x integer'),
    ('ALTER TYPE (row type) RENAME ATTRIBUTE', 'ALTER TYPE %1$s RENAME ATTRIBUTE %2$I TO x'),
    ('ALTER TYPE (row type) SET SCHEMA',   'ALTER TYPE %1$s SET SCHEMA archive'),
    ('ALTER TYPE (row type) OWNER',        'ALTER TYPE %1$s OWNER TO auth_migrator');
CREATE TEMP TABLE type_forms (form text, template text);
INSERT INTO type_forms VALUES
    ('ALTER TYPE ADD VALUE',               'ALTER TYPE %1$s ADD VALUE ''aal4'''),
    ('ALTER TYPE RENAME VALUE',            'ALTER TYPE %1$s RENAME VALUE ''aal1'' TO ''x'''),
    ('ALTER TYPE RENAME',                  'ALTER TYPE %1$s RENAME TO x'),
    ('ALTER TYPE SET SCHEMA',              'ALTER TYPE %1$s SET SCHEMA archive'),
    ('ALTER TYPE OWNER',                   'ALTER TYPE %1$s OWNER TO auth_migrator'),
    ('ALTER TYPE SET',                     'ALTER TYPE %1$s SET (STORAGE = plain)'),
    ('ALTER TYPE ADD ATTRIBUTE',           'ALTER TYPE %1$s ADD ATTRIBUTE x integer'),
    ('ALTER TYPE RENAME ATTRIBUTE',        'ALTER TYPE %1$s RENAME ATTRIBUTE id TO x'),
    ('ALTER TYPE DROP ATTRIBUTE',          'ALTER TYPE %1$s DROP ATTRIBUTE tag');
CREATE TEMP TABLE outcomes (form text, target text, state text);
DO $$
DECLARE
    r record;
    state text;
BEGIN
    FOR r IN
        SELECT f.form, format(f.template, c.oid::regclass, a.attname) AS command, c.oid::regclass::text AS target
          FROM forms f, pg_class c
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = 1
         -- (a sequence has no row type)
         WHERE NOT (c.relkind = 'S' AND f.form LIKE '%row type%')
           AND c.oid IN (SELECT objid FROM pg_depend
                          WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'auth_sessions')
                            AND deptype = 'e' AND classid = 'pg_class'::regclass)
        UNION ALL
        SELECT f.form, format(f.template, t.oid::regtype), t.oid::regtype::text
          FROM type_forms f, pg_type t
         -- (an array type is named through its element type, and a table's
         -- row type, a member too from PostgreSQL 17 on, by the forms above)
         WHERE t.typcategory <> 'A'
           AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
           AND t.oid IN (SELECT objid FROM pg_depend
                          WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'auth_sessions')
                            AND deptype = 'e' AND classid = 'pg_type'::regclass)
    LOOP
        BEGIN
            EXECUTE r.command;
            state := 'accepted';
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
        END;
        INSERT INTO outcomes VALUES (r.form, r.target, state);
    END LOOP;
END $$;
SELECT state, count(*) AS commands, count(DISTINCT form) AS forms, count(DISTINCT target) AS targets FROM outcomes GROUP BY state;
SELECT string_agg(DISTINCT target, ', ' ORDER BY target) AS targets FROM outcomes;
SELECT form, target, state FROM outcomes WHERE state <> '0A000' ORDER BY 1, 2;
-- Nothing changed.
SELECT count(*) AS columns FROM pg_attribute WHERE attrelid = 'auth.sessions'::regclass AND attnum > 0 AND NOT attisdropped;
SELECT string_agg(enumlabel::text, ',' ORDER BY enumsortorder) AS aal_levels FROM pg_enum WHERE enumtypid = 'auth.aal_level'::regtype;
-- The same forms on a user's own objects are PostgreSQL's business.
CREATE TYPE public.mood AS ENUM ('ok');
ALTER TYPE public.mood ADD VALUE 'fine';
CREATE VIEW public.v AS SELECT 1 AS a;
ALTER VIEW public.v RENAME COLUMN a TO b;
CREATE TABLE public.t (a integer);
CREATE INDEX t_a ON public.t (a);
ALTER INDEX public.t_a RENAME TO t_a2;
DROP VIEW public.v;
DROP TABLE public.t;
DROP TYPE public.mood;
-- CREATE TABLE IF NOT EXISTS looks where the command would create the
-- table, as PostgreSQL does: with public first on the path, it is
-- public.users, not the member auth.users further down ...
SET search_path = public, auth;
CREATE TABLE IF NOT EXISTS users (id integer);
SELECT 'public.users'::regclass AS created;
DROP TABLE public.users;
-- ... while where auth is where it would go (first, or first that exists,
-- or named), it is refused.
SET search_path = auth, public;
CREATE TABLE IF NOT EXISTS users (id integer);
\echo :LAST_ERROR_SQLSTATE
SET search_path = no_such_schema, auth, public;
CREATE TABLE IF NOT EXISTS users (id integer);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE IF NOT EXISTS auth.sessions AS SELECT 1 AS id;
\echo :LAST_ERROR_SQLSTATE
RESET search_path;
-- Calling the guard outside an event trigger is refused.
SELECT auth.refuse_lost_ddl();
\echo :LAST_ERROR_SQLSTATE
ALTER SCHEMA auth OWNER TO postgres;
DROP EXTENSION auth_sessions;
DROP SCHEMA archive;
DROP SCHEMA auth;
DROP ROLE auth_migrator;
