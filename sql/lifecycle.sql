-- auth_sessions: the session lifecycle in SQL, with GoTrue's semantics.
--
-- Validity is decided in one place, the Rust module src/validity.rs, reached
-- from SQL through auth.session_validity / auth.session_is_valid (by id) and
-- auth.session_row_validity (for a row at hand). The functions below only
-- read and write rows; they never compare session timestamps themselves.
--
-- refreshed_at is a `timestamp without time zone` holding UTC wall-clock time:
-- it is written as `now() AT TIME ZONE 'UTC'` and shown converted back, so no
-- answer depends on the session's TimeZone.
--
-- Every function pins search_path and qualifies what it calls, operators
-- included, so nothing on a caller's path is ever picked up.

-- The per-user limit (src/limits.rs). The trigger runs with the rights of
-- whoever inserts (it is not SECURITY DEFINER): counting needs no privilege,
-- evicting is that role's own DELETE. AFTER each stored row, so that it
-- holds for every way rows arrive (multi-row INSERT, COPY, MERGE, an UPDATE
-- moving a session to another user) and a row ON CONFLICT skips evicts
-- nothing. It goes on auth.sessions as soon as GoTrue's tables are complete
-- (src/attach/): now, when they are (always in standalone mode), else
-- when the DDL command that completes them ends (the event trigger below).
-- A trigger is not an extension member, so pg_dump writes it with the
-- table, and a restore's CREATE TRIGGER takes the place of the one the
-- extension put there when the restore created the table: it exists once.
-- (Attaching now, when GoTrue's tables are complete, is this script's last
-- statement: it grants functions created below.)
CREATE EVENT TRIGGER auth_sessions_attach ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE TYPE', 'ALTER TYPE')
    EXECUTE FUNCTION auth.attach_when_ready();
COMMENT ON FUNCTION auth.attach_when_ready() IS
    'auth_sessions: event trigger (auth_sessions_attach): after a command that creates or alters one of GoTrue''s tables or auth.aal_level, attaches to them when they are complete (auth.attach_session_tables)';
COMMENT ON FUNCTION auth.attach_session_tables() IS
    'auth_sessions: when GoTrue''s tables are complete, puts the limit trigger enforce_session_limit on auth.sessions (unless it has one) and grants the owner of auth.sessions the administration functions and settings (what the event trigger auth_sessions_attach does by itself); false while they are not';
COMMENT ON FUNCTION auth.session_tables_missing() IS
    'auth_sessions: what GoTrue has yet to create for the extension to work (tables, the aal_level type, columns); empty when nothing';
COMMENT ON FUNCTION auth.require_session_tables() IS
    'auth_sessions: raises SQLSTATE 55000 naming what of GoTrue''s tables is missing, unless nothing is (the functions written in SQL call it first)';
REVOKE EXECUTE ON FUNCTION auth.attach_session_tables(), auth.attach_when_ready() FROM PUBLIC;

-- What create_session returns: the seed's columns of the new session, with
-- aal as text. A type of the extension's own, so that no signature depends
-- on GoTrue's table or enum (see the install script's header).
CREATE TYPE auth.created_session AS (
    id uuid,
    user_id uuid,
    created_at timestamptz,
    updated_at timestamptz,
    factor_id uuid,
    aal text,
    not_after timestamptz,
    refreshed_at timestamp,
    user_agent text,
    ip inet,
    tag text);
COMMENT ON TYPE auth.created_session IS
    'auth_sessions: the session auth.create_session inserted (aal as text; refreshed_at is UTC wall-clock time, NULL until the first refresh)';

CREATE FUNCTION auth.create_session(
    user_id uuid,
    aal text DEFAULT 'aal1',
    factor_id uuid DEFAULT NULL,
    not_after timestamptz DEFAULT NULL,
    user_agent text DEFAULT NULL,
    ip inet DEFAULT NULL,
    tag text DEFAULT NULL)
