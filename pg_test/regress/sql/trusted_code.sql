-- The superuser guard, by construction (src/trusted_code.rs): before a
-- statement of the extension runs as a superuser, everything it can run is
-- shown to be a superuser's code: trigger functions and WHEN clauses walked
-- whole (domains, arrays, row types, casts, operators, ...), on auth.sessions
-- and on every table its cascades reach. The families below are generated,
-- each tried through the three ways the extension deletes sessions as a
-- superuser: a logout from the devices page (as the table's owner), pruning
-- and an eviction at the per-user limit.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE ROLE tguy LOGIN;
RESET client_min_messages;
CREATE EXTENSION auth_sessions;
CREATE SCHEMA tguy AUTHORIZATION tguy;
-- tguy's code counts the times it runs as a superuser, and the superuser's
-- own the times it runs, in sequences: a count survives the rollback of what
-- it ran in.
CREATE SEQUENCE public.as_superuser;
CREATE SEQUENCE public.trusted_calls;
GRANT USAGE ON SEQUENCE public.as_superuser TO PUBLIC;
CREATE VIEW public.escalations AS
    SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS tguy_code_as_superuser FROM public.as_superuser;
GRANT TRIGGER ON auth.sessions TO tguy;
INSERT INTO auth.users VALUES ('00000000-0000-4000-8000-000000000001'), ('00000000-0000-4000-8000-000000000002');
-- a1: the caller's current session; a2: the one it logs out; p1: prunable;
-- e1: the one an eviction would delete.
INSERT INTO auth.sessions (id, user_id, created_at, not_after) VALUES
    ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-000000000001', now(), NULL),
    ('00000000-0000-4000-8000-0000000000a2', '00000000-0000-4000-8000-000000000001', now(), NULL),
    ('00000000-0000-4000-8000-0000000000b1', '00000000-0000-4000-8000-000000000001', now() - interval '2 days', now() - interval '1 day'),
    ('00000000-0000-4000-8000-0000000000e1', '00000000-0000-4000-8000-000000000002', now() - interval '1 hour', NULL);

-- 1. The reported escalation: tguy, with only TRIGGER on auth.sessions, puts
-- a trigger whose WHEN clause casts to tguy's domain, whose CHECK calls
-- tguy's function, and logs a session out. Refused; nothing ran as superuser.
SET ROLE tguy;
CREATE FUNCTION tguy.evil(uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        PERFORM pg_catalog.nextval('public.as_superuser');
    END IF;
    RETURN true;
END $$;
CREATE DOMAIN tguy.d AS uuid CHECK (tguy.evil(VALUE));
CREATE TRIGGER zz BEFORE DELETE ON auth.sessions FOR EACH ROW
    WHEN (OLD.id::tguy.d IS NOT NULL) EXECUTE FUNCTION suppress_redundant_updates_trigger();
SELECT set_config('request.jwt.claims', '{"session_id":"00000000-0000-4000-8000-0000000000a1"}', false) IS NOT NULL AS claims_set;
SELECT auth.revoke_my_session('00000000-0000-4000-8000-0000000000a2');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT auth.prune_sessions() AS pruned;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS sessions, (SELECT tguy_code_as_superuser FROM public.escalations) FROM auth.sessions;
DROP TRIGGER zz ON auth.sessions;

-- The three ways, each in a subtransaction rolled back at its end (whether
-- it went through or not, nothing is kept): the SQLSTATE it ended with,
-- P0001 when it went through.
CREATE FUNCTION public.attempt(way text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text;
BEGIN
    BEGIN
        IF way = 'logout' THEN
            PERFORM set_config('request.jwt.claims', '{"session_id":"00000000-0000-4000-8000-0000000000a1"}', true);
            IF NOT auth.revoke_my_session('00000000-0000-4000-8000-0000000000a2') THEN
                RAISE EXCEPTION 'not revoked' USING ERRCODE = 'P0002';
            END IF;
        ELSIF way = 'prune' THEN
            IF auth.prune_sessions() <> 1 THEN
                RAISE EXCEPTION 'not pruned' USING ERRCODE = 'P0002';
            END IF;
        ELSE
            PERFORM set_config('auth_sessions.max_per_user', '1', true);
            INSERT INTO auth.sessions (id, user_id, created_at)
            VALUES ('00000000-0000-4000-8000-0000000000e2', '00000000-0000-4000-8000-000000000002', now());
            IF EXISTS (SELECT FROM auth.sessions WHERE id = '00000000-0000-4000-8000-0000000000e1') THEN
                RAISE EXCEPTION 'not evicted' USING ERRCODE = 'P0002';
            END IF;
        END IF;
        RAISE EXCEPTION 'went through' USING ERRCODE = 'P0001';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
        RETURN state;
    END;
END $$;
SELECT way, public.attempt(way) AS without_triggers FROM unnest(ARRAY['logout', 'prune', 'evict']) AS way;

-- 2. A generated family of WHEN clauses: each way of reaching code (a
-- domain, a domain over a domain, an array of a domain, a domain over an
-- array of a domain, a row type with a domain column, a cast, an operator,
-- an I/O conversion into a domain, GREATEST over a domain) inside each shape
-- of expression (IS NOT NULL, CASE, a subscript, a row constructor,
-- COALESCE, NOT). Once with tguy's objects, which call tguy.evil: every one
-- refused by every way. Once with the same objects owned by a superuser:
-- every one goes through.
-- The same objects in both schemas, each created by the schema's owner
-- (trusty.evil, a superuser's, counts its calls instead).
CREATE SCHEMA trusty;
CREATE FUNCTION trusty.evil(uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_catalog.nextval('public.trusted_calls'); RETURN true; END $$;
CREATE DOMAIN trusty.d AS uuid CHECK (trusty.evil(VALUE));
DO $$
DECLARE
    s text;
BEGIN
    FOREACH s IN ARRAY ARRAY['tguy', 'trusty'] LOOP
        IF s = 'tguy' THEN SET LOCAL ROLE tguy; END IF;
        EXECUTE replace($ddl$
            CREATE DOMAIN S.dd AS S.d;
            CREATE DOMAIN S.ad AS S.d[];
            CREATE DOMAIN S.dt AS text CHECK (S.evil(NULL::uuid));
            CREATE TYPE S.rowd AS (v S.d);
            CREATE TYPE S.box AS (u uuid);
            CREATE FUNCTION S.to_box(uuid) RETURNS S.box LANGUAGE plpgsql AS 'BEGIN PERFORM S.evil($1); RETURN ROW($1)::S.box; END';
            CREATE CAST (uuid AS S.box) WITH FUNCTION S.to_box(uuid);
            CREATE FUNCTION S.same(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS 'BEGIN RETURN S.evil($1) AND $1 = $2; END';
            CREATE OPERATOR S.=== (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = S.same);
        $ddl$, 'S.', s || '.');
        RESET ROLE;
    END LOOP;
END $$;
GRANT USAGE ON SCHEMA trusty TO tguy;
CREATE FUNCTION public.keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;

CREATE TABLE public.family (owner text, reach text, shape text, clause text, way text, state text);
CREATE TEMP TABLE reaches (reach text, expr text);
INSERT INTO reaches VALUES
    ('domain',                 'OLD.id::S.d'),
    ('domain over domain',     'OLD.id::S.dd'),
    ('array of domain',        'ARRAY[OLD.id]::S.d[]'),
    ('domain over array',      'ARRAY[OLD.id]::S.ad'),
    ('row type',               'ROW(OLD.id)::S.rowd'),
    ('cast',                   'OLD.id::S.box'),
    ('operator',               '(OLD.id OPERATOR(S.===) OLD.id)'),
    ('I/O into domain',        'OLD.id::text::S.d'),
    ('GREATEST',               'GREATEST(OLD.id::text::S.dt, ''x'')');
CREATE TEMP TABLE shapes (shape text, template text);
INSERT INTO shapes VALUES
    ('IS NOT NULL', '(%s) IS NOT NULL'),
    ('CASE',        'CASE WHEN OLD.id IS NULL THEN false ELSE (%s) IS NOT NULL END'),
    ('subscript',   '(ARRAY[%s])[1] IS NOT NULL'),
    ('row',         'ROW(%s, 1) IS NOT NULL'),
    ('COALESCE',    'COALESCE(%s, %s) IS NOT NULL'),
    ('NOT',         'NOT ((%s) IS NULL)');
DO $$
DECLARE
    r record;
    clause text;
    way text;
BEGIN
    FOR r IN SELECT o.owner, e.reach, s.shape, s.template, replace(e.expr, 'S.', o.owner || '.') AS expr
               FROM unnest(ARRAY['tguy', 'trusty']) AS o(owner), reaches e, shapes s
              ORDER BY 1, 2, 3
    LOOP
        clause := format(r.template, r.expr, r.expr);
        SET LOCAL client_min_messages = error;
        SET LOCAL ROLE tguy;
        EXECUTE format('CREATE TRIGGER zz BEFORE DELETE ON auth.sessions FOR EACH ROW WHEN (%s) EXECUTE FUNCTION public.keep()', clause);
        RESET ROLE;
        FOREACH way IN ARRAY ARRAY['logout', 'prune', 'evict'] LOOP
            INSERT INTO public.family VALUES (r.owner, r.reach, r.shape, clause, way, public.attempt(way));
        END LOOP;
        DROP TRIGGER zz ON auth.sessions;
    END LOOP;
END $$;
SELECT owner, way, state, count(*) AS clauses FROM public.family GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
-- Not one of tguy's went through, and tguy's code never ran as a superuser.
SELECT reach, shape, way, state FROM public.family WHERE owner = 'tguy' AND state <> '42501' ORDER BY 1, 2, 3;
SELECT * FROM public.escalations;
SELECT is_called AS trusted_code_ran FROM public.trusted_calls;
-- The error names the trigger and the way to the function.
SET ROLE tguy;
CREATE TRIGGER zz BEFORE DELETE ON auth.sessions FOR EACH ROW
    WHEN ((ARRAY[OLD.id]::tguy.ad) IS NOT NULL) EXECUTE FUNCTION public.keep();
RESET ROLE;
SELECT auth.prune_sessions();
DROP TRIGGER zz ON auth.sessions;
-- Trusted WHEN clauses over builtins go through.
CREATE TRIGGER zz BEFORE DELETE ON auth.sessions FOR EACH ROW
    WHEN (OLD.id IS NOT NULL AND OLD.id::text <> '' AND GREATEST(OLD.created_at, now()) IS NOT NULL) EXECUTE FUNCTION public.keep();
SELECT way, public.attempt(way) AS builtin_when_clause FROM unnest(ARRAY['logout', 'prune', 'evict']) AS way;
DROP TRIGGER zz ON auth.sessions;

-- 3. A generated chain of tables referencing the sessions, each link owned by
-- a superuser: chain_1 references auth.sessions, chain_2 chain_1 (both ON
-- DELETE CASCADE), chain_3 chain_2 ON DELETE SET NULL (an update), chain_4
-- chain_3 ON DELETE CASCADE (never reached: nothing of chain_3 is deleted),
-- and the partitioned chain_p references chain_2, with its partition
-- chain_p1. tguy, with TRIGGER on each, puts on each in turn a BEFORE
-- trigger of its own function (it runs as the table's owner, in the
-- cascade), then an AFTER trigger of a superuser's function with a WHEN
-- clause through tguy's domain (it runs as the statement's role).
CREATE FUNCTION tguy.note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        PERFORM pg_catalog.nextval('public.as_superuser');
    END IF;
    RETURN NULL;
END $$;
ALTER FUNCTION tguy.note() OWNER TO tguy;
CREATE TABLE public.chain_1 (id integer PRIMARY KEY, session_id uuid REFERENCES auth.sessions ON DELETE CASCADE);
DO $$
BEGIN
    FOR i IN 2 .. 4 LOOP
        EXECUTE format('CREATE TABLE public.chain_%s (id integer PRIMARY KEY, parent integer REFERENCES public.chain_%s ON DELETE %s)',
                       i, i - 1, CASE i WHEN 3 THEN 'SET NULL' ELSE 'CASCADE' END);
    END LOOP;
END $$;
CREATE TABLE public.chain_p (id integer, parent integer REFERENCES public.chain_2 ON DELETE CASCADE) PARTITION BY LIST (id);
CREATE TABLE public.chain_p1 PARTITION OF public.chain_p FOR VALUES IN (1);
INSERT INTO public.chain_1 VALUES (1, '00000000-0000-4000-8000-0000000000a2'), (2, '00000000-0000-4000-8000-0000000000b1'),
                                  (3, '00000000-0000-4000-8000-0000000000e1');
INSERT INTO public.chain_2 SELECT id, id FROM public.chain_1;
INSERT INTO public.chain_3 SELECT id, id FROM public.chain_2;
INSERT INTO public.chain_4 SELECT id, id FROM public.chain_3;
INSERT INTO public.chain_p VALUES (1, 1);
GRANT TRIGGER ON public.chain_1, public.chain_2, public.chain_3, public.chain_4, public.chain_p1 TO tguy;
CREATE TABLE public.chain (link text, kind text, way text, state text);
DO $$
DECLARE
    link text;
    kind text;
    event text;
    way text;
BEGIN
    FOREACH link IN ARRAY ARRAY['chain_1', 'chain_2', 'chain_3', 'chain_4', 'chain_p1'] LOOP
        event := CASE link WHEN 'chain_3' THEN 'UPDATE' ELSE 'DELETE' END;
        FOREACH kind IN ARRAY ARRAY['function', 'WHEN clause'] LOOP
            SET LOCAL ROLE tguy;
            IF kind = 'function' THEN
                EXECUTE format('CREATE TRIGGER zz BEFORE %s ON public.%I FOR EACH ROW EXECUTE FUNCTION tguy.note()', event, link);
            ELSE
                EXECUTE format('CREATE TRIGGER zz AFTER %s ON public.%I FOR EACH ROW WHEN (OLD.id::text::tguy.dt IS NOT NULL) EXECUTE FUNCTION public.keep()', event, link);
            END IF;
            RESET ROLE;
            FOREACH way IN ARRAY ARRAY['logout', 'prune', 'evict'] LOOP
                INSERT INTO public.chain VALUES (link, kind, way, public.attempt(way));
            END LOOP;
            EXECUTE format('DROP TRIGGER zz ON public.%I', link);
        END LOOP;
    END LOOP;
END $$;
SELECT link, kind, string_agg(way || ' ' || state, ', ' ORDER BY way) AS outcome FROM public.chain GROUP BY 1, 2 ORDER BY 1, 2;
SELECT * FROM public.escalations;

-- 1b as reported: a superuser's notes table, a BEFORE DELETE trigger put on
-- it by a role with TRIGGER on it; a logout by anyone is refused.
CREATE TABLE public.session_notes (session_id uuid REFERENCES auth.sessions ON DELETE CASCADE, note text);
INSERT INTO public.session_notes VALUES ('00000000-0000-4000-8000-0000000000a2', 'n');
GRANT TRIGGER ON public.session_notes TO tguy;
SET ROLE tguy;
CREATE TRIGGER zz BEFORE DELETE ON public.session_notes FOR EACH ROW EXECUTE FUNCTION tguy.note();
SELECT auth.revoke_my_session('00000000-0000-4000-8000-0000000000a2');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP TRIGGER zz ON public.session_notes;

-- A disabled trigger never fires, and blocks nothing; one enabled for
-- replicas only is checked (pruning deletes some rows as a replica would).
SET ROLE tguy;
CREATE TRIGGER zz BEFORE DELETE ON public.session_notes FOR EACH ROW EXECUTE FUNCTION tguy.note();
RESET ROLE;
ALTER TABLE public.session_notes DISABLE TRIGGER zz;
SELECT way, public.attempt(way) AS disabled_trigger FROM unnest(ARRAY['logout', 'prune', 'evict']) AS way;
ALTER TABLE public.session_notes ENABLE REPLICA TRIGGER zz;
SELECT way, public.attempt(way) AS replica_trigger FROM unnest(ARRAY['logout', 'prune', 'evict']) AS way;
DROP TRIGGER zz ON public.session_notes;

-- A rule on a table the cascade reaches is refused (rules are not walked).
CREATE RULE keep_notes AS ON DELETE TO public.session_notes DO INSTEAD NOTHING;
SELECT auth.prune_sessions();
\echo :LAST_ERROR_SQLSTATE
DROP RULE keep_notes ON public.session_notes;

-- Where the referencing table's owner is not a superuser, the cascade runs
-- as that owner, and so do the BEFORE triggers it fires: tguy's own table
-- with tguy's BEFORE trigger is no escalation, and goes through ...
GRANT REFERENCES ON auth.sessions TO tguy;
SET ROLE tguy;
CREATE TABLE tguy.own (session_id uuid REFERENCES auth.sessions ON DELETE CASCADE);
INSERT INTO tguy.own VALUES ('00000000-0000-4000-8000-0000000000a2'), ('00000000-0000-4000-8000-0000000000b1'),
                            ('00000000-0000-4000-8000-0000000000e1');
CREATE TRIGGER zz BEFORE DELETE ON tguy.own FOR EACH ROW EXECUTE FUNCTION tguy.note();
RESET ROLE;
SELECT way, public.attempt(way) AS tguy_owns_the_table FROM unnest(ARRAY['logout', 'prune', 'evict']) AS way;
-- ... but an AFTER trigger fires with the statement's own triggers, as the
-- statement's role: a superuser here, so it is refused; and so is a
-- deferred constraint trigger, which fires at commit.
SET ROLE tguy;
DROP TRIGGER zz ON tguy.own;
CREATE TRIGGER zz AFTER DELETE ON tguy.own FOR EACH ROW EXECUTE FUNCTION tguy.note();
RESET ROLE;
SELECT way, public.attempt(way) AS after_trigger FROM unnest(ARRAY['logout', 'prune', 'evict']) AS way;
SET ROLE tguy;
DROP TRIGGER zz ON tguy.own;
CREATE CONSTRAINT TRIGGER zz AFTER DELETE ON tguy.own DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tguy.note();
RESET ROLE;
SELECT way, public.attempt(way) AS deferred_trigger FROM unnest(ARRAY['logout', 'prune', 'evict']) AS way;
DROP TABLE tguy.own;

-- With nothing untrusted left, every way goes through, cascades included,
-- and tguy's code never ran as a superuser.
SELECT way, public.attempt(way) AS nothing_untrusted FROM unnest(ARRAY['logout', 'prune', 'evict']) AS way;
SELECT auth.revoke_my_session('00000000-0000-4000-8000-0000000000a2') AS revoked;
SELECT (SELECT count(*) FROM public.chain_1) AS chain_1, (SELECT count(*) FROM public.chain_3 WHERE parent IS NULL) AS chain_3_set_null,
       (SELECT count(*) FROM public.chain_p) AS chain_p, (SELECT count(*) FROM public.session_notes) AS notes;
SELECT * FROM public.escalations;
SELECT rolsuper AS tguy_is_superuser FROM pg_roles WHERE rolname = 'tguy';

RESET request.jwt.claims;
SET client_min_messages = warning;
DROP TABLE public.chain_p, public.chain_4, public.chain_3, public.chain_2, public.chain_1, public.session_notes,
           public.family, public.chain;
DROP VIEW public.escalations;
DROP SEQUENCE public.as_superuser, public.trusted_calls;
DROP FUNCTION public.attempt(text), public.keep();
DROP EXTENSION auth_sessions;
DROP SCHEMA auth;
DROP SCHEMA tguy CASCADE;
DROP SCHEMA trusty CASCADE;
DROP ROLE tguy;
