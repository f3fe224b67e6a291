-- The benchmark dataset: 1M sessions over 100k users, 10% past not_after,
-- refreshed_at spread over the last two days, one refresh token each.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION auth_sessions;
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
