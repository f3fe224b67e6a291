-- Revocation everywhere: auth.enforce_session_check() and its siblings put
-- one restrictive policy on tables whose policies never call the extension
-- (like Supabase's `auth.uid() = user_id`), and auth.session_check_coverage()
-- shows which objects a revoked session can still reach. Queries run as
-- PostgREST runs them: role authenticated, claims set for the transaction.
\set HIDE_TABLEAM off
\set HIDE_TOAST_COMPRESSION off
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET TimeZone = 'UTC';
CREATE EXTENSION auth_sessions;
CREATE SCHEMA app;
-- Supabase's auth.uid(), here under app: the sub claim.
CREATE FUNCTION app.uid() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid $$;
CREATE TABLE app.notes (id int PRIMARY KEY, user_id uuid NOT NULL, body text);
CREATE TABLE app.todos (id int PRIMARY KEY, user_id uuid NOT NULL, done boolean NOT NULL DEFAULT false);
CREATE TABLE app.settings (user_id uuid PRIMARY KEY, theme text);
INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001'), ('00000000-0000-4000-8000-000000000002');
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal) VALUES
    ('a0000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-000000000001', now(), now(), 'aal1'),
    ('b0000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-000000000001', now(), now(), 'aal1');
INSERT INTO app.notes SELECT n, CASE WHEN n % 2 = 0 THEN '00000000-0000-4000-8000-000000000001'::uuid
                                     ELSE '00000000-0000-4000-8000-000000000002'::uuid END, 'note ' || n
    FROM generate_series(1, 10) n;
INSERT INTO app.todos SELECT n, '00000000-0000-4000-8000-000000000001', false FROM generate_series(1, 4) n;
INSERT INTO app.settings VALUES ('00000000-0000-4000-8000-000000000001', 'dark');

