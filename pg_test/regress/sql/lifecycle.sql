-- The session lifecycle: validity at every rule boundary, the writes, the
-- settings, the per-user limit and the error code of every rejected input.
\set HIDE_TABLEAM off
\set HIDE_TOAST_COMPRESSION off
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
CREATE EXTENSION auth_sessions;
INSERT INTO auth.users (id) VALUES
    ('00000000-0000-4000-8000-000000000001'), ('00000000-0000-4000-8000-000000000002'),
    ('00000000-0000-4000-8000-000000000003');

-- Sessions with fixed times: created at midnight UTC, one with not_after at
-- 06:00, one refreshed at 00:30 (UTC wall clock, as GoTrue writes it), one
-- never refreshed but with a refresh token updated at 00:45.
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, not_after, refreshed_at, aal) VALUES
    ('a0000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-000000000001',
     '2026-01-01 00:00+00', '2026-01-01 00:00+00', '2026-01-01 06:00+00', NULL, 'aal1'),
    ('b0000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-000000000001',
     '2026-01-01 00:00+00', '2026-01-01 00:00+00', NULL, '2026-01-01 00:30', 'aal1'),
    ('c0000000-0000-4000-8000-00000000000c', '00000000-0000-4000-8000-000000000001',
     '2026-01-01 00:00+00', '2026-01-01 00:00+00', NULL, NULL, 'aal1');
INSERT INTO auth.refresh_tokens (token, user_id, revoked, created_at, updated_at, session_id)
VALUES ('t-c', '00000000-0000-4000-8000-000000000001', false, '2026-01-01 00:00+00', '2026-01-01 00:45+00',
        'c0000000-0000-4000-8000-00000000000c');

-- The instants to check: each deadline and one microsecond after.
CREATE TEMP TABLE cases (label text, id uuid, at timestamptz);
INSERT INTO cases VALUES
    ('1 not_after, at deadline',     'a0000000-0000-4000-8000-00000000000a', '2026-01-01 06:00:00+00'),
    ('2 not_after, 1us after',       'a0000000-0000-4000-8000-00000000000a', '2026-01-01 06:00:00.000001+00'),
    ('3 timebox, at deadline',       'b0000000-0000-4000-8000-00000000000b', '2026-01-01 08:00:00+00'),
    ('4 timebox, 1us after',         'b0000000-0000-4000-8000-00000000000b', '2026-01-01 08:00:00.000001+00'),
    ('5 refreshed, at deadline',     'b0000000-0000-4000-8000-00000000000b', '2026-01-01 01:30:00+00'),
    ('6 refreshed, 1us after',       'b0000000-0000-4000-8000-00000000000b', '2026-01-01 01:30:00.000001+00'),
    ('7 token time, at deadline',    'c0000000-0000-4000-8000-00000000000c', '2026-01-01 01:45:00+00'),
    ('8 token time, 1us after',      'c0000000-0000-4000-8000-00000000000c', '2026-01-01 01:45:00.000001+00'),
    ('9 not_after before timebox',   'a0000000-0000-4000-8000-00000000000a', '2026-01-01 09:00:00+00'),
    ('10 unknown id',                'ffffffff-0000-4000-8000-00000000000f', '2026-01-01 00:00:00+00');

-- With no rule configured only not_after applies.
SHOW auth_sessions.timebox;
SELECT label, auth.session_validity(id, at), auth.session_is_valid(id, at) FROM cases ORDER BY label COLLATE "C";
-- A timebox of 8h alone: valid at created_at + 8h, past_timebox 1us later.
SET auth_sessions.timebox = '8h';
SELECT label, auth.session_validity(id, at), auth.session_is_valid(id, at) FROM cases ORDER BY label COLLATE "C";
-- An inactivity timeout of 1h alone: counted from refreshed_at (UTC), or for a
-- never-refreshed session from its newest refresh token (00:45), not created_at.
RESET auth_sessions.timebox;
SET auth_sessions.inactivity_timeout = '1h';
SELECT label, auth.session_validity(id, at), auth.session_is_valid(id, at) FROM cases ORDER BY label COLLATE "C";
-- Both: GoTrue's order decides which reason is reported.
SET auth_sessions.timebox = '8h';
SELECT label, auth.session_validity(id, at) FROM cases ORDER BY label COLLATE "C";
-- The same answers whatever the session's TimeZone.
CREATE TEMP TABLE answers (zone text, fingerprint text);
SET TimeZone = 'America/New_York';
INSERT INTO answers SELECT current_setting('TimeZone'), string_agg(auth.session_validity(id, at), ',' ORDER BY label COLLATE "C") FROM cases;
SET TimeZone = 'Asia/Kolkata';
INSERT INTO answers SELECT current_setting('TimeZone'), string_agg(auth.session_validity(id, at), ',' ORDER BY label COLLATE "C") FROM cases;
SET TimeZone = 'Pacific/Chatham';
INSERT INTO answers SELECT current_setting('TimeZone'), string_agg(auth.session_validity(id, at), ',' ORDER BY label COLLATE "C") FROM cases;
SET TimeZone = 'UTC';
INSERT INTO answers SELECT current_setting('TimeZone'), string_agg(auth.session_validity(id, at), ',' ORDER BY label COLLATE "C") FROM cases;
SELECT count(DISTINCT fingerprint) AS distinct_answers, count(*) AS zones FROM answers;
SELECT fingerprint FROM answers LIMIT 1;
-- The row form agrees with the id form.
SELECT c.label, auth.session_row_validity(s, c.at) = auth.session_validity(c.id, c.at) AS agrees
  FROM cases c JOIN auth.sessions s ON s.id = c.id ORDER BY c.label COLLATE "C";
