-- GoTrue keeps working with auth_sessions_gotrue attached: its statements,
-- written as GoTrue issues them (pop's column lists, search_path = auth,
-- as supabase_auth_admin, parameters as $n), with the per-user limit off
-- and on; and every function of the extension works on GoTrue's tables.
-- Run by pg_test/scenarios/gotrue.sh in a database where GoTrue's 70 migrations ran,
-- the extension attached between the 59th and the 60th.
\set SHOW_CONTEXT never
\set VERBOSITY default
-- GoTrue's sign-in INSERT, prepared again after each reconnection.
\getenv abs_srcdir PG_ABS_SRCDIR
\set signin :abs_srcdir '/signin.sql'
SET TimeZone = 'UTC';
\c - supabase_auth_admin
SET TimeZone = 'UTC';
SHOW search_path;
INSERT INTO users (instance_id, id, aud, role, email, created_at, updated_at) VALUES
    ('00000000-0000-0000-0000-000000000000', '00000000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'one@example.com', now(), now()),
    ('00000000-0000-0000-0000-000000000000', '00000000-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'two@example.com', now(), now()),
    ('00000000-0000-0000-0000-000000000000', '00000000-0000-4000-8000-000000000003', 'authenticated', 'authenticated', 'three@example.com', now(), now());

-- Sign-in: the session with all 15 columns, its amr claim, its refresh token.
\i :signin
PREPARE amr(uuid, uuid, timestamptz, timestamptz, text, timestamptz) AS
INSERT INTO mfa_amr_claims(id, session_id, created_at, updated_at, authentication_method) values ($1, $2, $3, $4, $5)
ON CONFLICT ON CONSTRAINT mfa_amr_claims_session_id_authentication_method_pkey DO UPDATE SET updated_at = $6;
PREPARE token(timestamptz, uuid, text, bool, uuid, text, timestamptz, text) AS
INSERT INTO "refresh_tokens" ("created_at", "instance_id", "parent", "revoked", "session_id", "token", "updated_at",
    "user_id") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) returning id;
EXECUTE signin('aal1', now(), NULL, 'a1000000-0000-4000-8000-000000000001', '192.0.2.1', NULL, NULL, NULL, NULL, NULL,
               NULL, NULL, now(), 'ua/1', '00000000-0000-4000-8000-000000000001');
EXECUTE amr('b1000000-0000-4000-8000-000000000001', 'a1000000-0000-4000-8000-000000000001', now(), now(), 'password', now());
EXECUTE amr('b1000000-0000-4000-8000-000000000009', 'a1000000-0000-4000-8000-000000000001', now(), now(), 'password', now());
SELECT count(*) AS amr_claims FROM mfa_amr_claims;
EXECUTE token(now(), '00000000-0000-0000-0000-000000000000', NULL, false, 'a1000000-0000-4000-8000-000000000001',
              'tok-1', now(), '00000000-0000-4000-8000-000000000001') \gset first_
-- v2 refresh tokens: the session carries the counter and the HMAC key.
EXECUTE signin('aal1', now(), NULL, 'a2000000-0000-4000-8000-000000000002', NULL, NULL, NULL, 0, 'key-v2', NULL,
               'openid email', 'web', now(), NULL, '00000000-0000-4000-8000-000000000002');

-- Pop's lookups.
SELECT id, user_id, aal FROM "sessions" WHERE id = 'a1000000-0000-4000-8000-000000000001' LIMIT 1 FOR UPDATE SKIP LOCKED;
SELECT sessions.aal, sessions.created_at IS NOT NULL AS created, sessions.factor_id, sessions.id, sessions.ip,
       sessions.not_after, sessions.oauth_client_id, sessions.refresh_token_counter, sessions.refresh_token_hmac_key,
       sessions.refreshed_at, sessions.scopes, sessions.tag, sessions.user_agent, sessions.user_id
  FROM "sessions" AS sessions WHERE id = 'a2000000-0000-4000-8000-000000000002' LIMIT 1;
SELECT sessions.id FROM "sessions" AS sessions WHERE user_id = '00000000-0000-4000-8000-000000000001' ORDER BY created_at asc LIMIT 1;
SELECT count(*) FROM "sessions" AS sessions WHERE factor_id IS NULL;

-- Refresh, v1: the session's refresh columns (UTC wall clock), the token
-- family; v2: the counter, then the key.
UPDATE "sessions" AS sessions SET "ip" = '198.51.100.7', "refreshed_at" = now() AT TIME ZONE 'UTC', "updated_at" = now(),
       "user_agent" = 'ua/1b' WHERE sessions.id = 'a1000000-0000-4000-8000-000000000001';
UPDATE "refresh_tokens" AS refresh_tokens SET "revoked" = true, "updated_at" = now() WHERE refresh_tokens.id = :first_id;
EXECUTE token(now(), '00000000-0000-0000-0000-000000000000', 'tok-1', false, 'a1000000-0000-4000-8000-000000000001',
              'tok-2', now(), '00000000-0000-4000-8000-000000000001') \gset second_
UPDATE "sessions" AS sessions SET "refresh_token_counter" = 1, "updated_at" = now() WHERE sessions.id = 'a2000000-0000-4000-8000-000000000002';
UPDATE "sessions" AS sessions SET "refresh_token_hmac_key" = 'key-v2-reencrypted', "updated_at" = now()
 WHERE sessions.id = 'a2000000-0000-4000-8000-000000000002';
SELECT refresh_token_counter, refresh_token_hmac_key FROM sessions WHERE id = 'a2000000-0000-4000-8000-000000000002';
WITH RECURSIVE family AS (
    SELECT id, token, parent FROM refresh_tokens WHERE token = 'tok-2'
    UNION SELECT r.id, r.token, r.parent FROM refresh_tokens r JOIN family f ON r.token = f.parent)
SELECT token FROM family ORDER BY id;
SELECT token, revoked FROM "refresh_tokens" WHERE token = 'tok-2' LIMIT 1 FOR UPDATE SKIP LOCKED;

-- The extension answers on these rows, for GoTrue's own role too (the
-- current-session functions are PUBLIC), and agrees with GoTrue's rules.
SELECT set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-000000000001", "session_id": "a1000000-0000-4000-8000-000000000001"}', false);
SELECT auth.session_id(), auth.current_session_is_valid(), auth.current_session_aal();
\c - postgres
SET TimeZone = 'UTC';
SELECT id, aal, validity FROM auth.user_sessions('00000000-0000-4000-8000-000000000001');
SELECT auth.session_validity('a2000000-0000-4000-8000-000000000002') AS v2_session;
SET auth_sessions.inactivity_timeout = '1h';
SELECT auth.session_validity('a1000000-0000-4000-8000-000000000001', now() + interval '59 minutes') AS within,
       auth.session_validity('a1000000-0000-4000-8000-000000000001', now() + interval '61 minutes') AS after;
