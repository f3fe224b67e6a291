-- Bad input, generated: every function and procedure of the extension is
-- called with malformed and extreme values of each argument's type (one
-- argument at a time, the others ordinary, and once with every argument
-- NULL), every setting is set to malformed and extreme values, and the
-- current-session functions read malformed claims. Each attempt must either
-- succeed or fail with a specific SQLSTATE: never XX000 (an internal error,
-- which a Rust panic or overflow would give), never a crash (which would end
-- this session and the test). Whatever an attempt wrote is rolled back.
-- The test prints how many attempts it made and lists any offender.
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
SET client_min_messages = warning;
CREATE EXTENSION auth_sessions;
INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001');
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal)
VALUES ('a0000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-000000000001', now(), now(), 'aal1');
INSERT INTO auth.refresh_tokens (token, user_id, revoked, created_at, updated_at, session_id)
VALUES ('t', '00000000-0000-4000-8000-000000000001', false, now(), now(), 'a0000000-0000-4000-8000-00000000000a');

-- Values by type; the first of each type is an ordinary one, used for the
-- arguments not being varied.
CREATE TEMP TABLE bad (typ regtype, ord int, expr text);
INSERT INTO bad (typ, ord, expr) SELECT t::regtype, o, e FROM (VALUES
    ('uuid', 1, $$'a0000000-0000-4000-8000-00000000000a'$$),
    ('uuid', 2, 'NULL'),
    ('uuid', 3, $$'00000000-0000-4000-8000-000000000001'$$),
    ('uuid', 4, $$'00000000-0000-0000-0000-000000000000'$$),
    ('uuid', 5, $$'ffffffff-ffff-ffff-ffff-ffffffffffff'$$),
    ('uuid', 6, $$'not-a-uuid'$$),
    ('uuid', 7, $$''$$),
    ('text', 1, $$'aal1'$$),
    ('text', 2, 'NULL'),
    ('text', 3, $$''$$),
    ('text', 4, $$'aal2'$$),
    ('text', 5, $$'aal3'$$),
    ('text', 6, $$'AAL1'$$),
    ('text', 7, $$'aal4'$$),
    ('text', 8, $$'global'$$),
    ('text', 9, $$'local'$$),
    ('text', 10, $$'others'$$),
    ('text', 11, $$' others'$$),
    ('text', 12, $$'totp'$$),
    ('text', 13, $$repeat('x', 1000000)$$),
    ('text', 14, $$'セッション'$$),
    ('timestamptz', 1, 'now()'),
    ('timestamptz', 2, 'NULL'),
    ('timestamptz', 3, $$'infinity'$$),
    ('timestamptz', 4, $$'-infinity'$$),
    ('timestamptz', 5, $$'294276-12-31 23:59:59.999999+00'$$),
    ('timestamptz', 6, $$'4714-11-24 00:00:00+00 BC'$$),
    ('timestamptz', 7, $$'epoch'$$),
    ('timestamptz', 8, $$'294277-01-01 00:00:00+00'$$),
    ('timestamptz', 9, $$'not a time'$$),
    ('interval', 1, $$'1 hour'$$),
    ('interval', 2, 'NULL'),
    ('interval', 3, $$'0'$$),
    ('interval', 4, $$'-1 microsecond'$$),
    ('interval', 5, $$'1 microsecond'$$),
    ('interval', 6, $$'178000000 years'$$),
    ('interval', 7, $$'-178000000 years'$$),
    ('interval', 8, $$'2147483647 days'$$),
    ('interval', 9, $$'-2147483648 days'$$),
    ('interval', 10, $$'2147483647 months 2147483647 days 9223372036854775807 microseconds'$$),
    ('interval', 11, $$'-2147483648 months -2147483648 days -9223372036854775808 microseconds'$$),
    ('interval', 12, $$'1 month -30 days'$$),
    ('interval', 13, $$'nonsense'$$),
    ('integer', 1, '10'),
    ('integer', 2, 'NULL'),
    ('integer', 3, '0'),
    ('integer', 4, '-1'),
    ('integer', 5, '1'),
    ('integer', 6, '2147483647'),
    ('integer', 7, '-2147483648'),
    ('inet', 1, $$'198.51.100.1'$$),
    ('inet', 2, 'NULL'),
    ('inet', 3, $$'0.0.0.0'$$),
    ('inet', 4, $$'::'$$),
    ('inet', 5, $$'255.255.255.255/32'$$),
    ('inet', 6, $$'2001:db8::/32'$$),
    ('inet', 7, $$'not an address'$$),
    ('boolean', 1, 'true'),
    ('boolean', 2, 'NULL'),
    ('boolean', 3, 'false'),
    ('record', 1, '(SELECT s FROM auth.sessions s LIMIT 1)'),
    ('record', 2, 'NULL::record'),
    ('record', 3, 'ROW(1)'),
    ('record', 4, $$ROW('x'::text, 2)$$),
    ('record', 5, $$(SELECT r FROM (SELECT 'x'::text AS id) r)$$),
    ('record', 6, '(SELECT r FROM (SELECT 1 AS id, 2 AS user_id, 3 AS created_at, 4 AS not_after, 5 AS refreshed_at, 6 AS aal) r)'),
    ('record', 7, $$(SELECT r FROM (SELECT s.id, s.user_id, s.created_at, s.not_after, s.refreshed_at, 'aal9'::text AS aal FROM auth.sessions s) r LIMIT 1)$$),
    ('record', 8, $$(SELECT r FROM (SELECT NULL::uuid AS id, NULL::uuid AS user_id, 'infinity'::timestamptz AS created_at, '-infinity'::timestamptz AS not_after, 'infinity'::timestamp AS refreshed_at, NULL::text AS aal) r)$$),
    ('internal', 1, 'NULL'),
    ('regclass', 1, $$'public.bad_input_notes'$$),
    ('regclass', 2, 'NULL'),
    ('regclass', 3, $$0::oid::regclass$$),
    ('regclass', 4, $$4294967295::oid::regclass$$),
    ('regclass', 5, $$'auth.sessions_pkey'$$),
    ('regclass', 6, $$'pg_catalog.pg_class'$$),
    ('regclass', 7, $$'no_such_table'$$),
    ('name', 1, $$'public'$$),
    ('name', 2, 'NULL'),
    ('name', 3, $$''$$),
    ('name', 4, $$repeat('x', 1000)$$),
    ('name', 5, $$'pg_catalog'$$),
    ('oid', 1, '0'),
    ('oid', 2, 'NULL'),
    ('oid', 3, '4294967295'),
    ('oid', 4, '-1')
) v(t, o, e);
-- The table and role the session-check functions work on.
CREATE ROLE authenticated NOLOGIN;
CREATE TABLE public.bad_input_notes (id int);
ALTER TABLE public.bad_input_notes ENABLE ROW LEVEL SECURITY;