-- NULLs: a NULL id is not found (and not valid); a NULL time is an error.
SELECT auth.session_validity(NULL), auth.session_is_valid(NULL);
SELECT auth.session_is_valid('a0000000-0000-4000-8000-00000000000a', NULL);
\echo :LAST_ERROR_SQLSTATE
-- Malformed input.
SELECT auth.session_is_valid('not-a-uuid');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.session_validity('a0000000-0000-4000-8000-00000000000a', 'yesterday-ish');
\echo :LAST_ERROR_SQLSTATE

-- Settings: invalid values are rejected when set, with 22023.
SET auth_sessions.timebox = '-1';
\echo :LAST_ERROR_SQLSTATE
SET auth_sessions.inactivity_timeout = '30m';
\echo :LAST_ERROR_SQLSTATE
SET auth_sessions.max_per_user = -1;
\echo :LAST_ERROR_SQLSTATE
SET auth_sessions.limit_strategy = 'evict_newest';
\echo :LAST_ERROR_SQLSTATE
SET auth_sessions.no_such_setting = 1;
\echo :LAST_ERROR_SQLSTATE
SET auth_sessions.inactivity_timeout = '90min';
SHOW auth_sessions.inactivity_timeout;
SELECT name, setting, unit, context, boot_val FROM pg_settings WHERE name LIKE 'auth\_sessions.%' ORDER BY name;
RESET auth_sessions.timebox;
RESET auth_sessions.inactivity_timeout;

-- create_session: a new uuid, created_at = updated_at = now(), refreshed_at NULL.
BEGIN;
SELECT s.user_id, s.aal, s.created_at = now() AS created_now, s.updated_at = now() AS updated_now,
       s.refreshed_at IS NULL AS never_refreshed, s.user_agent, s.ip, s.tag
  FROM auth.create_session('00000000-0000-4000-8000-000000000002', user_agent => 'ua/1', ip => '192.0.2.1',
                           tag => 'web') AS s;