RETURNS auth.created_session
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    created auth.created_session;
BEGIN
    PERFORM auth.require_session_tables();
    IF create_session.user_id IS NULL THEN
        RAISE EXCEPTION 'user_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF create_session.aal IS NULL THEN
        RAISE EXCEPTION 'aal must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- The text becomes the column's enum type here (the body names the type;
    -- the signature does not): an unknown level fails with SQLSTATE 22P02.
    INSERT INTO auth.sessions AS s (id, user_id, created_at, updated_at, factor_id, aal, not_after, user_agent, ip, tag)
    VALUES (pg_catalog.gen_random_uuid(), create_session.user_id, pg_catalog.now(), pg_catalog.now(), create_session.factor_id,
            create_session.aal::auth.aal_level, create_session.not_after, create_session.user_agent, create_session.ip,
            create_session.tag)
    RETURNING s.id, s.user_id, s.created_at, s.updated_at, s.factor_id, s.aal::pg_catalog.text, s.not_after,
              s.refreshed_at, s.user_agent, s.ip, s.tag
         INTO created;
    RETURN created;
END
$function$;
COMMENT ON FUNCTION auth.create_session(uuid, text, uuid, timestamptz, text, inet, text) IS
    'auth_sessions: sign-in: inserts a session (new uuid, created_at = updated_at = now(), refreshed_at NULL), subject to auth_sessions.max_per_user; returns it';

-- Refuse changes to the extension's own tables and types that pg_dump would
-- lose (src/guard.rs). Fires for every role and every command tag (a change
-- to a table can be filed under ALTER VIEW, ALTER INDEX, ALTER TYPE, ...);
-- answers from the parse tree and the catalog only, and lets the extension's
-- own scripts through.
CREATE EVENT TRIGGER auth_sessions_guard ON ddl_command_start
    EXECUTE FUNCTION auth.refuse_lost_ddl();
COMMENT ON FUNCTION auth.refuse_lost_ddl() IS
    'auth_sessions: event trigger (auth_sessions_guard): refuses every command that changes the extension''s own tables, their columns or its types (whatever its tag), and CREATE TABLE IF NOT EXISTS of them, whose changes pg_dump would not keep; warns that it does not keep indexes, triggers, rules and policies on them either';