RESET auth_sessions.inactivity_timeout;

-- MFA: user 2 enrolls and verifies a factor; the session steps up, GoTrue
-- deletes the user's other low sessions.
INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at)
VALUES ('f2000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000002', 'phone app', 'totp', 'verified', now(), now());
\c - supabase_auth_admin
SET TimeZone = 'UTC';
\i :signin
EXECUTE signin('aal1', now() - interval '2 hours', NULL, 'a2000000-0000-4000-8000-000000000003', NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL, now(), NULL, '00000000-0000-4000-8000-000000000002');
EXECUTE signin(NULL, now() - interval '2 hours', NULL, 'a2000000-0000-4000-8000-000000000004', NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL, now(), NULL, '00000000-0000-4000-8000-000000000002');
UPDATE "sessions" AS sessions SET "aal" = 'aal2', "factor_id" = 'f2000000-0000-4000-8000-000000000002', "updated_at" = now()
 WHERE sessions.id = 'a2000000-0000-4000-8000-000000000002';
INSERT INTO mfa_amr_claims(id, session_id, created_at, updated_at, authentication_method)
values ('b2000000-0000-4000-8000-000000000002', 'a2000000-0000-4000-8000-000000000002', now(), now(), 'totp')
ON CONFLICT ON CONSTRAINT mfa_amr_claims_session_id_authentication_method_pkey DO UPDATE SET updated_at = now();
\c - postgres
SET TimeZone = 'UTC';
-- GoTrue's fifth rule, before GoTrue's own deletion: the two low sessions of
-- a user with a verified factor are low_aal once older than the allowance.
SET auth_sessions.allow_low_aal = '1h';
SELECT id, aal, validity FROM auth.user_sessions('00000000-0000-4000-8000-000000000002') ORDER BY id;
SELECT auth.session_stats()->'sessions'->'low_aal'->'total' AS low_aal,
       auth.session_stats()->'prune_backlog'->'invalid_sessions' AS prunable;
SELECT auth.prune_sessions(100, '0') AS pruned;
SELECT set_config('request.jwt.claims', '{"session_id": "a2000000-0000-4000-8000-000000000003"}', false);
SELECT auth.current_session_is_valid() AS low_session_valid;
RESET auth_sessions.allow_low_aal;
\c - supabase_auth_admin
DELETE FROM sessions WHERE user_id = '00000000-0000-4000-8000-000000000002' AND (aal IS NULL OR aal < 'aal2');
SELECT id, aal FROM sessions WHERE user_id = '00000000-0000-4000-8000-000000000002' ORDER BY id;
-- Unenrolling (DowngradeSessionsToAAL1): the factor's claims, the sessions
-- back to aal1, the factor gone.
SELECT id FROM sessions WHERE factor_id = 'f2000000-0000-4000-8000-000000000002';
DELETE FROM mfa_amr_claims WHERE session_id = 'a2000000-0000-4000-8000-000000000002' AND authentication_method = 'totp';
UPDATE sessions set aal = 'aal1', factor_id = NULL WHERE user_id = '00000000-0000-4000-8000-000000000002'
   AND factor_id = 'f2000000-0000-4000-8000-000000000002';