SELECT count(*) FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000002';
COMMIT;
SELECT auth.create_session(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.create_session('00000000-0000-4000-8000-000000000002', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.create_session('00000000-0000-4000-8000-000000000002', ip => 'not-an-ip');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.create_session('00000000-0000-4000-8000-000000000002', 'aal9');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.create_session('99999999-0000-4000-8000-000000000009');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS unchanged FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000002';

-- refresh_session writes UTC wall-clock time whatever the TimeZone.
CREATE TEMP TABLE s2 AS SELECT id FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000002';
BEGIN;
SET LOCAL TimeZone = 'Pacific/Chatham';
SELECT auth.refresh_session((SELECT id FROM s2), 'ua/2', '198.51.100.7');
SET LOCAL TimeZone = 'UTC';
SELECT refreshed_at = now()::timestamp AS utc_wall_clock, updated_at = now() AS updated_now, user_agent, ip
  FROM auth.sessions WHERE id = (SELECT id FROM s2);
COMMIT;
-- Refreshing without user_agent/ip clears them, as GoTrue does.
SELECT auth.refresh_session((SELECT id FROM s2));
SELECT user_agent, ip FROM auth.sessions WHERE id = (SELECT id FROM s2);
-- An invalid session is not refreshed and not changed; an unknown one neither.
SELECT auth.refresh_session('a0000000-0000-4000-8000-00000000000a');
SELECT refreshed_at, user_agent FROM auth.sessions WHERE id = 'a0000000-0000-4000-8000-00000000000a';
SET auth_sessions.inactivity_timeout = '1h';
SELECT auth.refresh_session('b0000000-0000-4000-8000-00000000000b');
SELECT refreshed_at FROM auth.sessions WHERE id = 'b0000000-0000-4000-8000-00000000000b';
RESET auth_sessions.inactivity_timeout;
SELECT auth.refresh_session('ffffffff-0000-4000-8000-00000000000f');

-- user_sessions: oldest first, each with its validity.
SELECT id, created_at, refreshed_at, validity FROM auth.user_sessions('00000000-0000-4000-8000-000000000001');

-- set_session_aal: step-up records the method, once per (session, method).
SELECT auth.set_session_aal('b0000000-0000-4000-8000-00000000000b', 'aal2',
                            'f0000000-0000-4000-8000-00000000000f', 'totp');
SELECT auth.set_session_aal('b0000000-0000-4000-8000-00000000000b', 'aal2',
                            'f0000000-0000-4000-8000-00000000000f', 'totp');
SELECT aal, factor_id FROM auth.sessions WHERE id = 'b0000000-0000-4000-8000-00000000000b';
SELECT authentication_method, count(*) FROM auth.mfa_amr_claims
 WHERE session_id = 'b0000000-0000-4000-8000-00000000000b' GROUP BY 1;
-- Not on an invalid session; aal must be given.
SELECT auth.set_session_aal('a0000000-0000-4000-8000-00000000000a', 'aal2', NULL, 'totp');
SELECT auth.set_session_aal('b0000000-0000-4000-8000-00000000000b', NULL);
\echo :LAST_ERROR_SQLSTATE

-- revoke: hard deletes; refresh tokens and amr claims go by cascade.
SELECT auth.revoke_session('b0000000-0000-4000-8000-00000000000b');
SELECT auth.revoke_session('b0000000-0000-4000-8000-00000000000b');
SELECT count(*) AS claims_left FROM auth.mfa_amr_claims WHERE session_id = 'b0000000-0000-4000-8000-00000000000b';
INSERT INTO auth.sessions (id, user_id, created_at) SELECT ('d0000000-0000-4000-8000-00000000000' || n)::uuid,
       '00000000-0000-4000-8000-000000000003', timestamptz '2026-01-01 00:00+00' + n * interval '1 minute'
  FROM generate_series(1, 5) n;
SELECT auth.revoke_user_sessions('00000000-0000-4000-8000-000000000003', 'chaos');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.revoke_user_sessions('00000000-0000-4000-8000-000000000003', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.revoke_user_sessions('00000000-0000-4000-8000-000000000003', 'others');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.revoke_user_sessions(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.revoke_user_sessions('00000000-0000-4000-8000-000000000003', 'local', 'd0000000-0000-4000-8000-000000000001');
SELECT auth.revoke_user_sessions('00000000-0000-4000-8000-000000000003', 'local', 'c0000000-0000-4000-8000-00000000000c');
SELECT auth.revoke_user_sessions('00000000-0000-4000-8000-000000000003', 'others', 'd0000000-0000-4000-8000-000000000005');
SELECT id FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000003';
SELECT auth.revoke_user_sessions('00000000-0000-4000-8000-000000000003');
SELECT count(*) AS left_for_user_3 FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000003';

-- The per-user limit applies to every insert, not only create_session.
SET auth_sessions.max_per_user = 2;
SHOW auth_sessions.limit_strategy;
INSERT INTO auth.sessions (id, user_id, created_at) VALUES
    ('e0000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000003', '2026-01-01 00:01+00'),
    ('e0000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000003', '2026-01-01 00:02+00');
-- evict_oldest: the least recently active goes (e1 was refreshed after e2 was created).
UPDATE auth.sessions SET refreshed_at = '2026-01-01 00:03' WHERE id = 'e0000000-0000-4000-8000-000000000001';
INSERT INTO auth.sessions (id, user_id, created_at) VALUES
    ('e0000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000003', '2026-01-01 00:04+00');
SELECT id FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000003' ORDER BY id;
-- reject: the new session is refused with 53400 and nothing is written.
SET auth_sessions.limit_strategy = 'reject';
SELECT auth.create_session('00000000-0000-4000-8000-000000000003');
\echo :LAST_ERROR_SQLSTATE
SELECT id FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000003' ORDER BY id;
-- Invalid sessions do not count: with a timebox the old ones no longer fill the slots.
SET auth_sessions.timebox = '1h';
SELECT count(*) AS created FROM auth.create_session('00000000-0000-4000-8000-000000000003');
SELECT (auth.create_session('00000000-0000-4000-8000-000000000003')).id IS NOT NULL AS second_fits;
SELECT auth.create_session('00000000-0000-4000-8000-000000000003');
\echo :LAST_ERROR_SQLSTATE
SELECT validity, count(*) FROM auth.user_sessions('00000000-0000-4000-8000-000000000003') GROUP BY 1 ORDER BY 1;
RESET auth_sessions.timebox;
RESET auth_sessions.max_per_user;
RESET auth_sessions.limit_strategy;

-- GoTrue's fifth rule, low_aal: a session below the highest AAL its user can
-- reach (aal2 with a verified factor in auth.mfa_factors), once it is older
-- than auth_sessions.allow_low_aal. Without auth.mfa_factors nobody can reach
-- aal2, so nothing is low_aal.
INSERT INTO auth.sessions (id, user_id, created_at, aal) VALUES
    ('d0000000-0000-4000-8000-00000000000d', '00000000-0000-4000-8000-000000000003', '2026-01-01 00:00+00', 'aal1'),
    ('e0000000-0000-4000-8000-00000000000e', '00000000-0000-4000-8000-000000000003', '2026-01-01 00:00+00', NULL),
    ('e1000000-0000-4000-8000-00000000000e', '00000000-0000-4000-8000-000000000003', '2026-01-01 00:00+00', 'aal2');
SET auth_sessions.allow_low_aal = '1h';
SELECT auth.session_validity('d0000000-0000-4000-8000-00000000000d', '2026-01-01 05:00+00') AS without_factors_table;
-- GoTrue's factors table, as far as the rule reads it: user_id and status.
CREATE TYPE auth.factor_status AS ENUM ('unverified', 'verified');
CREATE TABLE auth.mfa_factors (id uuid PRIMARY KEY, user_id uuid NOT NULL, status auth.factor_status NOT NULL);
CREATE INDEX mfa_factors_user_id_idx ON auth.mfa_factors (user_id);
INSERT INTO auth.mfa_factors VALUES ('f1000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000003', 'unverified');
SELECT auth.session_validity('d0000000-0000-4000-8000-00000000000d', '2026-01-01 05:00+00') AS unverified_factor;
UPDATE auth.mfa_factors SET status = 'verified';
SELECT s.id, s.aal, at, auth.session_validity(s.id, at) AS by_id, auth.session_row_validity(s, at) AS by_row
  FROM auth.sessions s,
       (VALUES (timestamptz '2026-01-01 01:00:00+00'), ('2026-01-01 01:00:00.000001+00')) AS t(at)
 WHERE s.id IN ('d0000000-0000-4000-8000-00000000000d', 'e0000000-0000-4000-8000-00000000000e',
                'e1000000-0000-4000-8000-00000000000e')
 ORDER BY s.id, at;
-- The other rules come first.
SET auth_sessions.timebox = '1h';
SELECT auth.session_validity('d0000000-0000-4000-8000-00000000000d', '2026-01-01 05:00+00') AS timebox_first;
RESET auth_sessions.timebox;
-- The limit counts low_aal sessions as invalid, as GoTrue's refresh rejects them;
-- session_stats lists them, and pruning never deletes them.
SELECT auth.session_stats()->'sessions'->'low_aal' AS low_aal_stats,
       auth.session_stats()->'prune_backlog'->'invalid_sessions' AS invalid_backlog;
SELECT auth.prune_sessions(100, '0') AS pruned;
SELECT count(*) AS low_aal_sessions_kept FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000003';
-- The factor removed, the sessions are valid again.
DELETE FROM auth.mfa_factors;
SELECT auth.session_validity('d0000000-0000-4000-8000-00000000000d', now()) AS factor_removed;
-- A table of that name with another shape is refused, not misread.
ALTER TABLE auth.mfa_factors ALTER COLUMN status TYPE text;
SELECT auth.session_validity('d0000000-0000-4000-8000-00000000000d', now());
\echo :LAST_ERROR_SQLSTATE
DROP TABLE auth.mfa_factors;
DROP TYPE auth.factor_status;
SELECT auth.session_validity('d0000000-0000-4000-8000-00000000000d', now()) AS table_dropped;
RESET auth_sessions.allow_low_aal;
DELETE FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-000000000003';

-- session_row_validity takes a whole row (any record with the fields it
-- reads); a row without them, or with other types, is refused.
SELECT auth.session_row_validity(NULL::record) AS null_row;
SELECT auth.session_row_validity(ROW(1, 2));
\echo :LAST_ERROR_SQLSTATE
SELECT auth.session_row_validity(r) FROM (SELECT 1 AS id, 2 AS user_id) r;
\echo :LAST_ERROR_SQLSTATE
SELECT auth.session_row_validity(r, '2026-01-01 00:00+00')
  FROM (SELECT gen_random_uuid() AS id, gen_random_uuid() AS user_id, timestamptz '2026-01-01 00:00+00' AS created_at,
               NULL::timestamptz AS not_after, NULL::timestamp AS refreshed_at, 'aal1'::text AS aal) r;
SELECT auth.session_row_validity(s, NULL) FROM auth.sessions s LIMIT 1;
\echo :LAST_ERROR_SQLSTATE

-- The limit's trigger function runs only as an AFTER INSERT OR UPDATE FOR
-- EACH ROW trigger (or BEFORE INSERT, as defined before 0.4.0) ...
CREATE TABLE public.other_sessions (LIKE auth.sessions);
CREATE TRIGGER wrong AFTER DELETE ON public.other_sessions FOR EACH ROW EXECUTE FUNCTION auth.enforce_session_limit();
INSERT INTO public.other_sessions (id, user_id) VALUES (gen_random_uuid(), gen_random_uuid());
DELETE FROM public.other_sessions;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER wrong ON public.other_sessions;
CREATE TRIGGER wrong AFTER INSERT ON public.other_sessions FOR EACH STATEMENT EXECUTE FUNCTION auth.enforce_session_limit();
INSERT INTO public.other_sessions (id, user_id) VALUES (gen_random_uuid(), gen_random_uuid());
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER wrong ON public.other_sessions;
-- ... and on auth.sessions only: on another table, with the limit on, it
-- would count and evict rows it was not fired for.
CREATE TRIGGER wrong AFTER INSERT ON public.other_sessions FOR EACH ROW EXECUTE FUNCTION auth.enforce_session_limit();
SET auth_sessions.max_per_user = 1;
INSERT INTO public.other_sessions (id, user_id) VALUES (gen_random_uuid(), gen_random_uuid());
\echo :LAST_ERROR_SQLSTATE
RESET auth_sessions.max_per_user;
DROP TABLE public.other_sessions;

-- The trigger is the one difference from the seed in \d+ auth.sessions.
SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'auth.sessions'::regclass AND NOT tgisinternal;

-- Privileges: only the three current-session functions (they answer for the
-- caller's own claims) are executable by PUBLIC.
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_can_execute
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'auth_sessions')
 ORDER BY p.oid::regprocedure::text;

-- Only superusers change the settings, and an ordinary role's value set
-- before the library is loaded in its backend never takes effect.
-- (BYPASSRLS: row security is on with no policies, as in GoTrue, so only
-- roles that bypass it, like Supabase's service_role, see sessions.)
CREATE ROLE auth_sessions_app LOGIN BYPASSRLS;
GRANT USAGE ON SCHEMA auth TO auth_sessions_app;
GRANT SELECT ON auth.sessions, auth.refresh_tokens TO auth_sessions_app;
GRANT EXECUTE ON FUNCTION auth.session_validity(uuid, timestamptz) TO auth_sessions_app;
\c - auth_sessions_app
SET auth_sessions.timebox = '1s';
SELECT auth.session_validity('c0000000-0000-4000-8000-00000000000c', '2026-01-01 00:00:02+00');
SHOW auth_sessions.timebox;
SET auth_sessions.timebox = '1s';
\echo :LAST_ERROR_SQLSTATE
SELECT set_config('auth_sessions.max_per_user', '0', false);
\echo :LAST_ERROR_SQLSTATE
SET auth_sessions.typo = 'x';
\echo :LAST_ERROR_SQLSTATE
\c - postgres
-- ALTER DATABASE ... SET works (and so does postgresql.conf).
SELECT format('ALTER DATABASE %I SET auth_sessions.timebox = %L', current_database(), '1s') \gexec
\c - auth_sessions_app
SHOW auth_sessions.timebox;
SELECT auth.session_validity('c0000000-0000-4000-8000-00000000000c', '2026-01-01 00:00:02+00');
\c - postgres
SELECT format('ALTER DATABASE %I RESET auth_sessions.timebox', current_database()) \gexec
DROP EXTENSION auth_sessions;
DROP SCHEMA auth;
DROP OWNED BY auth_sessions_app;
DROP ROLE auth_sessions_app;
