-- Nothing a role other than a superuser can define (an operator or function
-- on the search path, a trigger, a trigger's WHEN clause) runs with another
-- role's rights because of the extension; the limit trigger acts with the
-- inserter's rights; the planner hook only touches the extension's own
-- functions. Every attack is tried in more than one shape.
\set HIDE_TABLEAM off
\set HIDE_TOAST_COMPRESSION off
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
SET client_min_messages = warning;
CREATE ROLE mallory;
CREATE ROLE svc BYPASSRLS;
CREATE ROLE clerk;
RESET client_min_messages;

-- The planner hook rewrites only the extension's own functions. Before the
-- extension exists here, a user's VOLATILE function that happens to be called
-- auth.session_id() runs once per row, as written, even with the library
-- loaded in this backend.
CREATE SCHEMA auth;
CREATE TABLE public.calls (n integer);
CREATE FUNCTION auth.session_id() RETURNS uuid LANGUAGE plpgsql VOLATILE AS $$
BEGIN INSERT INTO public.calls VALUES (1); RETURN NULL; END $$;
CREATE TABLE public.notes (id integer);
INSERT INTO public.notes VALUES (1), (2), (3);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY anonymous ON public.notes USING (auth.session_id() IS NULL);
GRANT SELECT ON public.notes TO mallory;
GRANT INSERT ON public.calls TO mallory;
GRANT USAGE ON SCHEMA auth TO mallory;
LOAD 'auth_sessions';
SET ROLE mallory;
SELECT count(*) AS visible FROM public.notes;
EXPLAIN (COSTS OFF) SELECT * FROM public.notes;
RESET ROLE;
SELECT count(*) AS calls_one_per_row FROM public.calls;
DROP TABLE public.notes, public.calls;
DROP FUNCTION auth.session_id();
DROP SCHEMA auth;

CREATE EXTENSION auth_sessions;
-- The planner recognizes the extension's functions by their code and
-- remembers what it found in each backend until pg_proc changes: the same
-- function (same OID) replaced by other code is no longer hoisted, in the
-- backend that had hoisted it; put back, it is hoisted again.
SELECT pg_get_functiondef('auth.session_id()'::regprocedure) AS original \gset
CREATE FUNCTION pg_temp.hoisted(query text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        IF line LIKE '%InitPlan%' THEN RETURN true; END IF;
    END LOOP;
    RETURN false;
END $$;
SELECT pg_temp.hoisted('SELECT auth.session_id() FROM generate_series(1, 3)');
CREATE TABLE public.calls (n integer);
CREATE OR REPLACE FUNCTION auth.session_id() RETURNS uuid LANGUAGE plpgsql VOLATILE AS $$
BEGIN INSERT INTO public.calls VALUES (1); RETURN NULL; END $$;
SELECT pg_temp.hoisted('SELECT auth.session_id() FROM generate_series(1, 3)');
SELECT count(*) AS rows FROM (SELECT auth.session_id() FROM generate_series(1, 3)) s;
SELECT count(*) AS calls_one_per_row FROM public.calls;
SELECT :'original' \gexec
SELECT pg_temp.hoisted('SELECT auth.session_id() FROM generate_series(1, 3)');
DROP TABLE public.calls;

-- No function of the extension is SECURITY DEFINER, and every one that can
-- have a SET clause pins search_path (the procedure, which commits, cannot:
-- it qualifies every name and operator instead).
SELECT p.oid::regprocedure AS routine
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'auth_sessions')
   AND (p.prosecdef OR (p.prokind <> 'p' AND p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')
                        AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)))
 ORDER BY p.oid::regprocedure::text;

INSERT INTO auth.users (id) VALUES
    ('00000000-0000-4000-8000-000000000001'), ('00000000-0000-4000-8000-000000000002');

