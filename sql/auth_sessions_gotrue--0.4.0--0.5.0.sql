-- auth_sessions 0.4.0 -> 0.5.0 (not released yet): attach mode can be created
-- at any point of a Supabase database's life and completes itself when
-- GoTrue's migrations have made what it reads (issue 22, src/attach/). What
-- this creates equals what the 0.5.0 install script creates
-- (pg_test/upgrade/upgrade.sh compares them object by object).
-- (The same script, under the other name, updates the other extension name.)

CREATE FUNCTION "session_tables_missing"() RETURNS TEXT[] /* Vec < String > */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'session_tables_missing_wrapper';
CREATE FUNCTION "require_session_tables"() RETURNS void
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'require_session_tables_wrapper';
CREATE FUNCTION "attach_session_tables"() RETURNS bool /* bool */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'attach_session_tables_wrapper';
CREATE FUNCTION auth.attach_when_ready() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'attach_when_ready_wrapper';

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

GRANT EXECUTE ON FUNCTION auth.session_tables_missing(), auth.require_session_tables() TO PUBLIC;

-- The functions written in SQL say what is missing while the extension
-- waits (SQLSTATE 55000), instead of failing on a table that is not there
-- yet: those written as one SQL query become PL/pgSQL, to call
-- auth.require_session_tables() first. Privileges and comments stay.
CREATE OR REPLACE FUNCTION auth.create_session(
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

CREATE OR REPLACE FUNCTION auth.refresh_session(session_id uuid, user_agent text DEFAULT NULL, ip inet DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION auth.revoke_session(session_id uuid)
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

CREATE OR REPLACE FUNCTION auth.revoke_user_sessions(user_id uuid, scope text DEFAULT 'global', current_session uuid DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION auth.user_sessions(user_id uuid)
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

CREATE OR REPLACE FUNCTION auth.set_session_aal(session_id uuid, aal text, factor_id uuid DEFAULT NULL, method text DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION auth.session_stats() RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    missing text[] := auth.session_tables_missing();
    worker jsonb;
BEGIN
    SELECT pg_catalog.jsonb_build_object(
               'runs', p.worker_runs,
               'last_run_at', p.worker_last_run_at,
               'last_duration', p.worker_last_duration,
               'last_sessions_deleted', p.worker_last_sessions,
               'last_tokens_deleted', p.worker_last_tokens,
               'total_sessions_deleted', p.worker_total_sessions,
               'total_tokens_deleted', p.worker_total_tokens,
               'last_error', p.worker_last_error,
               'last_error_at', p.worker_last_error_at,
               'session_sweeps', p.session_sweeps,
               'token_sweeps', p.token_sweeps)
      INTO worker
      FROM ONLY auth.prune_state p;
    IF pg_catalog.cardinality(missing) OPERATOR(pg_catalog.>) 0 THEN
        RETURN pg_catalog.jsonb_build_object('status', 'waiting', 'waiting_for', pg_catalog.to_jsonb(missing),
                                             'worker', worker);
    END IF;
    RETURN (
    WITH s AS (
        SELECT auth.session_row_validity(s, pg_catalog.now()) AS validity,
               coalesce(s.aal::pg_catalog.text, 'null') AS aal
          FROM ONLY auth.sessions s),
    by_aal AS (SELECT s.validity, s.aal, pg_catalog.count(*) AS n FROM s GROUP BY s.validity, s.aal),
    by_reason AS (
        SELECT b.validity, pg_catalog.sum(b.n) AS total, pg_catalog.jsonb_object_agg(b.aal, b.n ORDER BY b.aal) AS aal
          FROM by_aal b GROUP BY b.validity)
    SELECT pg_catalog.jsonb_build_object(
        'status', 'ready',
        'sessions', coalesce((SELECT pg_catalog.jsonb_object_agg(r.validity, pg_catalog.jsonb_build_object('total', r.total, 'by_aal', r.aal))
                                FROM by_reason r), '{}'::pg_catalog.jsonb),
        'total_sessions', (SELECT pg_catalog.count(*) FROM s),
        'prune_backlog', pg_catalog.jsonb_build_object(
            -- low_aal sessions are invalid but never pruned (they become
            -- valid again when the user's factor goes).
            'invalid_sessions', (SELECT pg_catalog.count(*) FROM s
                                  WHERE s.validity OPERATOR(pg_catalog.<>) ALL (ARRAY['valid', 'low_aal'])),
            'revoked_refresh_tokens', (SELECT pg_catalog.count(*) FROM ONLY auth.refresh_tokens r WHERE r.revoked)),
        'worker', worker));
END
$function$;
COMMENT ON FUNCTION auth.session_stats() IS
    'auth_sessions: status (ready, or waiting with what GoTrue has yet to create), sessions by validity and aal, the prune backlog and the pruning worker''s last run and totals, as jsonb (reads every session)';

-- Attach to GoTrue's tables when they are complete (always in standalone
-- mode): the limit trigger, and the administration rights of their owner
-- (src/attach/). Otherwise the event trigger auth_sessions_attach does it
-- when GoTrue's migrations complete them.
SELECT auth.attach_session_tables();
