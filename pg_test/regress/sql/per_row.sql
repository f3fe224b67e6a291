-- auth.session_is_valid(id) and auth.session_validity(id) called once per
-- row keep their index scan open across a statement's calls (kept_scan.rs).
-- Whatever ends the statement (its end, an error, a subtransaction's
-- rollback or commit, a transaction's commit in a procedure, a cursor kept
-- across fetches or held past its transaction), the answers are those of a
-- fresh lookup and nothing is leaked: a leaked buffer pin, relation or tuple
-- descriptor would print a WARNING here.
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
CREATE EXTENSION auth_sessions;
INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001');
INSERT INTO auth.sessions (id, user_id, not_after)
SELECT ('a0000000-0000-4000-8000-00000000000' || n)::uuid, '00000000-0000-4000-8000-000000000001',
       CASE WHEN n = 4 THEN now() - interval '1 hour' END
  FROM generate_series(1, 6) n;
-- Six sessions (the fourth past not_after), an unknown id and a NULL.
CREATE TABLE public.ids (n int PRIMARY KEY, id uuid);
INSERT INTO public.ids SELECT n, ('a0000000-0000-4000-8000-00000000000' || n)::uuid FROM generate_series(1, 6) n;
INSERT INTO public.ids VALUES (7, 'f0000000-0000-4000-8000-00000000000f'), (8, NULL);

-- One statement, many calls.
SELECT n, auth.session_is_valid(id), auth.session_validity(id) FROM public.ids ORDER BY n;
SELECT count(*) FILTER (WHERE auth.session_is_valid(id)) AS valid, count(*) FROM public.ids;

-- A statement that fails after some calls; the next one is unaffected.
SELECT n, auth.session_is_valid(id), 1 / (n - 3) FROM public.ids ORDER BY n;
SELECT count(*) FILTER (WHERE auth.session_is_valid(id)) AS valid FROM public.ids;

-- Subtransactions: calls inside an exception block that is rolled back on
-- every other row, and kept on the others.
CREATE FUNCTION public.check_then_maybe_fail(sid uuid, fail boolean) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v boolean;
BEGIN
    BEGIN
        v := auth.session_is_valid(sid);
        PERFORM auth.session_is_valid(i.id) FROM public.ids i;
        IF fail THEN
            RAISE EXCEPTION 'rolled back';
        END IF;
        RETURN 'kept: ' || v;
    EXCEPTION WHEN raise_exception THEN
        RETURN 'rolled back: ' || auth.session_is_valid(sid);
    END;
END $$;
SELECT n, public.check_then_maybe_fail(id, n % 2 = 0) FROM public.ids ORDER BY n;
SELECT count(*) FILTER (WHERE auth.session_is_valid(id)) AS valid FROM public.ids;

-- A PL/pgSQL expression reused across statements sees each statement's
-- snapshot: the session it deleted is gone for the next call.
BEGIN;
DO $$
DECLARE before boolean; again boolean;
BEGIN
    before := auth.session_is_valid('a0000000-0000-4000-8000-000000000001');
    again := auth.session_is_valid('a0000000-0000-4000-8000-000000000001');
    DELETE FROM auth.sessions WHERE id = 'a0000000-0000-4000-8000-000000000001';
    RAISE NOTICE 'before: %, again: %, after the delete: %', before, again,
        auth.session_is_valid('a0000000-0000-4000-8000-000000000001');
END $$;
ROLLBACK;

-- A procedure that commits between calls.
CREATE PROCEDURE public.count_valid_committing() LANGUAGE plpgsql AS $$
DECLARE r record; valid int := 0;
BEGIN
    FOR r IN SELECT i.id, auth.session_is_valid(i.id) AS ok FROM public.ids i ORDER BY i.n LOOP
        IF r.ok AND auth.session_is_valid(r.id) THEN
            valid := valid + 1;
        END IF;
        COMMIT;
    END LOOP;
    RAISE NOTICE 'valid: %', valid;
END $$;
CALL public.count_valid_committing();