-- 1. Operators and functions on the search path. mallory (not a superuser)
-- puts operators and functions that the extension's SQL would use if it
-- looked them up by the caller's path into a schema first on the path; each
-- records that it ran, and tries to make mallory a superuser when it runs as
-- one. A superuser then uses every function and the procedure with that path.
CREATE SCHEMA evil AUTHORIZATION mallory;
SET ROLE mallory;
CREATE TABLE evil.ran (what text, as_user text);
GRANT INSERT ON evil.ran TO PUBLIC;
CREATE FUNCTION evil.note(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evil.ran VALUES (what, current_user);
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE mallory SUPERUSER';
    END IF;
END $$;
CREATE FUNCTION evil.uuid_eq(a uuid, b uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.note('uuid ='); RETURN pg_catalog.uuid_eq(a, b); END $$;
CREATE OPERATOR evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = evil.uuid_eq);
CREATE FUNCTION evil.int84pl(a bigint, b integer) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.note('bigint + int'); RETURN pg_catalog.int84pl(a, b); END $$;
CREATE OPERATOR evil.+ (LEFTARG = bigint, RIGHTARG = integer, FUNCTION = evil.int84pl);
CREATE FUNCTION evil.tstz_lt(a timestamptz, b timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.note('timestamptz <'); RETURN pg_catalog.timestamptz_lt(a, b); END $$;
CREATE OPERATOR evil.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.tstz_lt);
CREATE FUNCTION evil.text_eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.note('text ='); RETURN pg_catalog.texteq(a, b); END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_eq);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.note('now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION evil.gen_random_uuid() RETURNS uuid LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.note('gen_random_uuid()'); RETURN pg_catalog.gen_random_uuid(); END $$;
RESET ROLE;
SET search_path = evil, pg_catalog;
SET auth_sessions.inactivity_timeout = '1h';
SELECT count(*) AS created FROM auth.create_session('00000000-0000-4000-8000-000000000001', tag => 'evil path');
INSERT INTO auth.sessions (id, user_id, created_at, not_after)
SELECT pg_catalog.gen_random_uuid(), '00000000-0000-4000-8000-000000000002', '2026-01-01', '2026-01-02'
  FROM pg_catalog.generate_series(1, 3);
INSERT INTO auth.refresh_tokens (token, session_id, revoked, updated_at)
SELECT 'evil-' OPERATOR(pg_catalog.||) s.id, s.id, true, '2026-01-01' FROM auth.sessions s;
SELECT auth.refresh_session(s.id) AS refreshed FROM auth.sessions s WHERE s.tag OPERATOR(pg_catalog.=) 'evil path';
SELECT auth.set_session_aal(s.id, 'aal2', NULL, 'totp') AS stepped_up FROM auth.sessions s WHERE s.tag OPERATOR(pg_catalog.=) 'evil path';
SELECT count(*) AS listed FROM auth.user_sessions('00000000-0000-4000-8000-000000000001');
SELECT auth.session_stats() OPERATOR(pg_catalog.->) 'total_sessions' AS total;
SELECT auth.prune_sessions(1) AS pruned, auth.prune_refresh_tokens(10, '1 hour') AS tokens;
SET auth_sessions.prune_busy_share = 1;
DO $$ DECLARE s bigint; t bigint; b integer; l interval; p interval;
BEGIN CALL auth.prune_expired_sessions(1000, '0', '24 hours', '10 seconds', s, t, b, l, p); END $$;
SELECT auth.revoke_user_sessions('00000000-0000-4000-8000-000000000001', 'others', pg_catalog.gen_random_uuid()) AS revoked;
RESET auth_sessions.prune_busy_share;
RESET auth_sessions.inactivity_timeout;
RESET search_path;
SELECT what, count(*) FROM evil.ran GROUP BY what ORDER BY what;
SELECT rolsuper AS mallory_is_superuser FROM pg_roles WHERE rolname = 'mallory';
DELETE FROM evil.ran;
DELETE FROM auth.sessions;

-- 2. Triggers. svc may insert, read and delete sessions, and may create
-- triggers on the three tables (GRANT ALL includes TRIGGER). Its trigger
-- function records whom it runs as, and tries to make svc a superuser.
GRANT USAGE ON SCHEMA auth TO svc, clerk;
GRANT ALL ON auth.sessions, auth.refresh_tokens, auth.mfa_amr_claims TO svc;
GRANT EXECUTE ON FUNCTION auth.prune_sessions(integer, interval) TO svc;
CREATE TABLE public.fired (trigger text, as_user text);
GRANT INSERT ON public.fired TO PUBLIC;
CREATE SCHEMA svc AUTHORIZATION svc;
SET ROLE svc;
CREATE FUNCTION svc.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.fired VALUES (TG_NAME, current_user);
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE svc SUPERUSER';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER svc_after_delete AFTER DELETE ON auth.sessions FOR EACH ROW EXECUTE FUNCTION svc.escalate();
RESET ROLE;
SET auth_sessions.max_per_user = 1;
-- a. svc logs one user in twice: the eviction is svc's own DELETE, so its
-- trigger runs as svc.
SET ROLE svc;
INSERT INTO auth.sessions (id, user_id, created_at) VALUES
    ('a0000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000001', now() - interval '1 minute');
INSERT INTO auth.sessions (id, user_id, created_at) VALUES
    ('a0000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001', now());
RESET ROLE;
SELECT id FROM auth.sessions ORDER BY id;
SELECT * FROM public.fired;
-- b. A superuser logging the same user in would evict as a superuser, and
-- fire svc's trigger so: refused (42501), and nothing is written.
INSERT INTO auth.sessions (id, user_id, created_at) VALUES
    ('a0000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000001', now());
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM auth.sessions ORDER BY id;
-- c. So is pruning as a superuser, with the trigger on any of the three
-- tables: the children's deletes run as their owner (a superuser here).
INSERT INTO auth.sessions (id, user_id, created_at, not_after) VALUES
    ('b0000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', now() - interval '1 day', now() - interval '1 hour');
INSERT INTO auth.refresh_tokens (token, session_id, revoked, updated_at) VALUES
    ('b1', 'b0000000-0000-4000-8000-000000000001', true, now() - interval '2 days');
SELECT auth.prune_sessions() AS pruned;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER svc_after_delete ON auth.sessions;
SET ROLE svc;
CREATE TRIGGER svc_token_delete BEFORE DELETE ON auth.refresh_tokens FOR EACH STATEMENT EXECUTE FUNCTION svc.escalate();
RESET ROLE;
SELECT auth.prune_sessions() AS pruned;
\echo :LAST_ERROR_SQLSTATE
SELECT auth.prune_refresh_tokens(10, '1 day') AS pruned_tokens;
\echo :LAST_ERROR_SQLSTATE
-- ... and by svc itself: the tokens' cascade would still run as their
-- owner, a superuser.
SET ROLE svc;
SELECT auth.prune_sessions() AS pruned;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP TRIGGER svc_token_delete ON auth.refresh_tokens;
-- d. A superuser's trigger function that svc put on the table with a WHEN
-- clause calling svc's function is refused the same way.
CREATE FUNCTION public.audit_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.fired VALUES (TG_NAME, current_user); RETURN NULL; END $$;
CREATE FUNCTION svc.pick(id uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.fired VALUES ('when clause', current_user);
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE svc SUPERUSER';
    END IF;
    RETURN true;
END $$;
ALTER FUNCTION svc.pick(uuid) OWNER TO svc;
SET ROLE svc;
CREATE TRIGGER svc_when AFTER DELETE ON auth.mfa_amr_claims FOR EACH ROW WHEN (svc.pick(OLD.session_id))
    EXECUTE FUNCTION public.audit_delete();
RESET ROLE;
SELECT auth.prune_sessions() AS pruned;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER svc_when ON auth.mfa_amr_claims;
-- e. What a superuser wrote, or a SECURITY DEFINER function (which runs as
-- its owner), is trusted: pruning as a superuser goes on and fires them.
CREATE TRIGGER audit AFTER DELETE ON auth.sessions FOR EACH ROW EXECUTE FUNCTION public.audit_delete();
SET ROLE svc;
CREATE FUNCTION svc.definer() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN INSERT INTO public.fired VALUES (TG_NAME, current_user); RETURN NULL; END $$;
CREATE TRIGGER svc_definer AFTER DELETE ON auth.refresh_tokens FOR EACH ROW EXECUTE FUNCTION svc.definer();
RESET ROLE;
SELECT auth.prune_sessions() AS pruned;
SELECT * FROM public.fired ORDER BY 1, 2;
DROP TRIGGER audit ON auth.sessions;
DROP TRIGGER svc_definer ON auth.refresh_tokens;
SELECT rolsuper AS svc_is_superuser FROM pg_roles WHERE rolname = 'svc';

-- f. The eviction is the inserter's own DELETE: a role that may insert but
-- not delete sessions (row security lets it insert and read) gets 42501 at
-- the limit, and nothing is written ...
GRANT SELECT, INSERT ON auth.sessions TO clerk;
CREATE POLICY clerk_inserts ON auth.sessions FOR INSERT TO clerk WITH CHECK (true);
CREATE POLICY clerk_reads ON auth.sessions FOR SELECT TO clerk USING (true);
SET ROLE clerk;
INSERT INTO auth.sessions (id, user_id, created_at) VALUES
    ('a0000000-0000-4000-8000-000000000004', '00000000-0000-4000-8000-000000000001', now());
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT id FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000001' ORDER BY id;
-- ... and so does one whose row security keeps it from deleting them.
GRANT DELETE ON auth.sessions TO clerk;
SET ROLE clerk;
INSERT INTO auth.sessions (id, user_id, created_at) VALUES
    ('a0000000-0000-4000-8000-000000000004', '00000000-0000-4000-8000-000000000001', now());
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT id FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000001' ORDER BY id;
-- With a policy that lets it delete them, it evicts.
CREATE POLICY clerk_deletes ON auth.sessions FOR DELETE TO clerk USING (true);
SET ROLE clerk;
INSERT INTO auth.sessions (id, user_id, created_at) VALUES
    ('a0000000-0000-4000-8000-000000000004', '00000000-0000-4000-8000-000000000001', now());
RESET ROLE;
SELECT id FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000001' ORDER BY id;
-- A rejected login tells the inserter the limit, not how many sessions the
-- user has.
SET auth_sessions.limit_strategy = 'reject';
SET ROLE clerk;
INSERT INTO auth.sessions (id, user_id, created_at) VALUES
    ('a0000000-0000-4000-8000-000000000005', '00000000-0000-4000-8000-000000000001', now());
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET auth_sessions.limit_strategy;
RESET auth_sessions.max_per_user;

SET client_min_messages = warning;
DROP EXTENSION auth_sessions;
DROP SCHEMA auth;
DROP SCHEMA evil CASCADE;
DROP SCHEMA svc CASCADE;
DROP TABLE public.fired;
DROP FUNCTION public.audit_delete();
DROP ROLE mallory;
DROP ROLE svc;
DROP ROLE clerk;
