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
-- evicting is that role's own DELETE.
CREATE TRIGGER enforce_session_limit
    BEFORE INSERT ON auth.sessions
    FOR EACH ROW EXECUTE FUNCTION auth.enforce_session_limit();

CREATE FUNCTION auth.create_session(
    user_id uuid,
    aal auth.aal_level DEFAULT 'aal1',
    factor_id uuid DEFAULT NULL,
    not_after timestamptz DEFAULT NULL,
    user_agent text DEFAULT NULL,
    ip inet DEFAULT NULL,
    tag text DEFAULT NULL)
RETURNS auth.sessions
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    created auth.sessions;
BEGIN
    IF create_session.user_id IS NULL THEN
        RAISE EXCEPTION 'user_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF create_session.aal IS NULL THEN
        RAISE EXCEPTION 'aal must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    INSERT INTO auth.sessions AS s (id, user_id, created_at, updated_at, factor_id, aal, not_after, user_agent, ip, tag)
    VALUES (pg_catalog.gen_random_uuid(), create_session.user_id, pg_catalog.now(), pg_catalog.now(), create_session.factor_id,
            create_session.aal, create_session.not_after, create_session.user_agent, create_session.ip,
            create_session.tag)
    RETURNING s.* INTO created;
    RETURN created;
END
$function$;
COMMENT ON FUNCTION auth.create_session(uuid, auth.aal_level, uuid, timestamptz, text, inet, text) IS
    'auth_sessions: sign-in: inserts a session (new uuid, created_at = updated_at = now(), refreshed_at NULL), subject to auth_sessions.max_per_user';

CREATE FUNCTION auth.refresh_session(session_id uuid, user_agent text DEFAULT NULL, ip inet DEFAULT NULL)
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH refreshed AS (
        UPDATE ONLY auth.sessions AS s
           SET refreshed_at = pg_catalog.now() AT TIME ZONE 'UTC',
               user_agent = $2,
               ip = $3,
               updated_at = pg_catalog.now()
         WHERE s.id OPERATOR(pg_catalog.=) $1
           AND auth.session_row_validity(s.id, s.created_at, s.not_after, s.refreshed_at, pg_catalog.now())
               OPERATOR(pg_catalog.=) 'valid'
        RETURNING 1)
    SELECT EXISTS (SELECT FROM refreshed)
$function$;
COMMENT ON FUNCTION auth.refresh_session(uuid, text, inet) IS
    'auth_sessions: token refresh: when the session is valid, sets refreshed_at (UTC), user_agent, ip and updated_at and returns true; otherwise changes nothing and returns false';

CREATE FUNCTION auth.revoke_session(session_id uuid)
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH revoked AS (DELETE FROM ONLY auth.sessions AS s WHERE s.id OPERATOR(pg_catalog.=) $1 RETURNING 1)
    SELECT EXISTS (SELECT FROM revoked)
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
               not_after timestamptz, aal auth.aal_level, factor_id uuid, user_agent text, ip inet,
               tag text, validity text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT s.id, s.created_at, s.updated_at, s.refreshed_at AT TIME ZONE 'UTC', s.not_after, s.aal,
           s.factor_id, s.user_agent, s.ip, s.tag,
           auth.session_row_validity(s.id, s.created_at, s.not_after, s.refreshed_at, pg_catalog.now())
      FROM ONLY auth.sessions AS s
     WHERE s.user_id OPERATOR(pg_catalog.=) $1
     ORDER BY s.created_at, s.id
$function$;
COMMENT ON FUNCTION auth.user_sessions(uuid) IS
    'auth_sessions: the user''s sessions, oldest first, each with its validity; refreshed_at is converted from UTC';

CREATE FUNCTION auth.set_session_aal(session_id uuid, aal auth.aal_level, factor_id uuid DEFAULT NULL, method text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF set_session_aal.aal IS NULL THEN
        RAISE EXCEPTION 'aal must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE ONLY auth.sessions AS s
       SET aal = set_session_aal.aal, factor_id = set_session_aal.factor_id, updated_at = pg_catalog.now()
     WHERE s.id OPERATOR(pg_catalog.=) set_session_aal.session_id
       AND auth.session_row_validity(s.id, s.created_at, s.not_after, s.refreshed_at, pg_catalog.now())
           OPERATOR(pg_catalog.=) 'valid';
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
COMMENT ON FUNCTION auth.set_session_aal(uuid, auth.aal_level, uuid, text) IS
    'auth_sessions: step-up after MFA: sets aal and factor_id of a valid session and records the method in auth.mfa_amr_claims; false when the session is not valid';

COMMENT ON FUNCTION auth.session_validity(uuid, timestamptz) IS
    'auth_sessions: valid, not_found, past_not_after, past_timebox or timed_out, in GoTrue''s order, at the given time (default now())';
COMMENT ON FUNCTION auth.session_is_valid(uuid, timestamptz) IS
    'auth_sessions: whether the session exists and is valid at the given time (default now()); false for NULL';
COMMENT ON FUNCTION auth.session_row_validity(uuid, timestamptz, timestamptz, timestamp, timestamptz) IS
    'auth_sessions: the validity of a session row at hand (id, created_at, not_after, refreshed_at), for queries over many rows';

-- Nothing here is for PUBLIC: grant EXECUTE to the roles that manage sessions.
REVOKE EXECUTE ON FUNCTION
    auth.create_session(uuid, auth.aal_level, uuid, timestamptz, text, inet, text),
    auth.refresh_session(uuid, text, inet),
    auth.revoke_session(uuid),
    auth.revoke_user_sessions(uuid, text, uuid),
    auth.user_sessions(uuid),
    auth.set_session_aal(uuid, auth.aal_level, uuid, text),
    auth.session_validity(uuid, timestamptz),
    auth.session_is_valid(uuid, timestamptz),
    auth.session_row_validity(uuid, timestamptz, timestamptz, timestamp, timestamptz),
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
    'auth_sessions: the stored aal of the current request''s session when it is valid, else NULL';
GRANT EXECUTE ON FUNCTION auth.session_id(), auth.current_session_is_valid(), auth.current_session_aal() TO PUBLIC;
-- Calling them by name needs USAGE on the schema (policies do not); this
-- grants no access to any table or other function in it.
GRANT USAGE ON SCHEMA auth TO PUBLIC;
