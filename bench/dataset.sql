-- The benchmark dataset: 1M sessions over 100k users, 10% past not_after,
-- refreshed_at spread over the last two days, one refresh token each.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
-- On a schema GoTrue's migrations built (bench/gotrue.sh, -v attach=1) the
-- extension is already attached.
\if :{?attach}
\else
CREATE EXTENSION auth_sessions;
\endif
SELECT setseed(0.42);
INSERT INTO auth.users (id)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(u), 12, '0'))::uuid FROM generate_series(1, 100000) u;
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, not_after, refreshed_at, user_agent, ip)
SELECT gen_random_uuid(),
       ('00000000-0000-4000-8000-' || lpad(to_hex(1 + s % 100000), 12, '0'))::uuid,
       now() - interval '2 days' - random() * interval '1 day',
       now() - random() * interval '2 days',
       'aal1',
       CASE WHEN s % 10 = 0 THEN now() - random() * interval '1 day' END,
       (now() - random() * interval '2 days') AT TIME ZONE 'UTC',
       'Mozilla/5.0 (bench)', '198.51.100.1'
  FROM generate_series(1, 1000000) s;
INSERT INTO auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, session_id)
SELECT '00000000-0000-0000-0000-000000000000', md5(id::text), user_id::text, false, created_at, updated_at, id
  FROM auth.sessions;
-- 200k random session ids to look up, and a 1M-row table behind a policy.
CREATE TABLE public.lookup_ids AS SELECT id FROM auth.sessions ORDER BY random() LIMIT 200000;
CREATE TABLE public.items AS SELECT n AS id, md5(n::text) AS body FROM generate_series(1, 1000000) n;
VACUUM ANALYZE auth.sessions, auth.refresh_tokens, public.lookup_ids, public.items;
-- For the latency stream: numbered lookups.
CREATE TABLE public.lookup_n AS SELECT row_number() OVER () AS n, id FROM public.lookup_ids;
CREATE UNIQUE INDEX ON public.lookup_n (n);
-- Adds `n` sessions past not_after (one refresh token each) and records their
-- ids, numbered, in public.doomed_n: what the pruning benchmarks delete.
CREATE FUNCTION public.add_expired(n integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DROP TABLE IF EXISTS public.doomed_n;
    CREATE TABLE public.doomed_n (n bigint PRIMARY KEY, id uuid);
    WITH s AS (
        INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, not_after, refreshed_at)
        SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(to_hex(1 + g % 100000), 12, '0'))::uuid,
               now() - interval '3 days', now(), 'aal1', now() - interval '1 hour' - random() * interval '1 day',
               (now() - interval '2 days') AT TIME ZONE 'UTC'
          FROM generate_series(1, n) g
        RETURNING id, user_id, created_at),
    t AS (
        INSERT INTO auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, session_id)
        SELECT '00000000-0000-0000-0000-000000000000', md5(id::text || random()), user_id::text, false, created_at, now(), id
          FROM s
        RETURNING session_id)
    INSERT INTO public.doomed_n SELECT row_number() OVER (), session_id FROM t;
END $$;
GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC;
