-- The per-user limit holds for every way rows arrive (a multi-row VALUES
-- list, INSERT ... SELECT, COPY, MERGE, ON CONFLICT DO UPDATE, an UPDATE of
-- user_id), with evictions or 53400 as configured; and a row that is not
-- stored (ON CONFLICT DO NOTHING) never evicts anything.
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
CREATE EXTENSION auth_sessions;
INSERT INTO auth.users VALUES ('00000000-0000-4000-8000-000000000001'), ('00000000-0000-4000-8000-000000000002');
SET auth_sessions.max_per_user = 2;

-- Each way, with each strategy, for a user who starts with one session
-- (an hour old); each in a subtransaction rolled back at its end.
CREATE TEMP TABLE ways (n integer, way text, statement text);
INSERT INTO ways VALUES
    (1, 'three INSERTs',          $$INSERT INTO auth.sessions (id, user_id, created_at) VALUES (gen_random_uuid(), U, now());
                                    INSERT INTO auth.sessions (id, user_id, created_at) VALUES (gen_random_uuid(), U, now());
                                    INSERT INTO auth.sessions (id, user_id, created_at) VALUES (gen_random_uuid(), U, now())$$),
    (2, 'VALUES of three rows',   $$INSERT INTO auth.sessions (id, user_id, created_at)
                                    VALUES (gen_random_uuid(), U, now()), (gen_random_uuid(), U, now()), (gen_random_uuid(), U, now())$$),
    (3, 'INSERT ... SELECT of 5', $$INSERT INTO auth.sessions (id, user_id, created_at)
                                    SELECT gen_random_uuid(), U, now() FROM generate_series(1, 5)$$),
    (4, 'MERGE of 5',             $$MERGE INTO auth.sessions s USING (SELECT gen_random_uuid() AS id FROM generate_series(1, 5)) v
                                    ON s.id = v.id WHEN NOT MATCHED THEN INSERT (id, user_id, created_at) VALUES (v.id, U, now())$$),
    (5, 'UPDATE moving 3 to U',   $$UPDATE auth.sessions SET user_id = U WHERE user_id = OTHER$$),
    (6, 'ON CONFLICT DO UPDATE moving 3 to U',
                                  $$INSERT INTO auth.sessions (id, user_id, created_at) SELECT id, U, now() FROM auth.sessions WHERE user_id = OTHER
                                    ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id$$);
CREATE TEMP TABLE outcomes (n integer, way text, strategy text, state text, sessions bigint, kept_the_old_one boolean);
DO $$
DECLARE
    w record;
    strategy text;
    state text;
    n_sessions bigint;
    kept boolean;
    u constant text := '''00000000-0000-4000-8000-000000000001''::uuid';
    other constant text := '''00000000-0000-4000-8000-000000000002''::uuid';
BEGIN
    FOR w IN SELECT * FROM ways ORDER BY n LOOP
        FOREACH strategy IN ARRAY ARRAY['evict_oldest', 'reject'] LOOP
            BEGIN
                PERFORM set_config('auth_sessions.limit_strategy', strategy, true);
                PERFORM set_config('auth_sessions.max_per_user', '0', true);
                INSERT INTO auth.sessions (id, user_id, created_at)
                VALUES ('a0000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000001', now() - interval '1 hour');
                -- The other user's three sessions, for the ways that move them.
                INSERT INTO auth.sessions (id, user_id, created_at)
                SELECT gen_random_uuid(), '00000000-0000-4000-8000-000000000002', now() - interval '2 hours' FROM generate_series(1, 3);
                PERFORM set_config('auth_sessions.max_per_user', '2', true);
                state := '00000';
                BEGIN
                    EXECUTE regexp_replace(replace(w.statement, 'OTHER', other), '\mU\M', u, 'g');
                EXCEPTION WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
                END;
                SELECT count(*), coalesce(bool_or(id = 'a0000000-0000-4000-8000-000000000001'), false)
                  INTO n_sessions, kept
                  FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000001';
                RAISE EXCEPTION 'roll back' USING ERRCODE = 'P0001';
            EXCEPTION WHEN raise_exception THEN
                INSERT INTO outcomes VALUES (w.n, w.way, strategy, state, n_sessions, kept);
            END;
        END LOOP;
    END LOOP;