CREATE TEMP TABLE attempts (what text, sqlstate text, message text);

-- Runs `stmt` in a subtransaction that is always rolled back and records
-- how it ended: 'ok' or its SQLSTATE.
CREATE FUNCTION pg_temp.attempt(what text, stmt text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE state text; msg text;
BEGIN
    BEGIN
        EXECUTE stmt;
        RAISE EXCEPTION USING ERRCODE = 'TT000';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    INSERT INTO attempts VALUES (what, CASE state WHEN 'TT000' THEN 'ok' ELSE state END, left(msg, 200));
END $$;

-- Every function and procedure: one argument varied at a time, then all NULL.
DO $$
DECLARE p record; i int; b record; args text[]; call text;
BEGIN
    FOR p IN
        -- The arguments a call passes: IN and INOUT ones, and for a
        -- procedure its OUT ones too (as NULL); not a function's OUT or TABLE
        -- columns.
        SELECT f.oid::regproc::text AS name, f.prokind,
               array_agg(a.typ ORDER BY a.n) AS types, array_agg(a.mode ORDER BY a.n) AS modes,
               array_agg(a.argname ORDER BY a.n) AS names
          FROM pg_proc f
          JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = f.oid AND d.deptype = 'e'
          LEFT JOIN LATERAL (
              SELECT t.typ, coalesce(f.proargmodes[t.n], 'i') AS mode, coalesce(f.proargnames[t.n], '') AS argname, t.n
                FROM unnest(coalesce(f.proallargtypes, f.proargtypes::oid[])) WITH ORDINALITY AS t(typ, n)) a
            ON a.mode IN ('i', 'b') OR (a.mode = 'o' AND f.prokind = 'p')
         WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'auth_sessions')
         GROUP BY f.oid, f.prokind
         ORDER BY 1
    LOOP
        IF p.types = ARRAY[NULL]::oid[] THEN
            p.types := '{}'; p.modes := '{}'; p.names := '{}';
        END IF;
        -- The ordinary value of each argument (a user's id for one named for
        -- a user, a scope for a scope, NULL for OUT arguments).
        args := ARRAY(SELECT CASE WHEN p.modes[k] = 'o' THEN 'NULL'
                                  WHEN p.types[k] = 'uuid'::regtype AND p.names[k] LIKE '%user%'
                                  THEN $q$'00000000-0000-4000-8000-000000000001'$q$
                                  WHEN p.types[k] = 'text'::regtype AND p.names[k] = 'scope' THEN $q$'others'$q$
                                  ELSE coalesce((SELECT x.expr FROM bad x WHERE x.typ = p.types[k] AND x.ord = 1), 'NULL')
                             END || '::' || format_type(p.types[k], NULL)
                        FROM generate_subscripts(p.types, 1) k ORDER BY k);
        call := CASE p.prokind WHEN 'p' THEN 'CALL ' ELSE 'SELECT ' END || p.name;
        PERFORM pg_temp.attempt(p.name || '(ordinary)', call || '(' || array_to_string(args, ', ') || ')');
        PERFORM pg_temp.attempt(p.name || '(all NULL)', call || '(' ||
            array_to_string(ARRAY(SELECT 'NULL::' || format_type(t, NULL) FROM unnest(p.types) t), ', ') || ')');
        FOR i IN 1 .. coalesce(cardinality(p.types), 0) LOOP
            CONTINUE WHEN p.modes[i] = 'o';
            FOR b IN SELECT x.expr FROM bad x WHERE x.typ = p.types[i] AND x.ord > 1 ORDER BY x.ord LOOP
                PERFORM pg_temp.attempt(p.name || ' arg ' || i || ' = ' || left(b.expr, 60),
                    call || '(' || array_to_string(args[1:i-1] || (b.expr || '::' || format_type(p.types[i], NULL)) || args[i+1:], ', ') || ')');
            END LOOP;
        END LOOP;
    END LOOP;
