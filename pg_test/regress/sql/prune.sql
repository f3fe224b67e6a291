-- Pruning: what may go (invalid for longer than the grace, strictly), batch
-- bounds, the sweep's cursor, refresh tokens, the procedure, the statistics
-- and the error code of every rejected input.
\set HIDE_TABLEAM off
\set HIDE_TOAST_COMPRESSION off
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
CREATE EXTENSION auth_sessions;
-- This file adds triggers and a column to the extension's tables on purpose;
-- the guard that refuses or warns about such changes (pg_dump would lose
-- them) is off meanwhile.
ALTER EVENT TRIGGER auth_sessions_guard DISABLE;
INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001');

-- Sessions whose deadlines sit exactly on a grace boundary, relative to the
-- transaction's now(); each check runs in one transaction and rolls back.
CREATE FUNCTION pg_temp.fixtures() RETURNS void LANGUAGE sql AS $$
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, not_after, refreshed_at, aal)
SELECT v.id::uuid, '00000000-0000-4000-8000-000000000001', now() - v.age, now(), now() + v.not_after,
       (now() + v.refreshed) AT TIME ZONE 'UTC', 'aal1'
  FROM (VALUES
    ('a0000000-0000-4000-8000-000000000001', interval '1 hour', interval '-10 minutes', NULL::interval),
    ('a0000000-0000-4000-8000-000000000002', interval '1 hour', interval '-10 minutes' + interval '1 microsecond', NULL),
    ('a0000000-0000-4000-8000-000000000003', interval '1 hour', interval '1 hour', interval '0'),
    ('b0000000-0000-4000-8000-000000000001', interval '3 hours', NULL, interval '-70 minutes'),
    ('b0000000-0000-4000-8000-000000000002', interval '3 hours', NULL, interval '-20 minutes'))
    AS v(id, age, not_after, refreshed)
$$;
-- a1 has been past not_after for exactly 10 minutes, a2 for 1us less: with a
-- grace of 10 minutes neither goes (strict); with 1us less, a1 goes.
BEGIN;
SELECT pg_temp.fixtures();
SELECT auth.prune_sessions(100, '10 minutes') AS deleted;
SELECT auth.prune_sessions(100, '10 minutes' - interval '1 microsecond') AS deleted;
SELECT id FROM auth.sessions ORDER BY id;
SELECT auth.prune_sessions(100) AS deleted;
SELECT id FROM auth.sessions ORDER BY id;
ROLLBACK;
-- Idle sessions need the rule configured; then the sweep finds them: b1 has
-- been idle 70 minutes, b2 20 minutes.
SET auth_sessions.inactivity_timeout = '1h';
BEGIN;
SELECT pg_temp.fixtures();
SELECT id, auth.session_validity(id) FROM auth.sessions ORDER BY id;
SELECT auth.prune_sessions(100, '10 minutes') AS deleted;
SELECT id FROM auth.sessions ORDER BY id;
SELECT auth.prune_sessions(100, '9 minutes') AS deleted;
SELECT id FROM auth.sessions ORDER BY id;
ROLLBACK;
-- The batch size bounds each call.
BEGIN;
SELECT pg_temp.fixtures();
SELECT auth.prune_sessions(1) AS first, auth.prune_sessions(1) AS second, auth.prune_sessions(1) AS third,
       auth.prune_sessions(1) AS fourth;
SELECT id FROM auth.sessions ORDER BY id;
ROLLBACK;
RESET auth_sessions.inactivity_timeout;