CREATE FUNCTION auth.refresh_session(session_id uuid, user_agent text DEFAULT NULL, ip inet DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    PERFORM auth.require_session_tables();
    UPDATE ONLY auth.sessions AS s
       SET refreshed_at = pg_catalog.now() AT TIME ZONE 'UTC',
           user_agent = refresh_session.user_agent,
           ip = refresh_session.ip,
           updated_at = pg_catalog.now()
     WHERE s.id OPERATOR(pg_catalog.=) refresh_session.session_id
       AND auth.session_row_validity(s, pg_catalog.now()) OPERATOR(pg_catalog.=) 'valid';
    RETURN FOUND;
END
$function$;
COMMENT ON FUNCTION auth.refresh_session(uuid, text, inet) IS
    'auth_sessions: token refresh: when the session is valid, sets refreshed_at (UTC), user_agent, ip and updated_at and returns true; otherwise changes nothing and returns false';

CREATE FUNCTION auth.revoke_session(session_id uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    PERFORM auth.require_session_tables();
    DELETE FROM ONLY auth.sessions AS s WHERE s.id OPERATOR(pg_catalog.=) revoke_session.session_id;
    RETURN FOUND;
END
$function$;
COMMENT ON FUNCTION auth.revoke_session(uuid) IS
    'auth_sessions: logout of one session: deletes it (refresh tokens and amr claims go by cascade); true when it existed';

CREATE FUNCTION auth.revoke_user_sessions(user_id uuid, scope text DEFAULT 'global', current_session uuid DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    revoked integer;
BEGIN
    PERFORM auth.require_session_tables();
    IF revoke_user_sessions.user_id IS NULL THEN
        RAISE EXCEPTION 'user_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF scope IS NULL OR NOT scope OPERATOR(pg_catalog.=) ANY (ARRAY['global', 'local', 'others']) THEN
        RAISE EXCEPTION 'invalid logout scope: %', coalesce(pg_catalog.quote_literal(scope), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The scope is global (all the user''s sessions), local (current_session) or others (all but current_session).';
    END IF;
    IF scope OPERATOR(pg_catalog.<>) 'global' AND current_session IS NULL THEN
        RAISE EXCEPTION 'logout scope % needs current_session', pg_catalog.quote_literal(scope)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM ONLY auth.sessions AS s
     WHERE s.user_id OPERATOR(pg_catalog.=) revoke_user_sessions.user_id
       AND CASE WHEN scope OPERATOR(pg_catalog.=) 'global' THEN true
                WHEN scope OPERATOR(pg_catalog.=) 'local' THEN s.id OPERATOR(pg_catalog.=) current_session
                ELSE s.id OPERATOR(pg_catalog.<>) current_session
           END;
    GET DIAGNOSTICS revoked = ROW_COUNT;
    RETURN revoked;
END
$function$;
COMMENT ON FUNCTION auth.revoke_user_sessions(uuid, text, uuid) IS
    'auth_sessions: logout with GoTrue''s scopes global, local, others: deletes the sessions, returns how many';

CREATE FUNCTION auth.user_sessions(user_id uuid)
RETURNS TABLE (id uuid, created_at timestamptz, updated_at timestamptz, refreshed_at timestamptz,
               not_after timestamptz, aal text, factor_id uuid, user_agent text, ip inet,
               tag text, validity text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    PERFORM auth.require_session_tables();
    RETURN QUERY
    SELECT s.id, s.created_at, s.updated_at, s.refreshed_at AT TIME ZONE 'UTC', s.not_after, s.aal::pg_catalog.text,
           s.factor_id, s.user_agent, s.ip, s.tag,
           auth.session_row_validity(s, pg_catalog.now())
      FROM ONLY auth.sessions AS s
     WHERE s.user_id OPERATOR(pg_catalog.=) user_sessions.user_id
     ORDER BY s.created_at, s.id;
END
$function$;
COMMENT ON FUNCTION auth.user_sessions(uuid) IS
    'auth_sessions: the user''s sessions, oldest first, each with its validity; refreshed_at is converted from UTC';

CREATE FUNCTION auth.set_session_aal(session_id uuid, aal text, factor_id uuid DEFAULT NULL, method text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    PERFORM auth.require_session_tables();
    IF set_session_aal.aal IS NULL THEN
        RAISE EXCEPTION 'aal must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- The text becomes the column's enum type here (the body names the type;
    -- the signature does not): an unknown level fails with SQLSTATE 22P02.
    UPDATE ONLY auth.sessions AS s
       SET aal = set_session_aal.aal::auth.aal_level, factor_id = set_session_aal.factor_id, updated_at = pg_catalog.now()
     WHERE s.id OPERATOR(pg_catalog.=) set_session_aal.session_id
       AND auth.session_row_validity(s, pg_catalog.now()) OPERATOR(pg_catalog.=) 'valid';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF method IS NOT NULL THEN
        -- As GoTrue's AddClaimToSession: one claim per (session, method).
        INSERT INTO auth.mfa_amr_claims AS c (id, session_id, created_at, updated_at, authentication_method)
        VALUES (pg_catalog.gen_random_uuid(), set_session_aal.session_id, pg_catalog.now(), pg_catalog.now(), method)
        ON CONFLICT ON CONSTRAINT mfa_amr_claims_session_id_authentication_method_pkey
        DO UPDATE SET updated_at = excluded.updated_at;
    END IF;
    RETURN true;
END
$function$;
COMMENT ON FUNCTION auth.set_session_aal(uuid, text, uuid, text) IS
    'auth_sessions: step-up after MFA: sets aal and factor_id of a valid session and records the method in auth.mfa_amr_claims; false when the session is not valid';

COMMENT ON FUNCTION auth.session_validity(uuid, timestamptz) IS
    'auth_sessions: valid, not_found, past_not_after, past_timebox, timed_out or low_aal, in GoTrue''s order, at the given time (default now())';
COMMENT ON FUNCTION auth.session_is_valid(uuid, timestamptz) IS
    'auth_sessions: whether the session exists and is valid at the given time (default now()); false for NULL';
COMMENT ON FUNCTION auth.session_row_validity(record, timestamptz) IS
    'auth_sessions: the validity of a row of auth.sessions at hand (as session_validity says it), for queries over many rows: auth.session_row_validity(s)';

-- Nothing here is for PUBLIC: grant EXECUTE to the roles that manage sessions.
REVOKE EXECUTE ON FUNCTION
    auth.create_session(uuid, text, uuid, timestamptz, text, inet, text),
    auth.refresh_session(uuid, text, inet),
    auth.revoke_session(uuid),
    auth.revoke_user_sessions(uuid, text, uuid),
    auth.user_sessions(uuid),
    auth.set_session_aal(uuid, text, uuid, text),
    auth.session_validity(uuid, timestamptz),
    auth.session_is_valid(uuid, timestamptz),
    auth.session_row_validity(record, timestamptz),
    auth.enforce_session_limit()
FROM PUBLIC;

-- The current request's session (src/current.rs), for row-level security.
-- They answer only for the session named in the caller's own claims, so any
-- role may call them (PostgREST's anon and authenticated included).
COMMENT ON FUNCTION auth.session_id() IS
    'auth_sessions: the session_id claim of the current request (request.jwt.claims or request.jwt.claim.session_id); NULL when absent, empty or not a uuid';
COMMENT ON FUNCTION auth.current_session_is_valid() IS
    'auth_sessions: whether the current request''s session exists and is valid now (false without a claim); computed once per snapshot, for RLS policies';
COMMENT ON FUNCTION auth.current_session_aal() IS
    'auth_sessions: the stored aal (aal1, aal2, aal3, as text) of the current request''s session when it is valid, else NULL';
GRANT EXECUTE ON FUNCTION auth.session_id(), auth.current_session_is_valid(), auth.current_session_aal() TO PUBLIC;
-- What GoTrue has yet to create: catalog facts any role may read.
GRANT EXECUTE ON FUNCTION auth.session_tables_missing(), auth.require_session_tables() TO PUBLIC;
-- Their planner support function (src/planner.rs): called by the planner,
-- never from SQL (it takes and returns `internal`).
COMMENT ON FUNCTION auth.current_session_support(internal) IS
    'auth_sessions: planner support function of session_id(), current_session_is_valid() and current_session_aal(): rewrites their calls as (SELECT ...), evaluated once per statement (auth_sessions.hoist_current_session)';
REVOKE EXECUTE ON FUNCTION auth.current_session_support(internal) FROM PUBLIC;
-- Calling them by name needs USAGE on the schema (policies do not); this
-- grants no access to any table or other function in it. Standalone only:
-- in attach mode the schema is GoTrue's, and its privileges stay as they are
-- (Supabase grants USAGE on it to its API roles).
DO $usage$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'auth_sessions_gotrue') THEN
        GRANT USAGE ON SCHEMA auth TO PUBLIC;
    END IF;
END
$usage$;

-- The devices page (src/devices.rs): the caller's own user's sessions,
-- listed and revoked while the caller's own session is valid. They decide
-- who may see and delete what from the current session alone, so any role
-- may call them (PostgREST's authenticated included); the listing reads
-- with no privilege, and the revocations delete as the owner of
-- auth.sessions.
COMMENT ON FUNCTION auth.my_sessions() IS
    'auth_sessions: the sessions of the current session''s user (when the current session is valid; else none), newest activity first, with device label, validity and is_current';
COMMENT ON FUNCTION auth.revoke_my_session(uuid) IS
    'auth_sessions: deletes one session of the current session''s user (a logout; the current one included) when the current session is valid; false otherwise, whether or not the id exists';
COMMENT ON FUNCTION auth.revoke_my_other_sessions() IS
    'auth_sessions: deletes every other session of the current session''s user (GoTrue''s others scope) when the current session is valid; returns how many';
GRANT EXECUTE ON FUNCTION auth.my_sessions(), auth.revoke_my_session(uuid), auth.revoke_my_other_sessions() TO PUBLIC;

-- Attach to GoTrue's tables when they are complete (always in standalone
-- mode): the limit trigger, and the administration rights of their owner
-- (src/attach/). Otherwise the event trigger auth_sessions_attach does it
-- when GoTrue's migrations complete them.
SELECT auth.attach_session_tables();