-- Before the role exists, and before row security: refused, saying why.
ALTER TABLE app.notes ENABLE ROW LEVEL SECURITY;
SELECT auth.enforce_session_check('app.notes');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM auth.session_check_coverage();
\echo :LAST_ERROR_SQLSTATE
CREATE ROLE authenticated NOLOGIN;
SELECT auth.enforce_session_check('app.todos');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT auth.enforce_session_check('app.todos');
\set VERBOSITY terse
SELECT auth.enforce_session_check(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.enforce_session_check(2147483647::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.enforce_session_check('app.nope');
\echo :LAST_ERROR_SQLSTATE
CREATE VIEW app.notes_view AS SELECT * FROM app.notes;
SELECT auth.enforce_session_check('app.notes_view');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.enforce_session_check('app.uid');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.enforce_session_checks(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.enforce_session_checks('no_such_schema');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.drop_session_check(NULL);
\echo :LAST_ERROR_SQLSTATE

-- The application's own policies, as Supabase's docs write them.
ALTER TABLE app.todos ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON app.notes TO authenticated USING (user_id = app.uid()) WITH CHECK (user_id = app.uid());
CREATE POLICY own_todos ON app.todos TO authenticated USING (user_id = app.uid());
CREATE POLICY own_settings ON app.settings FOR SELECT TO authenticated USING (user_id = app.uid());
GRANT USAGE ON SCHEMA app TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON app.notes, app.todos TO authenticated;
GRANT SELECT ON app.settings TO authenticated;

-- What a request of session b sees, and then tries to change, in one
-- transaction, rolled back (so every run starts from the same rows).
CREATE FUNCTION pg_temp.as_session_b() RETURNS void LANGUAGE sql AS $$
    SELECT set_config('request.jwt.claims',
        '{"sub":"00000000-0000-4000-8000-000000000001","role":"authenticated","session_id":"b0000000-0000-4000-8000-00000000000b"}', true);
    SET LOCAL ROLE authenticated;
$$;
\set request 'SELECT pg_temp.as_session_b();'
-- Session b, still valid: its user's rows.
BEGIN;
:request
SELECT auth.current_session_is_valid(),
       (SELECT count(*) FROM app.notes) AS notes, (SELECT count(*) FROM app.todos) AS todos,
       (SELECT count(*) FROM app.settings) AS settings;
ROLLBACK;
-- Session b signs out (GoTrue deletes its row)...
DELETE FROM auth.sessions WHERE id = 'b0000000-0000-4000-8000-00000000000b';
-- ...and its token still reads and writes everything: no policy asks.
BEGIN;
:request
SELECT auth.current_session_is_valid(),
       (SELECT count(*) FROM app.notes) AS notes, (SELECT count(*) FROM app.todos) AS todos,
       (SELECT count(*) FROM app.settings) AS settings;
WITH u AS (UPDATE app.todos SET done = true RETURNING 1) SELECT count(*) AS updated FROM u;
ROLLBACK;

-- One call per schema: every table with row security gets the check.
SELECT auth.enforce_session_checks('app') AS added;
SELECT auth.enforce_session_checks('app') AS added_again;
SELECT auth.enforce_session_check('app.notes') AS added_to_notes;
SELECT c.relname, p.polname, p.polpermissive, p.polcmd, p.polroles::regrole[],
       pg_get_expr(p.polqual, p.polrelid) AS using, pg_get_expr(p.polwithcheck, p.polrelid) AS check
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
 WHERE p.polname = 'auth_sessions_valid_session' ORDER BY 1;

-- The revoked session now reads, inserts, updates and deletes nothing.
BEGIN;
:request
SELECT auth.current_session_is_valid(),
       (SELECT count(*) FROM app.notes) AS notes, (SELECT count(*) FROM app.todos) AS todos,
       (SELECT count(*) FROM app.settings) AS settings;
WITH u AS (UPDATE app.todos SET done = true RETURNING 1) SELECT count(*) AS updated FROM u;
WITH d AS (DELETE FROM app.notes RETURNING 1) SELECT count(*) AS deleted FROM d;
ROLLBACK;
BEGIN;
:request
INSERT INTO app.notes VALUES (100, '00000000-0000-4000-8000-000000000001', 'from a revoked session');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- The check keeps the table's own policy on its index: PostgreSQL applies a
-- restrictive policy's condition before the permissive ones, and then lets
-- no later condition that is not leakproof drive an index scan; the
-- extension moves a bare auth.current_session_is_valid() condition last
-- (the conditions are ANDed either way).
CREATE INDEX notes_user_id ON app.notes (user_id);
BEGIN;
:request
SET LOCAL enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM app.notes;
ROLLBACK;
-- The same policy written by hand (a restrictive policy of one's own) too;
-- one with more in it keeps PostgreSQL's order.
CREATE POLICY by_hand ON app.todos AS RESTRICTIVE TO authenticated USING (auth.current_session_is_valid());
CREATE POLICY more ON app.todos AS RESTRICTIVE TO authenticated USING (auth.current_session_is_valid() AND id > 0);
CREATE INDEX todos_user_id ON app.todos (user_id);
BEGIN;
:request
SET LOCAL enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM app.todos;
ROLLBACK;
DROP POLICY by_hand ON app.todos;
DROP POLICY more ON app.todos;
-- A valid session (a) sees exactly what it saw before, and may write.
CREATE FUNCTION pg_temp.as_session_a() RETURNS void LANGUAGE sql AS $$
    SELECT set_config('request.jwt.claims',
        '{"sub":"00000000-0000-4000-8000-000000000001","role":"authenticated","session_id":"a0000000-0000-4000-8000-00000000000a"}', true);
    SET LOCAL ROLE authenticated;
$$;
BEGIN;
SELECT pg_temp.as_session_a();
SELECT auth.current_session_is_valid(),
       (SELECT string_agg(id::text, ',' ORDER BY id) FROM app.notes) AS notes, (SELECT count(*) FROM app.todos) AS todos,
       (SELECT count(*) FROM app.settings) AS settings;
INSERT INTO app.notes VALUES (100, '00000000-0000-4000-8000-000000000001', 'from a valid session');
WITH u AS (UPDATE app.todos SET done = true RETURNING 1) SELECT count(*) AS updated FROM u;
WITH d AS (DELETE FROM app.notes WHERE id = 100 RETURNING 1) SELECT count(*) AS deleted FROM d;
ROLLBACK;
-- Without a session claim (a token from before sessions, or anon's): nothing.
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"00000000-0000-4000-8000-000000000001","role":"authenticated"}', true);
SET LOCAL ROLE authenticated;
SELECT (SELECT count(*) FROM app.notes) AS notes;
ROLLBACK;

-- Only the table's owner (or a member of its owner) may add or remove it.
CREATE ROLE session_checks_other;
GRANT USAGE ON SCHEMA app TO session_checks_other;
CREATE TABLE app.other (id int);
ALTER TABLE app.other ENABLE ROW LEVEL SECURITY;
SET ROLE session_checks_other;
SELECT auth.enforce_session_check('app.other');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.drop_session_check('app.notes');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.enforce_session_checks('app');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- (All or none: the failed schema-wide call added nothing.)
SELECT count(*) AS on_other FROM pg_policy WHERE polrelid = 'app.other'::regclass;
DROP TABLE app.other;

-- Removing it: true once, then false.
SELECT auth.drop_session_check('app.settings') AS dropped, auth.drop_session_check('app.settings') AS dropped_again;
SELECT auth.drop_session_check('app.notes_view') AS on_a_view;

-- The coverage report, on a schema seeded with each kind of gap.
CREATE SCHEMA gaps;
GRANT USAGE ON SCHEMA gaps TO authenticated;
CREATE ROLE gaps_owner NOLOGIN;
CREATE ROLE gaps_bypass NOLOGIN BYPASSRLS;
GRANT USAGE ON SCHEMA gaps, app TO gaps_owner, gaps_bypass;
CREATE TABLE gaps.open (id int, user_id uuid);                          -- no row security at all
CREATE TABLE gaps.unchecked (id int, user_id uuid);                     -- policies that never ask
CREATE TABLE gaps.restricted (id int, user_id uuid);                    -- enforce_session_check()
CREATE TABLE gaps.checked (id int, user_id uuid);                       -- every permissive policy asks
CREATE TABLE gaps.either (id int, user_id uuid);                        -- OR: not a check
CREATE TABLE gaps.negated (id int, user_id uuid);                       -- NOT: not a check
CREATE TABLE gaps.mfa (id int, user_id uuid);                           -- aal compared: a check
CREATE TABLE gaps.writes_unchecked (id int, user_id uuid);              -- reads checked, inserts not
CREATE TABLE gaps.closed (id int);                                      -- row security, no policy
CREATE TABLE gaps.forced (id int);                                      -- owned by authenticated
ALTER TABLE gaps.unchecked ENABLE ROW LEVEL SECURITY;
ALTER TABLE gaps.restricted ENABLE ROW LEVEL SECURITY;
ALTER TABLE gaps.checked ENABLE ROW LEVEL SECURITY;
ALTER TABLE gaps.either ENABLE ROW LEVEL SECURITY;
ALTER TABLE gaps.negated ENABLE ROW LEVEL SECURITY;
ALTER TABLE gaps.mfa ENABLE ROW LEVEL SECURITY;
ALTER TABLE gaps.writes_unchecked ENABLE ROW LEVEL SECURITY;
ALTER TABLE gaps.closed ENABLE ROW LEVEL SECURITY;
ALTER TABLE gaps.forced ENABLE ROW LEVEL SECURITY;
ALTER TABLE gaps.forced OWNER TO authenticated;
CREATE POLICY p ON gaps.unchecked TO authenticated USING (user_id = app.uid());
CREATE POLICY p ON gaps.restricted TO authenticated USING (user_id = app.uid());
SELECT auth.enforce_session_check('gaps.restricted');
CREATE POLICY p ON gaps.checked TO authenticated USING ((SELECT auth.current_session_is_valid()) AND user_id = app.uid());
CREATE POLICY q ON gaps.checked FOR INSERT TO PUBLIC WITH CHECK (auth.current_session_is_valid() IS TRUE);
CREATE POLICY p ON gaps.either TO authenticated USING (auth.current_session_is_valid() OR user_id = app.uid());
CREATE POLICY p ON gaps.negated TO authenticated USING (NOT auth.current_session_is_valid());
CREATE POLICY p ON gaps.mfa TO authenticated USING (auth.current_session_aal() >= 'aal2' AND user_id = app.uid());
CREATE POLICY p ON gaps.writes_unchecked FOR SELECT TO authenticated USING (auth.current_session_is_valid());
CREATE POLICY q ON gaps.writes_unchecked FOR INSERT TO authenticated WITH CHECK (user_id = app.uid());
-- A policy for another role does not count, either way.
CREATE POLICY other_role ON gaps.unchecked TO gaps_owner USING (true);
CREATE POLICY other_role ON gaps.either AS RESTRICTIVE TO gaps_owner USING (auth.current_session_is_valid());
GRANT SELECT ON gaps.open, gaps.unchecked, gaps.restricted, gaps.checked, gaps.either, gaps.negated, gaps.mfa,
    gaps.closed TO authenticated;
GRANT SELECT, INSERT ON gaps.writes_unchecked, gaps.checked TO authenticated;
GRANT SELECT ON gaps.checked, gaps.unchecked TO gaps_owner;
CREATE TABLE gaps.unreachable (id int);                                 -- authenticated has no privilege: not listed
-- Views: as a superuser (bypasses row security), as a role that does not,
-- reading a checked and an unchecked table, and as the caller.
CREATE VIEW gaps.as_superuser AS SELECT * FROM gaps.checked;
CREATE VIEW gaps.as_bypasser AS SELECT * FROM gaps.checked;
ALTER VIEW gaps.as_bypasser OWNER TO gaps_bypass;
CREATE VIEW gaps.as_owner_checked AS SELECT * FROM gaps.checked;
ALTER VIEW gaps.as_owner_checked OWNER TO gaps_owner;
CREATE VIEW gaps.as_owner_unchecked AS SELECT * FROM gaps.unchecked;
ALTER VIEW gaps.as_owner_unchecked OWNER TO gaps_owner;
CREATE VIEW gaps.as_caller WITH (security_invoker = true) AS SELECT * FROM gaps.unchecked;
CREATE MATERIALIZED VIEW gaps.snapshot AS SELECT * FROM gaps.checked;
GRANT SELECT ON gaps.as_superuser, gaps.as_bypasser, gaps.as_owner_checked, gaps.as_owner_unchecked, gaps.as_caller,
    gaps.snapshot TO authenticated;
-- Functions: one running as the caller, one as its owner; trigger functions
-- are not called by queries, and the extension's own are not listed.
CREATE FUNCTION gaps.count_notes() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM app.notes $$;
CREATE FUNCTION gaps.count_all_notes() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS $$ SELECT count(*) FROM app.notes $$;
CREATE FUNCTION gaps.stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
SELECT object, kind, covered, reason FROM auth.session_check_coverage()
 WHERE object LIKE 'gaps.%' OR object LIKE 'app.%' ORDER BY kind, object;

-- The rule reads the expression tree, not its text: a comment or a function
-- of the same name elsewhere changes nothing.
CREATE FUNCTION app.current_session_is_valid() RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE POLICY lookalike ON gaps.open TO authenticated USING (app.current_session_is_valid());
CREATE POLICY textual ON gaps.open TO authenticated USING ('auth.current_session_is_valid()' IS NOT NULL);
SELECT polname, auth.policy_checks_session(oid) FROM pg_policy WHERE polrelid = 'gaps.open'::regclass ORDER BY 1;
SELECT auth.policy_checks_session(0::oid) AS no_such_policy;

-- Opt-in for tables to come: in a schema named by the setting, a table gets
-- the check when a CREATE or ALTER TABLE leaves it with row security.
CREATE SCHEMA later;
SET auth_sessions.session_check_schemas = 'nothing, later';
CREATE TABLE later.t1 (id int);
ALTER TABLE later.t1 ENABLE ROW LEVEL SECURITY;
CREATE TABLE later.t2 (id int);
CREATE TABLE app.not_listed (id int);
ALTER TABLE app.not_listed ENABLE ROW LEVEL SECURITY;
-- (Not while row_security is off, as in a restore that brings its own.)
SET row_security = off;
CREATE TABLE later.t3 (id int);
ALTER TABLE later.t3 ENABLE ROW LEVEL SECURITY;
RESET row_security;
RESET auth_sessions.session_check_schemas;
CREATE TABLE later.t4 (id int);
ALTER TABLE later.t4 ENABLE ROW LEVEL SECURITY;
SELECT c.oid::regclass AS table, count(p.oid) AS checks
  FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = 'auth_sessions_valid_session'
 WHERE c.relname IN ('t1', 't2', 't3', 't4', 'not_listed') GROUP BY c.oid ORDER BY c.relname;

-- The order holds from a connection's first statement, whose planning loads
-- the library.
\c -
BEGIN;
SELECT set_config('request.jwt.claims',
    '{"sub":"00000000-0000-4000-8000-000000000001","role":"authenticated","session_id":"b0000000-0000-4000-8000-00000000000b"}', true) IS NULL AS claims_set;
SET LOCAL ROLE authenticated;
SET LOCAL enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM app.notes;
ROLLBACK;
SET TimeZone = 'UTC';
-- The policies depend on the extension's function: DROP EXTENSION names them.
DROP EXTENSION auth_sessions;
\echo :LAST_ERROR_SQLSTATE
SET client_min_messages = warning;
DROP SCHEMA later, gaps, app CASCADE;
RESET client_min_messages;
DROP EXTENSION auth_sessions;
DROP SCHEMA auth;
DROP ROLE session_checks_other, gaps_owner, gaps_bypass;
DROP OWNED BY authenticated;
DROP ROLE authenticated;