DELETE FROM mfa_factors WHERE id = 'f2000000-0000-4000-8000-000000000002';
SELECT id, aal, factor_id FROM sessions WHERE user_id = '00000000-0000-4000-8000-000000000002';

-- The per-user limit on GoTrue's own sign-ins (its trigger fires for them,
-- and evicts as supabase_auth_admin); then rejecting, as GoTrue would see it.
\c - postgres
ALTER ROLE supabase_auth_admin SET auth_sessions.max_per_user = 2;
\c - supabase_auth_admin
\i :signin
SHOW auth_sessions.max_per_user;
EXECUTE signin('aal1', now() - interval '3 minutes', NULL, 'a3000000-0000-4000-8000-000000000001', NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL, now(), NULL, '00000000-0000-4000-8000-000000000003');
EXECUTE signin('aal1', now() - interval '2 minutes', NULL, 'a3000000-0000-4000-8000-000000000002', NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL, now(), NULL, '00000000-0000-4000-8000-000000000003');
EXECUTE signin('aal1', now() - interval '1 minutes', NULL, 'a3000000-0000-4000-8000-000000000003', NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL, now(), NULL, '00000000-0000-4000-8000-000000000003');
SELECT id FROM sessions WHERE user_id = '00000000-0000-4000-8000-000000000003' ORDER BY id;
\c - postgres
ALTER ROLE supabase_auth_admin SET auth_sessions.limit_strategy = 'reject';
\c - supabase_auth_admin
\i :signin
EXECUTE signin('aal1', now(), NULL, 'a3000000-0000-4000-8000-000000000004', NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL, now(), NULL, '00000000-0000-4000-8000-000000000003');
\echo :LAST_ERROR_SQLSTATE
\c - postgres
ALTER ROLE supabase_auth_admin RESET auth_sessions.max_per_user;
ALTER ROLE supabase_auth_admin RESET auth_sessions.limit_strategy;

-- OAuth: a client's sessions, logged out per client, and deleting the
-- client cascades to its sessions.
\c - supabase_auth_admin
SET TimeZone = 'UTC';
INSERT INTO oauth_clients (id, client_secret_hash, registration_type, redirect_uris, grant_types, client_type,
                           token_endpoint_auth_method)
VALUES ('c0000000-0000-4000-8000-000000000001', NULL, 'manual', 'https://app.example/cb', 'authorization_code', 'public', 'none');
UPDATE sessions SET oauth_client_id = 'c0000000-0000-4000-8000-000000000001'
 WHERE id IN ('a3000000-0000-4000-8000-000000000002', 'a3000000-0000-4000-8000-000000000003');
DELETE FROM sessions WHERE user_id = '00000000-0000-4000-8000-000000000003' AND oauth_client_id = 'c0000000-0000-4000-8000-000000000001'
   AND id = 'a3000000-0000-4000-8000-000000000002';
DELETE FROM oauth_clients WHERE id = 'c0000000-0000-4000-8000-000000000001';
SELECT id FROM sessions WHERE user_id = '00000000-0000-4000-8000-000000000003';

-- Logout in the three scopes.
INSERT INTO "sessions" ("aal", "created_at", "id", "updated_at", "user_id") VALUES
    ('aal1', now(), 'a1000000-0000-4000-8000-000000000002', now(), '00000000-0000-4000-8000-000000000001'),
    ('aal1', now(), 'a1000000-0000-4000-8000-000000000003', now(), '00000000-0000-4000-8000-000000000001'),
    ('aal1', now(), 'a1000000-0000-4000-8000-000000000004', now(), '00000000-0000-4000-8000-000000000001');
DELETE FROM sessions WHERE id = 'a1000000-0000-4000-8000-000000000004';
DELETE FROM sessions WHERE id != 'a1000000-0000-4000-8000-000000000003' AND user_id = '00000000-0000-4000-8000-000000000001';
SELECT id FROM sessions WHERE user_id = '00000000-0000-4000-8000-000000000001';
SELECT count(*) AS tokens_of_logged_out FROM refresh_tokens WHERE session_id = 'a1000000-0000-4000-8000-000000000001';
DELETE FROM sessions WHERE user_id = '00000000-0000-4000-8000-000000000001';
SELECT count(*) AS sessions_of_user_1 FROM sessions WHERE user_id = '00000000-0000-4000-8000-000000000001';