END $$;

-- Every setting.
DO $$
DECLARE s record; v text;
BEGIN
    FOR s IN SELECT name FROM pg_settings WHERE name LIKE 'auth\_sessions.%' ORDER BY name LOOP
        FOREACH v IN ARRAY ARRAY['', '-1', '0', '1', '2147483647', '2147483648', '-2147483648', '1e100', '-1e100',
                                 'NaN', 'infinity', 'abc', 'on', 'off', '1 year', '-1 s', '100000000 years', '1 ms',
                                 'global', repeat('9', 10000)] LOOP
            PERFORM pg_temp.attempt('set ' || s.name || ' = ' || left(v, 20),
                format('SELECT set_config(%L, %L, true), auth.session_is_valid(%L)', s.name, v, 'a0000000-0000-4000-8000-00000000000a'));
        END LOOP;
    END LOOP;
END $$;

-- Claims, as PostgREST would set them, read by the current-session functions.
DO $$
DECLARE v text;
BEGIN
    FOREACH v IN ARRAY ARRAY['', 'null', '{}', '[]', '"x"', '{', '{"session_id":null}', '{"session_id":"x"}',
        '{"session_id":123}', '{"session_id":["a"]}', '{"session_id":{"a":1}}',
        '{"session_id":"a0000000-0000-4000-8000-00000000000a"}',
        '{"session_id":"a0000000-0000-4000-8000-00000000000a "}',
        '{"session_id":"00000000-0000-0000-0000-000000000000"}',
        '{"session_id":"\u0000"}', '{"session_id":"\ud800"}',
        '{"session_id":"a0000000-0000-4000-8000-00000000000a","pad":"' || repeat('x', 1000000) || '"}',
        '{"session_id":"a0000000-0000-4000-8000-00000000000a","deep":' || repeat('[', 5000) || repeat(']', 5000) || '}',
        repeat('[', 100000) || repeat(']', 100000)] LOOP
        PERFORM pg_temp.attempt('claims ' || left(v, 40),
            format('SELECT set_config(%L, %L, true), auth.session_id(), auth.current_session_is_valid(), auth.current_session_aal()',
                   'request.jwt.claims', v));
    END LOOP;
END $$;

SELECT count(*) AS attempts, count(*) >= 300 AS at_least_300,
       count(*) FILTER (WHERE sqlstate = 'ok') > 0 AS some_succeeded,
       count(DISTINCT sqlstate) > 3 AS several_sqlstates
  FROM attempts;
-- What each function, setting and the claims gave: attempts, successes, and
-- the SQLSTATEs of the rejections.
SELECT CASE WHEN what LIKE 'set %' THEN split_part(what, ' ', 2)
            WHEN what LIKE 'claims %' THEN 'request.jwt.claims'
            ELSE regexp_replace(what, '(\(| arg ).*$', '') END AS target,
       count(*) AS attempts, count(*) FILTER (WHERE sqlstate = 'ok') AS ok,
       string_agg(DISTINCT sqlstate, ' ') FILTER (WHERE sqlstate <> 'ok') AS rejected_with
  FROM attempts GROUP BY 1 ORDER BY 1;
-- Every call with the ordinary values succeeds, but for the functions that
-- only triggers and the planner may call, and the procedure that commits.
SELECT what, sqlstate FROM attempts WHERE what LIKE '%(ordinary)' AND sqlstate <> 'ok' ORDER BY what;
-- The offenders: internal errors (none expected).
SELECT what, sqlstate, message FROM attempts WHERE sqlstate LIKE 'XX%' ORDER BY what;
-- Nothing was left behind.
SELECT count(*) AS sessions, (SELECT count(*) FROM auth.refresh_tokens) AS tokens,
       (SELECT count(*) FROM pg_policy) AS policies FROM auth.sessions;

DROP TABLE public.bad_input_notes;
DROP EXTENSION auth_sessions;
DROP SCHEMA auth;
DROP ROLE authenticated;