END $$;
-- At most two sessions after every way; evict_oldest evicts the old one
-- first; reject refuses the statement (53400) and nothing of it is kept.
SELECT way, strategy, state, sessions, kept_the_old_one FROM outcomes ORDER BY n, strategy;

-- COPY. The rows are taken in the order they were stored: each is kept and
-- makes room by evicting the user's least recently active other sessions
-- (the statement's later rows included).
SET auth_sessions.limit_strategy = 'evict_oldest';
INSERT INTO auth.sessions (id, user_id, created_at)
VALUES ('a0000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000001', now() - interval '1 hour');
COPY auth.sessions (id, user_id, created_at) FROM STDIN;
c0000000-0000-4000-8000-000000000001	00000000-0000-4000-8000-000000000001	2099-01-01 00:00:03+00
c0000000-0000-4000-8000-000000000002	00000000-0000-4000-8000-000000000001	2099-01-01 00:00:02+00
c0000000-0000-4000-8000-000000000003	00000000-0000-4000-8000-000000000001	2099-01-01 00:00:01+00
\.
-- The old one and the least recent copied row went.
SELECT id FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000001' ORDER BY id;
SET auth_sessions.limit_strategy = 'reject';
COPY auth.sessions (id, user_id, created_at) FROM STDIN;
c0000000-0000-4000-8000-000000000004	00000000-0000-4000-8000-000000000001	2026-01-01 00:00:04+00
\.
SELECT id FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000001' ORDER BY id;

-- ON CONFLICT DO NOTHING at the limit: the row is not stored, so nothing
-- is evicted (INSERT 0 0, both sessions still there), with either strategy.
SET auth_sessions.limit_strategy = 'evict_oldest';
INSERT INTO auth.sessions (id, user_id, created_at)
VALUES ('c0000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001', now())
ON CONFLICT (id) DO NOTHING;
SET auth_sessions.limit_strategy = 'reject';
INSERT INTO auth.sessions (id, user_id, created_at)
VALUES ('c0000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001', now())
ON CONFLICT (id) DO NOTHING;
SELECT id FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000001' ORDER BY id;
-- ON CONFLICT DO UPDATE that keeps the user (GoTrue-like upserts, a
-- refresh): no eviction either.
SET auth_sessions.limit_strategy = 'evict_oldest';
INSERT INTO auth.sessions (id, user_id, created_at)
VALUES ('c0000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001', now())
ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id, refreshed_at = now() AT TIME ZONE 'UTC';
UPDATE auth.sessions SET refreshed_at = now() AT TIME ZONE 'UTC' WHERE user_id = '00000000-0000-4000-8000-000000000001';
SELECT id FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000001' ORDER BY id;
-- A user over the limit from before it was set keeps their sessions until
-- they sign in again (refreshes and other updates evict nothing).
RESET auth_sessions.max_per_user;
INSERT INTO auth.sessions (id, user_id, created_at)
SELECT gen_random_uuid(), '00000000-0000-4000-8000-000000000002', now() FROM generate_series(1, 3);
SET auth_sessions.max_per_user = 2;
UPDATE auth.sessions SET refreshed_at = now() AT TIME ZONE 'UTC' WHERE user_id = '00000000-0000-4000-8000-000000000002';
SELECT count(*) AS over_the_limit_kept FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000002';
INSERT INTO auth.sessions (id, user_id, created_at) VALUES (gen_random_uuid(), '00000000-0000-4000-8000-000000000002', now());
SELECT count(*) AS after_a_sign_in FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000002';

-- Under REPEATABLE READ, a multi-row insert sees its own rows too: no
-- spurious serialization failure, and the limit holds.
DELETE FROM auth.sessions;
BEGIN ISOLATION LEVEL REPEATABLE READ;
INSERT INTO auth.sessions (id, user_id, created_at)
SELECT gen_random_uuid(), '00000000-0000-4000-8000-000000000001', now() FROM generate_series(1, 4);
SELECT count(*) AS sessions FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000001';
COMMIT;

-- The trigger as versions before 0.4.0 defined it (BEFORE INSERT; what a
-- dump made then recreates) still holds the limit for multi-row inserts: it
-- makes room before each row, counting the rows the statement stored before.
DELETE FROM auth.sessions;
SET client_min_messages = error;
DROP TRIGGER enforce_session_limit ON auth.sessions;
CREATE TRIGGER enforce_session_limit BEFORE INSERT ON auth.sessions FOR EACH ROW EXECUTE FUNCTION auth.enforce_session_limit();
RESET client_min_messages;
INSERT INTO auth.sessions (id, user_id, created_at)
SELECT gen_random_uuid(), '00000000-0000-4000-8000-000000000001', now() FROM generate_series(1, 5);
SELECT count(*) AS sessions_before_insert_trigger FROM auth.sessions;

-- A restore (row_security off, as pg_dump's scripts and pg_restore set it)
-- by the table's owner or a superuser loads the rows as dumped, a user over
-- the limit included: nothing evicted, nothing refused. Anyone else is held
-- to the limit whatever row_security says (here row security refuses them
-- first, 42501: the table has it on); and without it, so is a superuser.
SET client_min_messages = error;
DROP TRIGGER enforce_session_limit ON auth.sessions;
CREATE TRIGGER enforce_session_limit AFTER INSERT OR UPDATE OF user_id ON auth.sessions
    FOR EACH ROW EXECUTE FUNCTION auth.enforce_session_limit();
RESET client_min_messages;
DELETE FROM auth.sessions;
SET auth_sessions.limit_strategy = 'reject';
SET row_security = off;
COPY auth.sessions (id, user_id, created_at) FROM stdin;
d0000000-0000-4000-8000-000000000001	00000000-0000-4000-8000-000000000001	2026-01-01 00:00:00+00
d0000000-0000-4000-8000-000000000002	00000000-0000-4000-8000-000000000001	2026-01-02 00:00:00+00
d0000000-0000-4000-8000-000000000003	00000000-0000-4000-8000-000000000001	2026-01-03 00:00:00+00
\.
SET auth_sessions.limit_strategy = 'evict_oldest';
INSERT INTO auth.sessions (id, user_id, created_at) VALUES ('d0000000-0000-4000-8000-000000000004', '00000000-0000-4000-8000-000000000001', now());
SELECT count(*) AS restored_over_the_limit FROM auth.sessions;
SET client_min_messages = warning;
CREATE ROLE limit_loader;
RESET client_min_messages;
GRANT USAGE ON SCHEMA auth TO limit_loader;
GRANT SELECT, INSERT, DELETE ON auth.sessions TO limit_loader;
SET auth_sessions.limit_strategy = 'reject';
SET ROLE limit_loader;
SET row_security = off;
INSERT INTO auth.sessions (id, user_id, created_at) VALUES ('d0000000-0000-4000-8000-000000000005', '00000000-0000-4000-8000-000000000001', now());
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET row_security;
INSERT INTO auth.sessions (id, user_id, created_at) VALUES ('d0000000-0000-4000-8000-000000000005', '00000000-0000-4000-8000-000000000001', now());
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS still_four FROM auth.sessions;
REVOKE ALL ON auth.sessions FROM limit_loader;
REVOKE USAGE ON SCHEMA auth FROM limit_loader;
DROP ROLE limit_loader;

RESET auth_sessions.max_per_user;
RESET auth_sessions.limit_strategy;
DROP EXTENSION auth_sessions;
DROP SCHEMA auth;
