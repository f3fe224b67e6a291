-- Tables whose shape differs from the seed's: indexes re-created under the
-- seed's names with other definitions, columns of other types, inheritance
-- children, foreign keys that set NULL, restrict or reference other columns,
-- triggers and policies that keep a session from being deleted. The
-- extension reads only what it checked, touches only the tables' own rows,
-- and deletes a child only where the session's own DELETE would.
\set HIDE_TABLEAM off
\set HIDE_TOAST_COMPRESSION off
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
SET client_min_messages = warning;
CREATE ROLE reader;
RESET client_min_messages;
CREATE EXTENSION auth_sessions;
-- This file changes the extension's tables on purpose (odd shapes); the
-- guard that refuses such changes (pg_dump would lose them) is off meanwhile.
ALTER EVENT TRIGGER auth_sessions_guard DISABLE;
INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001');

-- Sessions past not_after (prefix e), with a refresh token and an amr claim each.
CREATE FUNCTION pg_temp.expired(n integer, prefix text) RETURNS void LANGUAGE sql AS $$
INSERT INTO auth.sessions (id, user_id, created_at, not_after)
SELECT (prefix || '0000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '00000000-0000-4000-8000-000000000001',
       now() - interval '1 day', now() - interval '1 hour'
  FROM generate_series(1, n) g;
INSERT INTO auth.refresh_tokens (token, session_id, revoked, updated_at)
SELECT 'token-' || s.id, s.id, false, now() FROM ONLY auth.sessions s WHERE s.id::text LIKE prefix || '%';
INSERT INTO auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method)
SELECT gen_random_uuid(), s.id, now(), now(), 'password' FROM ONLY auth.sessions s WHERE s.id::text LIKE prefix || '%';
$$;
CREATE FUNCTION pg_temp.counts() RETURNS TABLE (sessions bigint, tokens bigint, claims bigint) LANGUAGE sql AS $$
SELECT (SELECT count(*) FROM ONLY auth.sessions), (SELECT count(*) FROM ONLY auth.refresh_tokens),
       (SELECT count(*) FROM ONLY auth.mfa_amr_claims)
$$;

-- 4. An index re-created under the seed's name with another definition is
-- not read as if it were the seed's. A session created two days ago whose
-- token was refreshed just now is valid with an inactivity timeout of a day,
-- however refresh_tokens_session_id_revoked_idx is defined.
INSERT INTO auth.sessions (id, user_id, created_at) VALUES
    ('a0000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000001', now() - interval '2 days');
INSERT INTO auth.refresh_tokens (token, session_id, revoked, updated_at) VALUES
    ('a1', 'a0000000-0000-4000-8000-000000000001', false, now());