-- GoTrue's cleanup statements.
INSERT INTO "sessions" ("aal", "created_at", "id", "not_after", "updated_at", "user_id") VALUES
    ('aal1', now() - interval '10 days', 'a2000000-0000-4000-8000-000000000009', now() - interval '4 days', now(),
     '00000000-0000-4000-8000-000000000002');
INSERT INTO "refresh_tokens" ("created_at", "instance_id", "revoked", "session_id", "token", "updated_at", "user_id")
VALUES (now(), '00000000-0000-0000-0000-000000000000', false, 'a2000000-0000-4000-8000-000000000009', 'tok-9', now(),
        '00000000-0000-4000-8000-000000000002'),
       (now() - interval '3 days', '00000000-0000-0000-0000-000000000000', true, 'a2000000-0000-4000-8000-000000000002',
        'tok-old', now() - interval '3 days', '00000000-0000-4000-8000-000000000002');
update "refresh_tokens" set revoked = true, updated_at = now() where id in (select "refresh_tokens".id from "refresh_tokens"
    join "sessions" on "refresh_tokens".session_id = "sessions".id where "sessions".not_after < now() - interval '24 hours'
    and "refresh_tokens".revoked is false limit 100 for update skip locked);
delete from "refresh_tokens" where id in (select id from "refresh_tokens" where revoked is true
    and updated_at < now() - interval '24 hours' limit 100 for update skip locked);
delete from "sessions" where id in (select id from "sessions" where not_after < now() - interval '72 hours'
    limit 10 for update skip locked);
SELECT count(*) AS expired_left FROM sessions WHERE id = 'a2000000-0000-4000-8000-000000000009';

-- The extension's own maintenance on GoTrue's tables, as their owner.
\c - postgres
SET TimeZone = 'UTC';
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, not_after) VALUES
    ('a2000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-000000000002', now() - interval '2 days', now(), 'aal1',
     now() - interval '1 day');
CALL auth.prune_expired_sessions(token_grace => '1 hour') \gset pruned_
SELECT :pruned_sessions_deleted AS sessions_deleted, :pruned_tokens_deleted AS tokens_deleted;
SELECT count(*) AS expired_left FROM auth.sessions WHERE not_after < now();
SELECT auth.session_stats() - 'worker' AS stats;
SELECT auth.revoke_session('a2000000-0000-4000-8000-000000000002') AS revoked;
SELECT (auth.create_session('00000000-0000-4000-8000-000000000002', 'aal1', user_agent => 'created by the extension')).user_agent;
SELECT count(*) AS sessions FROM auth.sessions;

-- The devices page on GoTrue's tables: a signed-in user (PostgREST's
-- authenticated role, with USAGE on auth as Supabase grants it) lists their
-- sessions and signs out of them; the deletes run as supabase_auth_admin.
SET client_min_messages = warning;
DO $$ BEGIN CREATE ROLE authenticated NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
RESET client_min_messages;
GRANT USAGE ON SCHEMA auth TO authenticated;
\c - supabase_auth_admin
SET TimeZone = 'UTC';
\i :signin
EXECUTE signin('aal1', now() - interval '2 days', NULL, 'a1000000-0000-4000-8000-000000000011', '198.51.100.4', NULL, NULL,
               NULL, NULL, NULL, NULL, NULL, now(), 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
               '00000000-0000-4000-8000-000000000001');
EXECUTE signin('aal1', now() - interval '1 day', NULL, 'a1000000-0000-4000-8000-000000000012', NULL, NULL, NULL,
               NULL, NULL, NULL, NULL, NULL, now(), 'okhttp/4.12.0', '00000000-0000-4000-8000-000000000001');
INSERT INTO "refresh_tokens" ("created_at", "instance_id", "revoked", "session_id", "token", "updated_at", "user_id")
VALUES (now(), '00000000-0000-0000-0000-000000000000', false, 'a1000000-0000-4000-8000-000000000012', 'tok-12', now(),
        '00000000-0000-4000-8000-000000000001');
\c - postgres
SET TimeZone = 'UTC';
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-000000000001", "role": "authenticated", "session_id": "a1000000-0000-4000-8000-000000000011"}', true) IS NOT NULL AS claims_set;
SET LOCAL ROLE authenticated;
SELECT id, device, ip, validity, is_current FROM auth.my_sessions();
SELECT auth.revoke_my_session('a2000000-0000-4000-8000-00000000000a') AS other_users;
SELECT auth.revoke_my_other_sessions() AS others;
SELECT id, is_current FROM auth.my_sessions();
COMMIT;
SELECT count(*) AS tokens_of_revoked FROM auth.refresh_tokens WHERE session_id = 'a1000000-0000-4000-8000-000000000012';
-- The role is the cluster's (other layers' databases use it too): it stays.
REVOKE USAGE ON SCHEMA auth FROM authenticated;