-- The sweep is resumable: a call examines about 10 rows per batch row and
-- records where it stopped (the ctid after the last row it took); at the end
-- of the table it wraps around.
INSERT INTO auth.sessions (id, user_id, created_at)
SELECT ('c0000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, '00000000-0000-4000-8000-000000000001',
       now() - interval '2 days'
  FROM generate_series(1, 25) n;
SET auth_sessions.timebox = '1d';
UPDATE auth.prune_state SET session_cursor = NULL, session_sweeps = 0;
SELECT auth.prune_sessions(1) AS deleted;
SELECT session_cursor, session_sweeps FROM auth.prune_state;
SELECT auth.prune_sessions(1) AS deleted;
SELECT session_cursor, session_sweeps FROM auth.prune_state;
SELECT * FROM auth.prune_step(1000);
SELECT session_cursor, session_sweeps FROM auth.prune_state;
SELECT count(*) AS left FROM auth.sessions;

-- Over a table of many blocks the sweep reads a window of consecutive
-- blocks per call, in physical order: the cursor moves forward block by
-- block until the end of the table, then starts over; one pass finds every
-- timeboxed session and deletes nothing else.
INSERT INTO auth.sessions (id, user_id, created_at)
SELECT ('d0000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, '00000000-0000-4000-8000-000000000001',
       CASE WHEN n % 100 = 0 THEN now() - interval '2 days' ELSE now() END
  FROM generate_series(1, 3000) n;
VACUUM ANALYZE auth.sessions;
UPDATE auth.prune_state SET session_cursor = NULL, session_sweeps = 0;
DO $$
DECLARE calls int := 0; deleted bigint := 0; at tid; previous tid := '(0,0)'; forward boolean := true;
BEGIN
    LOOP
        deleted := deleted + auth.prune_sessions(5);
        calls := calls + 1;
        SELECT session_cursor INTO at FROM auth.prune_state;
        EXIT WHEN at IS NULL OR calls > 1000;
        forward := forward AND at > previous;
        previous := at;
    END LOOP;
    RAISE NOTICE 'deleted %, the cursor only moved forward: %, more than one window: %',
        deleted, forward, calls > 2;
END $$;
SELECT session_sweeps FROM auth.prune_state;
SELECT count(*) FILTER (WHERE created_at < now() - interval '1 day') AS timeboxed_left, count(*) AS left
  FROM auth.sessions WHERE id::text LIKE 'd%';
-- A cursor past the end (the table has shrunk since it was saved): the
-- sweep has reached the end, and starts over.
UPDATE auth.prune_state SET session_cursor = '(100000,1)';
SELECT auth.prune_sessions(5) AS deleted;
SELECT session_cursor, session_sweeps FROM auth.prune_state;
DELETE FROM auth.sessions WHERE id::text LIKE 'd%';
RESET auth_sessions.timebox;

-- Revoked refresh tokens older than the grace go; live or recent ones stay.
INSERT INTO auth.sessions (id, user_id, created_at) VALUES
    ('d0000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000001', now());
INSERT INTO auth.refresh_tokens (token, session_id, revoked, updated_at) VALUES
    ('old-revoked', 'd0000000-0000-4000-8000-000000000001', true, now() - interval '2 days'),
    ('old-live', 'd0000000-0000-4000-8000-000000000001', false, now() - interval '2 days'),
    ('new-revoked', 'd0000000-0000-4000-8000-000000000001', true, now() - interval '1 hour');
SELECT auth.prune_refresh_tokens() AS deleted;
SELECT token FROM auth.refresh_tokens ORDER BY token;
SELECT auth.prune_refresh_tokens(10, '30 minutes') AS deleted;
SELECT token FROM auth.refresh_tokens ORDER BY token;

-- The procedure runs batches until nothing is left and reports what it removed.
INSERT INTO auth.sessions (id, user_id, created_at, not_after)
SELECT gen_random_uuid(), '00000000-0000-4000-8000-000000000001', now() - interval '1 day', now() - interval '1 hour'
  FROM generate_series(1, 250);
-- (Its longest_batch output is a duration; only its presence is shown.)
CREATE PROCEDURE pg_temp.prune_and_report(batch integer) LANGUAGE plpgsql AS $$
DECLARE s bigint; t bigint; b integer; l interval; p interval;
BEGIN
    CALL auth.prune_expired_sessions(batch, '0', '24 hours', '1 minute', s, t, b, l, p);
    RAISE NOTICE 'sessions_deleted %, tokens_deleted %, batches %, longest_batch reported %, paused %', s, t, b, l >= interval '0', p;
END $$;
-- Nobody else runs queries here, so it never pauses (see prune_pacing.spec).
CALL pg_temp.prune_and_report(100);
CALL pg_temp.prune_and_report(1000);
SELECT auth.session_stats() -> 'prune_backlog' AS backlog,
       auth.session_stats() -> 'sessions' -> 'valid' -> 'total' AS valid,
       auth.session_stats() ? 'worker' AS reports_worker;

-- A pruned session's refresh tokens and amr claims go with it. Deleting them
-- is all the foreign-key cascades would do, so the sessions' delete skips its
-- triggers; any other trigger that fires on deleting a session (an audit
-- trigger, another table's foreign key) makes pruning fire every trigger.
CREATE FUNCTION pg_temp.expired(n integer, prefix text) RETURNS void LANGUAGE sql AS $$
INSERT INTO auth.sessions (id, user_id, created_at, not_after)
SELECT (prefix || '0000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '00000000-0000-4000-8000-000000000001',
       now() - interval '1 day', now() - interval '1 hour'
  FROM generate_series(1, n) g;
INSERT INTO auth.refresh_tokens (token, session_id, revoked, updated_at)
SELECT 'child-' || s.id || '-' || k, s.id, k = 2, now() FROM auth.sessions s, generate_series(1, 2) k
 WHERE s.id::text LIKE prefix || '%';
INSERT INTO auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method)
SELECT gen_random_uuid(), s.id, now(), now(), 'password' FROM auth.sessions s WHERE s.id::text LIKE prefix || '%';
$$;
CREATE FUNCTION pg_temp.children() RETURNS TABLE (sessions bigint, tokens bigint, claims bigint) LANGUAGE sql AS $$
SELECT (SELECT count(*) FROM auth.sessions), (SELECT count(*) FROM auth.refresh_tokens),
       (SELECT count(*) FROM auth.mfa_amr_claims)
$$;
DELETE FROM auth.sessions;
SELECT pg_temp.expired(30, 'e');
SELECT * FROM pg_temp.children();
SELECT auth.prune_sessions(20) AS deleted;
SELECT * FROM pg_temp.children();
SELECT auth.prune_sessions(20) AS deleted;
SELECT * FROM pg_temp.children();
SHOW session_replication_role;
-- An audit trigger on the sessions' deletes sees every pruned session.
CREATE TABLE pg_temp.audit (id uuid);
CREATE FUNCTION pg_temp.audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO pg_temp.audit VALUES (OLD.id); RETURN OLD; END $$;
CREATE TRIGGER audit AFTER DELETE ON auth.sessions FOR EACH ROW EXECUTE FUNCTION pg_temp.audit();
SELECT pg_temp.expired(5, 'f');
SELECT auth.prune_sessions(100) AS deleted;
SELECT count(*) AS audited FROM pg_temp.audit;
SELECT * FROM pg_temp.children();
DROP TRIGGER audit ON auth.sessions;
-- So does another table's foreign key: its ON DELETE CASCADE runs.
CREATE TABLE public.devices (session_id uuid REFERENCES auth.sessions ON DELETE CASCADE, name text);
SELECT pg_temp.expired(5, 'f');
INSERT INTO public.devices SELECT id, 'phone' FROM auth.sessions;
SELECT auth.prune_sessions(100) AS deleted;
SELECT count(*) AS devices_left FROM public.devices;
SELECT * FROM pg_temp.children();
-- And a foreign key that forbids the delete is obeyed (23503), leaving nothing half done.
ALTER TABLE public.devices DROP CONSTRAINT devices_session_id_fkey,
    ADD FOREIGN KEY (session_id) REFERENCES auth.sessions ON DELETE RESTRICT;
SELECT pg_temp.expired(5, 'f');
INSERT INTO public.devices SELECT id, 'phone' FROM auth.sessions;
SELECT auth.prune_sessions(100) AS deleted;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pg_temp.children();
DROP TABLE public.devices;
SELECT auth.prune_sessions(100) AS deleted;
SELECT * FROM pg_temp.children();
SHOW session_replication_role;

-- Sessions past not_after go oldest first.
SELECT pg_temp.expired(4, 'f');
UPDATE auth.sessions SET not_after = now() - interval '1 hour' * right(id::text, 1)::int;
SELECT auth.prune_sessions(2) AS deleted;
SELECT string_agg(right(id::text, 1), ',' ORDER BY id) AS still_there FROM auth.sessions;
-- Any positive batch size works, up to the largest integer.
SELECT auth.prune_sessions(2147483647) AS deleted;

-- Finding, locking and deleting go straight to the heap only where the SQL
-- statement would do nothing more (src/prune/direct.rs). A trigger on deleting a
-- refresh token keeps the statement, and fires for every token.
CREATE TABLE pg_temp.token_audit (session_id uuid);
CREATE FUNCTION pg_temp.token_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO pg_temp.token_audit VALUES (OLD.session_id); RETURN OLD; END $$;
CREATE TRIGGER token_audit AFTER DELETE ON auth.refresh_tokens FOR EACH ROW EXECUTE FUNCTION pg_temp.token_audit();
SELECT pg_temp.expired(5, 'f');
SELECT auth.prune_sessions(100) AS deleted;
SELECT count(*) AS tokens_audited, count(DISTINCT session_id) AS of_sessions FROM pg_temp.token_audit;
SELECT * FROM pg_temp.children();
DROP TRIGGER token_audit ON auth.refresh_tokens;
-- A pruning role is held to its privileges and to row-level security on
-- auth.sessions. The refresh tokens and amr claims go as its own DELETE of a
-- session would take them (the foreign keys' cascades run as the tables'
-- owner), so it needs no privilege on them, and their row security does not
-- hide them.
CREATE ROLE pruner;
GRANT USAGE ON SCHEMA auth TO pruner;
GRANT EXECUTE ON FUNCTION auth.prune_sessions(integer, interval) TO pruner;
GRANT SELECT, UPDATE ON auth.sessions TO pruner;
SELECT pg_temp.expired(4, 'f');
-- Row security on auth.sessions limits what the role can prune (the policy
-- shows it sessions f...1 and f...2 only) ...
CREATE POLICY pruner_sees ON auth.sessions TO pruner USING (right(id::text, 1) IN ('1', '2'));
SET ROLE pruner;
-- ... without DELETE on auth.sessions it gets 42501, and nothing is deleted;
SELECT auth.prune_sessions(100) AS deleted;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT * FROM pg_temp.children();
GRANT DELETE ON auth.sessions TO pruner;
-- with it, and row security on auth.refresh_tokens hiding every token from
-- it, the cascades still delete the tokens of what it pruned: none is left
-- behind, and the two sessions it cannot see stay with theirs.
CREATE POLICY pruner_sees_none ON auth.refresh_tokens TO pruner USING (false);
SET ROLE pruner;
SELECT auth.prune_sessions(100) AS deleted;
RESET ROLE;
SELECT string_agg(right(id::text, 1), ',' ORDER BY id) AS still_there FROM auth.sessions;
SELECT count(*) AS orphan_tokens FROM auth.refresh_tokens r
 WHERE NOT EXISTS (SELECT FROM auth.sessions s WHERE s.id = r.session_id);
SELECT * FROM pg_temp.children();
DROP POLICY pruner_sees ON auth.sessions;
DROP POLICY pruner_sees_none ON auth.refresh_tokens;
SELECT auth.prune_sessions(100) AS deleted;

-- Pacing (auth_sessions.prune_busy_share, 0.01 to 1, default 0.05): alone,
-- a batch is never followed by a pause; out-of-range values are refused (22023).
SHOW auth_sessions.prune_busy_share;
SELECT auth.prune_pause(clock_timestamp() - interval '50 ms', 'infinity') AS pause_when_alone;
SELECT auth.prune_pause(NULL, 'infinity') IS NULL AS null_in_null_out;
SET auth_sessions.prune_busy_share = 0;
\echo :LAST_ERROR_SQLSTATE
SET auth_sessions.prune_busy_share = 1.5;
\echo :LAST_ERROR_SQLSTATE
SET auth_sessions.prune_busy_share = 'fast';
\echo :LAST_ERROR_SQLSTATE
SET auth_sessions.prune_busy_share = 1;
SHOW auth_sessions.prune_busy_share;
RESET auth_sessions.prune_busy_share;

-- Rejected input: 22004 for NULLs, 22023 for a non-positive batch or a negative grace.
SELECT auth.prune_sessions(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.prune_sessions(0);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.prune_sessions(10, '-1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.prune_sessions(10, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.prune_refresh_tokens(-5);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.prune_sessions(10, 'soon');
\echo :LAST_ERROR_SQLSTATE
CALL auth.prune_expired_sessions(time_budget => '-1 minute');
\echo :LAST_ERROR_SQLSTATE
CALL auth.prune_expired_sessions(time_budget => NULL);
\echo :LAST_ERROR_SQLSTATE
CALL auth.prune_expired_sessions(batch_size => 0);
\echo :LAST_ERROR_SQLSTATE

-- Privileges: none of this is for PUBLIC.
SELECT p.oid::regprocedure AS routine, has_function_privilege('public', p.oid, 'EXECUTE') AS public_can_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'auth'::regnamespace AND (p.proname LIKE 'prune%' OR p.proname = 'session_stats')
 ORDER BY p.oid::regprocedure::text;

DROP EXTENSION auth_sessions;
DROP SCHEMA auth;
DROP ROLE pruner;