SET auth_sessions.inactivity_timeout = '1d';
CREATE FUNCTION pg_temp.check_a1() RETURNS TABLE (validity text, is_valid boolean, current_valid boolean, pruned bigint)
LANGUAGE sql AS $$
SELECT auth.session_validity('a0000000-0000-4000-8000-000000000001'),
       auth.session_is_valid('a0000000-0000-4000-8000-000000000001'),
       (SELECT auth.current_session_is_valid()
          FROM (SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-000000000001"}', true)) c),
       auth.prune_sessions()
$$;
BEGIN;
SELECT * FROM pg_temp.check_a1();
ROLLBACK;
-- Key columns swapped: (revoked, session_id).
DROP INDEX auth.refresh_tokens_session_id_revoked_idx;
CREATE INDEX refresh_tokens_session_id_revoked_idx ON auth.refresh_tokens (revoked, session_id);
BEGIN;
SELECT * FROM pg_temp.check_a1();
ROLLBACK;
-- With the token revoked, as an ordinary role through the RLS function.
UPDATE auth.refresh_tokens SET revoked = true WHERE token = 'a1';
GRANT USAGE ON SCHEMA auth TO reader;
SET ROLE reader;
SELECT set_config('request.jwt.claims', '{"session_id":"a0000000-0000-4000-8000-000000000001"}', false) IS NOT NULL AS claimed;
SELECT auth.current_session_is_valid();
RESET ROLE;
UPDATE auth.refresh_tokens SET revoked = false WHERE token = 'a1';
-- Partial (only revoked tokens), hash, and an expression: none is usable.
DROP INDEX auth.refresh_tokens_session_id_revoked_idx;
CREATE INDEX refresh_tokens_session_id_revoked_idx ON auth.refresh_tokens (session_id) WHERE revoked;
BEGIN;
SELECT * FROM pg_temp.check_a1();
ROLLBACK;
DROP INDEX auth.refresh_tokens_session_id_revoked_idx;
CREATE INDEX refresh_tokens_session_id_revoked_idx ON auth.refresh_tokens USING hash (session_id);
BEGIN;
SELECT * FROM pg_temp.check_a1();
ROLLBACK;
DROP INDEX auth.refresh_tokens_session_id_revoked_idx;
CREATE INDEX refresh_tokens_session_id_revoked_idx ON auth.refresh_tokens ((session_id::text));
BEGIN;
SELECT * FROM pg_temp.check_a1();
ROLLBACK;
-- A btree index with an operator class that is not uuid's default (its own
-- family, ordering the other way, among 200 other sessions' tokens): not
-- taken for the one the extension searches, same answers.
CREATE FUNCTION public.uuid_cmp_reversed(uuid, uuid) RETURNS integer LANGUAGE sql IMMUTABLE STRICT
    AS 'SELECT pg_catalog.uuid_cmp($2, $1)';
CREATE OPERATOR CLASS public.uuid_reversed_ops FOR TYPE uuid USING btree AS
    OPERATOR 1 >, OPERATOR 2 >=, OPERATOR 3 =, OPERATOR 4 <=, OPERATOR 5 <,
    FUNCTION 1 public.uuid_cmp_reversed(uuid, uuid);
DROP INDEX auth.refresh_tokens_session_id_revoked_idx;
CREATE INDEX refresh_tokens_session_id_revoked_idx ON auth.refresh_tokens (session_id public.uuid_reversed_ops);
BEGIN;
INSERT INTO auth.sessions (id, user_id, created_at)
SELECT ('b0000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '00000000-0000-4000-8000-000000000001', now()
  FROM generate_series(1, 200) g;
INSERT INTO auth.refresh_tokens (token, session_id, revoked, updated_at)
SELECT 'b' || g, ('b0000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, false, now() FROM generate_series(1, 200) g;
SELECT * FROM pg_temp.check_a1();
ROLLBACK;
-- No index on session_id at all: the table is read instead, same answers.
DROP INDEX auth.refresh_tokens_session_id_revoked_idx;
BEGIN;
SELECT * FROM pg_temp.check_a1();
ROLLBACK;
CREATE INDEX refresh_tokens_session_id_revoked_idx ON auth.refresh_tokens USING btree (session_id, revoked);
DROP OPERATOR FAMILY public.uuid_reversed_ops USING btree;
DROP FUNCTION public.uuid_cmp_reversed(uuid, uuid);
RESET auth_sessions.inactivity_timeout;
-- sessions_not_after_idx re-created on another column, or ascending: past
-- not_after still means not_after, oldest first.
SELECT pg_temp.expired(3, 'e');
UPDATE auth.sessions SET not_after = now() - interval '1 hour' * right(id::text, 1)::int WHERE id::text LIKE 'e%';
DROP INDEX auth.sessions_not_after_idx;
CREATE INDEX sessions_not_after_idx ON auth.sessions (user_id);
BEGIN;
SELECT auth.prune_sessions(1) AS pruned;
SELECT string_agg(right(id::text, 1), ',' ORDER BY id) AS still_there FROM auth.sessions WHERE id::text LIKE 'e%';
ROLLBACK;
DROP INDEX auth.sessions_not_after_idx;
CREATE INDEX sessions_not_after_idx ON auth.sessions (not_after);
BEGIN;
SELECT auth.prune_sessions(1) AS pruned;
SELECT string_agg(right(id::text, 1), ',' ORDER BY id) AS still_there FROM auth.sessions WHERE id::text LIKE 'e%';
ROLLBACK;
DROP INDEX auth.sessions_not_after_idx;
CREATE INDEX sessions_not_after_idx ON auth.sessions USING btree (not_after DESC);
-- A column of another type is a clear error, never a guess.
ALTER TABLE auth.sessions ALTER COLUMN refreshed_at TYPE timestamptz USING refreshed_at AT TIME ZONE 'UTC';
SELECT auth.session_validity('a0000000-0000-4000-8000-000000000001');
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE auth.sessions ALTER COLUMN refreshed_at TYPE timestamp USING refreshed_at AT TIME ZONE 'UTC';
SELECT auth.session_validity('a0000000-0000-4000-8000-000000000001');
DELETE FROM auth.sessions;

-- 5. Inheritance children: only the tables' own rows are touched. An
-- archive of sessions (and one of refresh tokens) holds rows at the same
-- ctids as the expired sessions (and their tokens): each round starts from
-- emptied tables, so both begin at the first line of the first page.
CREATE TABLE public.sessions_archive () INHERITS (auth.sessions);
CREATE TABLE public.tokens_archive () INHERITS (auth.refresh_tokens);
INSERT INTO public.sessions_archive (id, user_id, created_at, not_after)
SELECT ('90000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '00000000-0000-4000-8000-000000000001',
       now() - interval '9 days', now() - interval '8 days'
  FROM generate_series(1, 6) g;
INSERT INTO public.tokens_archive (token, session_id, revoked, updated_at)
SELECT 'archived-' || g, ('90000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, true, now() - interval '9 days'
  FROM generate_series(1, 6) g;
CREATE FUNCTION pg_temp.archives() RETURNS TABLE (sessions bigint, tokens bigint) LANGUAGE sql AS $$
SELECT (SELECT count(*) FROM public.sessions_archive), (SELECT count(*) FROM public.tokens_archive)
$$;
-- A session that only the archive has is not one of the table's.
SELECT auth.session_validity('90000000-0000-4000-8000-000000000001');
CREATE FUNCTION pg_temp.fresh() RETURNS void LANGUAGE sql AS $$
TRUNCATE ONLY auth.sessions, ONLY auth.refresh_tokens, ONLY auth.mfa_amr_claims;
SELECT pg_temp.expired(6, 'f');
$$;
-- The direct path (READ COMMITTED), ...
SELECT pg_temp.fresh();
SELECT auth.prune_sessions() AS pruned, auth.prune_refresh_tokens(100, '0') AS tokens;
SELECT * FROM pg_temp.archives();
SELECT * FROM pg_temp.counts();
-- ... the statements (a trigger on the tokens' deletes), ...
CREATE FUNCTION pg_temp.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;
CREATE TRIGGER noop BEFORE DELETE ON auth.refresh_tokens FOR EACH ROW EXECUTE FUNCTION pg_temp.noop();
SELECT pg_temp.fresh();
SELECT auth.prune_sessions() AS pruned;
SELECT * FROM pg_temp.archives();
DROP TRIGGER noop ON auth.refresh_tokens;
-- ... and REPEATABLE READ, where the cascades do the children.
SELECT pg_temp.fresh();
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT auth.prune_sessions() AS pruned;
COMMIT;
SELECT * FROM pg_temp.archives();
SELECT * FROM pg_temp.counts();
DROP TABLE public.sessions_archive, public.tokens_archive;

-- 6. A child goes only where the session's own delete takes it.
-- A soft delete (a BEFORE DELETE trigger that keeps the row) ...
CREATE FUNCTION pg_temp.soft_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE auth.sessions SET tag = 'deleted' WHERE id = OLD.id; RETURN NULL; END $$;
CREATE TRIGGER soft_delete BEFORE DELETE ON auth.sessions FOR EACH ROW EXECUTE FUNCTION pg_temp.soft_delete();
SELECT pg_temp.expired(3, 'f');
SELECT auth.prune_sessions() AS pruned;
SELECT * FROM pg_temp.counts();
SELECT count(*) AS marked_deleted FROM auth.sessions WHERE tag = 'deleted';
DROP TRIGGER soft_delete ON auth.sessions;
DELETE FROM auth.sessions;
-- ... row security that lets the pruning role delete only some sessions ...
CREATE ROLE pruner;
GRANT USAGE ON SCHEMA auth TO pruner;
GRANT EXECUTE ON FUNCTION auth.prune_sessions(integer, interval) TO pruner;
GRANT SELECT, UPDATE, DELETE ON auth.sessions TO pruner;
CREATE POLICY pruner_reads ON auth.sessions FOR SELECT TO pruner USING (true);
CREATE POLICY pruner_locks ON auth.sessions FOR UPDATE TO pruner USING (true);
CREATE POLICY pruner_deletes ON auth.sessions FOR DELETE TO pruner USING (right(id::text, 1) = '1');
SELECT pg_temp.expired(3, 'f');
SET ROLE pruner;
SELECT auth.prune_sessions() AS pruned;
RESET ROLE;
SELECT * FROM pg_temp.counts();
SELECT right(s.id::text, 1) AS session, count(r.*) AS tokens
  FROM ONLY auth.sessions s LEFT JOIN auth.refresh_tokens r ON r.session_id = s.id GROUP BY 1 ORDER BY 1;
DROP POLICY pruner_reads ON auth.sessions;
DROP POLICY pruner_locks ON auth.sessions;
DROP POLICY pruner_deletes ON auth.sessions;
DELETE FROM auth.sessions;
-- ... a foreign key changed to SET NULL (the tokens stay, detached, as a
-- DELETE would leave them) ...
ALTER TABLE auth.refresh_tokens DROP CONSTRAINT refresh_tokens_session_id_fkey,
    ADD CONSTRAINT refresh_tokens_session_id_fkey FOREIGN KEY (session_id) REFERENCES auth.sessions (id) ON DELETE SET NULL;
SELECT pg_temp.expired(3, 'f');
SELECT auth.prune_sessions() AS pruned;
SELECT * FROM pg_temp.counts();
SELECT count(*) AS detached_tokens FROM auth.refresh_tokens WHERE session_id IS NULL;
DELETE FROM auth.refresh_tokens;
-- ... or to RESTRICT (23503, and nothing is deleted).
ALTER TABLE auth.refresh_tokens DROP CONSTRAINT refresh_tokens_session_id_fkey,
    ADD CONSTRAINT refresh_tokens_session_id_fkey FOREIGN KEY (session_id) REFERENCES auth.sessions (id) ON DELETE RESTRICT;
SELECT pg_temp.expired(3, 'f');
SELECT auth.prune_sessions() AS pruned;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pg_temp.counts();
ALTER TABLE auth.refresh_tokens DROP CONSTRAINT refresh_tokens_session_id_fkey,
    ADD CONSTRAINT refresh_tokens_session_id_fkey FOREIGN KEY (session_id) REFERENCES auth.sessions (id) ON DELETE CASCADE;
SELECT auth.prune_sessions() AS pruned;
SELECT * FROM pg_temp.counts();

-- 7. A second foreign key from a child table (another column) cascades as
-- well: no claim is left pointing at a pruned session, and the constraint
-- still validates.
ALTER TABLE auth.mfa_amr_claims ADD COLUMN origin_session uuid REFERENCES auth.sessions (id) ON DELETE CASCADE;
INSERT INTO auth.sessions (id, user_id, created_at) VALUES
    ('b0000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000001', now());
SELECT pg_temp.expired(2, 'f');
INSERT INTO auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method, origin_session)
SELECT gen_random_uuid(), 'b0000000-0000-4000-8000-000000000001', now(), now(), 'otp-' || s.id, s.id
  FROM auth.sessions s WHERE s.id::text LIKE 'f%';
SELECT auth.prune_sessions() AS pruned;
SELECT count(*) AS dangling FROM auth.mfa_amr_claims c
 WHERE c.origin_session IS NOT NULL AND NOT EXISTS (SELECT FROM auth.sessions s WHERE s.id = c.origin_session);
ALTER TABLE auth.mfa_amr_claims DROP CONSTRAINT mfa_amr_claims_origin_session_fkey,
    ADD CONSTRAINT mfa_amr_claims_origin_session_fkey FOREIGN KEY (origin_session) REFERENCES auth.sessions (id);
SELECT * FROM pg_temp.counts();

DROP EXTENSION auth_sessions;
DROP SCHEMA auth;
DROP ROLE pruner;
DROP ROLE reader;