-- A cursor reads with its own snapshot across fetches, whatever happened
-- in between; a held cursor outlives its transaction.
BEGIN;
DECLARE c CURSOR FOR SELECT n, auth.session_is_valid(id) FROM public.ids ORDER BY n;
FETCH 1 FROM c;
DELETE FROM auth.sessions WHERE id = 'a0000000-0000-4000-8000-000000000002';
FETCH 2 FROM c;
SELECT auth.session_is_valid('a0000000-0000-4000-8000-000000000002') AS in_a_new_statement;
ROLLBACK;
-- Fetched inside savepoints that are rolled back and released.
BEGIN;
DECLARE s CURSOR FOR SELECT n, auth.session_is_valid(id) FROM public.ids ORDER BY n;
FETCH 1 FROM s;
SAVEPOINT a;
FETCH 1 FROM s;
ROLLBACK TO SAVEPOINT a;
FETCH 1 FROM s;
RELEASE SAVEPOINT a;
SAVEPOINT b;
FETCH 1 FROM s;
SELECT 1 / 0;
ROLLBACK TO SAVEPOINT b;
FETCH ALL FROM s;
COMMIT;
BEGIN;
DECLARE h CURSOR WITH HOLD FOR SELECT n, auth.session_is_valid(id) FROM public.ids ORDER BY n;
FETCH 2 FROM h;
COMMIT;
FETCH ALL FROM h;
CLOSE h;

-- Nothing stays open after the statement: DDL that refuses tables in use
-- by this session works in the same transaction.
BEGIN;
SELECT count(*) FILTER (WHERE auth.session_is_valid(id)) AS valid FROM public.ids;
REINDEX INDEX auth.sessions_pkey;
ROLLBACK;
-- Nor after PL/pgSQL expressions, in a function (kept for the transaction by
-- PL/pgSQL) or a DO block, nor after a cursor's fetches.
CREATE FUNCTION public.is_valid_plpgsql(sid uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RETURN auth.session_is_valid(sid);
END $$;
BEGIN;
SELECT public.is_valid_plpgsql(id), public.is_valid_plpgsql(id) FROM public.ids WHERE n = 1;
DO $$ BEGIN PERFORM auth.session_is_valid('a0000000-0000-4000-8000-000000000001');
    IF auth.session_is_valid('a0000000-0000-4000-8000-000000000001') THEN RAISE NOTICE 'valid'; END IF; END $$;
DECLARE f CURSOR FOR SELECT n, auth.session_is_valid(id) FROM public.ids ORDER BY n;
FETCH 2 FROM f;
CLOSE f;
REINDEX INDEX auth.sessions_pkey;
ROLLBACK;
DROP FUNCTION public.is_valid_plpgsql(uuid);
-- A DO block's expressions live as long as the block, a function's as long
-- as the transaction: a scan they keep is ended before any utility command,
-- so each command that refuses tables this session has in use, run in the
-- same block (or in a function after its own calls) right after a call,
-- finds auth.sessions free. Generated: every such command, in a DO block and
-- in a function, each in a transaction rolled back.
CREATE TEMP TABLE ddl (n integer, command text);
INSERT INTO ddl VALUES
    (1, 'TRUNCATE auth.mfa_amr_claims, auth.refresh_tokens, auth.sessions'),
    (2, 'REINDEX TABLE auth.sessions'),
    (3, 'REINDEX INDEX auth.sessions_pkey'),
    (4, 'CLUSTER auth.sessions USING sessions_pkey'),
    (5, 'ALTER TABLE auth.sessions ENABLE ROW LEVEL SECURITY'),
    (6, 'DROP EXTENSION auth_sessions');
CREATE FUNCTION public.call_then(command text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    sid uuid;
    v boolean;
BEGIN
    SELECT id INTO sid FROM auth.sessions ORDER BY id LIMIT 1;
    v := auth.session_is_valid(sid);
    v := auth.session_is_valid(sid) AND v;
    EXECUTE command;
    RETURN v;
END $$;
SELECT unnest(ARRAY[
    'BEGIN',
    format($f$DO $do$ DECLARE sid uuid; v boolean; BEGIN
        SELECT id INTO sid FROM auth.sessions ORDER BY id LIMIT 1;
        v := auth.session_is_valid(sid);
        %s;
        RAISE NOTICE 'in a DO block: %s'; END $do$$f$, command, split_part(command, ' ', 1)),
    'ROLLBACK',
    'BEGIN',
    format('SELECT public.call_then(%L) AS "in a function: %s"', command, split_part(command, ' ', 1)),
    'ROLLBACK'])
  FROM ddl ORDER BY n \gexec
SELECT count(*) AS sessions_kept FROM auth.sessions;
DROP FUNCTION public.call_then(text);

DROP PROCEDURE public.count_valid_committing();
DROP FUNCTION public.check_then_maybe_fail(uuid, boolean);
DROP TABLE public.ids;
DROP EXTENSION auth_sessions;
DROP SCHEMA auth;
