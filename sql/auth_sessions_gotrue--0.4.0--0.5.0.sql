-- auth_sessions 0.4.0 -> 0.5.0 (not released yet): attach mode can be created
-- at any point of a Supabase database's life and completes itself when
-- GoTrue's migrations have made what it reads (issue 22, src/attach/); the
-- session check on any table and the coverage report (issue 24). What
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

-- Revocation everywhere (issue 24, src/session_checks/; the same statements as
-- sql/session_checks.sql): the session check as one restrictive policy per
-- table, the coverage report, and the opt-in event trigger for new tables.
CREATE FUNCTION "policy_checks_session"(
	"policy" oid /* pg_sys :: Oid */
) RETURNS bool /* Option < bool > */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'policy_checks_session_wrapper';

CREATE FUNCTION auth.enforce_session_check(rel regclass) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    kind "char";
    secured boolean;
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'rel must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relkind, c.relrowsecurity INTO kind, secured FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) rel;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', rel::pg_catalog.oid USING ERRCODE = 'undefined_table';
    END IF;
    IF kind OPERATOR(pg_catalog.<>) ALL (ARRAY['r', 'p']::"char"[]) THEN
        RAISE EXCEPTION '% is not a table', rel USING ERRCODE = 'wrong_object_type',
            HINT = 'Policies apply to tables; a view runs with its owner''s rights unless it is security_invoker (see auth.session_check_coverage()).';
    END IF;
    IF NOT secured THEN
        RAISE EXCEPTION 'row-level security is not enabled on table %', rel USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'Enabling it would change who sees what: every role but the owner would then see only the rows a policy lets through.',
            HINT = pg_catalog.format('Enable it yourself (ALTER TABLE %s ENABLE ROW LEVEL SECURITY) together with the policies your application needs, then call this again.', rel);
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) 'authenticated') THEN
        RAISE EXCEPTION 'role "authenticated" does not exist' USING ERRCODE = 'undefined_object',
            HINT = 'The session check applies to the role PostgREST and Supabase use for signed-in users; create it first.';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_policy p
                WHERE p.polrelid OPERATOR(pg_catalog.=) rel AND p.polname OPERATOR(pg_catalog.=) 'auth_sessions_valid_session') THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE pg_catalog.format(
            'CREATE POLICY auth_sessions_valid_session ON %s AS RESTRICTIVE FOR ALL TO authenticated '
            'USING (auth.current_session_is_valid()) WITH CHECK (auth.current_session_is_valid())', rel);
    EXCEPTION WHEN duplicate_object THEN
        -- Another transaction added it meanwhile.
        RETURN false;
    END;
    RETURN true;
END
$function$;
COMMENT ON FUNCTION auth.enforce_session_check(regclass) IS
    'auth_sessions: adds the restrictive policy auth_sessions_valid_session (FOR ALL TO authenticated, USING and WITH CHECK auth.current_session_is_valid()) to a table with row security; true if added, false if it was there';

CREATE FUNCTION auth.enforce_session_checks(schema name) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    rel regclass;
    added integer := 0;
BEGIN
    IF schema IS NULL THEN
        RAISE EXCEPTION 'schema must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) schema) THEN
        RAISE EXCEPTION 'schema "%" does not exist', schema USING ERRCODE = 'invalid_schema_name';
    END IF;
    FOR rel IN
        SELECT c.oid::pg_catalog.regclass FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         WHERE n.nspname OPERATOR(pg_catalog.=) schema AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])
           AND c.relrowsecurity
         ORDER BY c.relname
    LOOP
        IF auth.enforce_session_check(rel) THEN
            added := added OPERATOR(pg_catalog.+) 1;
        END IF;
    END LOOP;
    RETURN added;
END
$function$;
COMMENT ON FUNCTION auth.enforce_session_checks(name) IS
    'auth_sessions: auth.enforce_session_check() for every table of the schema with row security enabled; returns how many policies it added (all or none: one table the caller may not change fails the call)';

CREATE FUNCTION auth.drop_session_check(rel regclass) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'rel must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_policy p
                    WHERE p.polrelid OPERATOR(pg_catalog.=) rel AND p.polname OPERATOR(pg_catalog.=) 'auth_sessions_valid_session') THEN
        RETURN false;
    END IF;
    EXECUTE pg_catalog.format('DROP POLICY IF EXISTS auth_sessions_valid_session ON %s', rel);
    RETURN true;
END
$function$;
COMMENT ON FUNCTION auth.drop_session_check(regclass) IS
    'auth_sessions: removes the policy auth.enforce_session_check() added; true if it was there';

COMMENT ON FUNCTION auth.policy_checks_session(oid) IS
    'auth_sessions: whether the policy (pg_policy OID) lets nothing through for a revoked session, decided from its expression trees: what its command applies calls auth.current_session_is_valid() (or compares auth.current_session_aal()) so that it cannot be true otherwise; NULL for no such policy';

-- Whether the policies applying to `who` on table `rel` let nothing through
-- for a revoked session, for every command `who` may run there; and why.
CREATE FUNCTION auth.session_check_status(rel oid, who oid, OUT covered boolean, OUT reason text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
WITH t AS (
    SELECT c.relrowsecurity AS secured, c.relforcerowsecurity AS forced, c.relowner,
           r.rolsuper OR r.rolbypassrls AS bypasses, pg_catalog.pg_has_role(who, c.relowner, 'USAGE') AS owns,
           pg_catalog.pg_get_userbyid(who) AS role_name
      FROM pg_catalog.pg_class c, pg_catalog.pg_roles r
     WHERE c.oid OPERATOR(pg_catalog.=) rel AND r.oid OPERATOR(pg_catalog.=) who
),
applying AS (
    SELECT p.polcmd, p.polpermissive, auth.policy_checks_session(p.oid) AS checks
      FROM pg_catalog.pg_policy p
     WHERE p.polrelid OPERATOR(pg_catalog.=) rel
       AND EXISTS (SELECT FROM pg_catalog.unnest(p.polroles) g(role)
                    WHERE g.role OPERATOR(pg_catalog.=) 0::pg_catalog.oid OR pg_catalog.pg_has_role(who, g.role, 'MEMBER'))
),
commands AS (
    SELECT m.cmd,
           EXISTS (SELECT FROM applying a WHERE NOT a.polpermissive AND a.checks
                      AND a.polcmd OPERATOR(pg_catalog.=) ANY (ARRAY['*'::"char", m.cmd])) AS restricted,
           NOT EXISTS (SELECT FROM applying a WHERE a.polpermissive AND NOT a.checks
                          AND a.polcmd OPERATOR(pg_catalog.=) ANY (ARRAY['*'::"char", m.cmd])) AS all_permissive_check,
           EXISTS (SELECT FROM applying a WHERE a.polpermissive
                      AND a.polcmd OPERATOR(pg_catalog.=) ANY (ARRAY['*'::"char", m.cmd])) AS let_in
      FROM (VALUES ('r'::"char", 'SELECT'), ('a'::"char", 'INSERT'), ('w'::"char", 'UPDATE'), ('d'::"char", 'DELETE')) m(cmd, privilege)
     WHERE pg_catalog.has_table_privilege(who, rel, m.privilege)
        OR (m.privilege OPERATOR(pg_catalog.<>) 'DELETE' AND pg_catalog.has_any_column_privilege(who, rel, m.privilege))
)
SELECT CASE
           WHEN t.bypasses OR (t.owns AND NOT t.forced) THEN false
           WHEN NOT t.secured THEN false
           ELSE coalesce(bool_and(c.restricted OR c.all_permissive_check), true)
       END,
       CASE
           WHEN t.bypasses OR (t.owns AND NOT t.forced) THEN pg_catalog.format('%s bypasses row security', t.role_name)
           WHEN NOT t.secured THEN 'row security off'
           WHEN NOT coalesce(bool_and(c.restricted OR c.all_permissive_check), true) THEN 'no session check in its policies'
           WHEN coalesce(bool_and(c.restricted), false) THEN 'covered by a restrictive policy'
           WHEN NOT coalesce(bool_or(c.let_in), false) THEN 'no policy lets it in'
           ELSE 'every permissive policy checks the session'
       END
  FROM t LEFT JOIN commands c ON true
 GROUP BY t.bypasses, t.owns, t.forced, t.secured, t.role_name
$function$;
COMMENT ON FUNCTION auth.session_check_status(oid, oid) IS
    'auth_sessions: whether the row-security policies applying to a role on a table let nothing through for a revoked session, for every command the role may run there, and why (used by auth.session_check_coverage())';

CREATE FUNCTION auth.session_check_coverage()
RETURNS TABLE (object text, kind text, covered boolean, reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    who oid;
BEGIN
    SELECT r.oid INTO who FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) 'authenticated';
    IF who IS NULL THEN
        RAISE EXCEPTION 'role "authenticated" does not exist' USING ERRCODE = 'undefined_object',
            HINT = 'The report is for the role PostgREST and Supabase use for signed-in users.';
    END IF;
    RETURN QUERY
    WITH reachable AS (
        SELECT c.oid, c.relkind, c.relowner, c.reloptions
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'v', 'm', 'f']::"char"[])
           AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema', 'pg_toast']::name[])
           AND n.nspname::text NOT LIKE 'pg\_temp\_%' AND n.nspname::text NOT LIKE 'pg\_toast\_temp\_%'
           AND pg_catalog.has_schema_privilege(who, n.oid, 'USAGE')
           AND (pg_catalog.has_table_privilege(who, c.oid, 'SELECT, INSERT, UPDATE, DELETE')
                OR pg_catalog.has_any_column_privilege(who, c.oid, 'SELECT, INSERT, UPDATE'))
    ),
    -- The tables a view reads (its rule's dependencies).
    reads AS (
        SELECT DISTINCT rw.ev_class AS view, d.refobjid AS rel
          FROM pg_catalog.pg_rewrite rw
          JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
               AND d.objid OPERATOR(pg_catalog.=) rw.oid AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
               AND d.refobjid OPERATOR(pg_catalog.<>) rw.ev_class
          JOIN pg_catalog.pg_class rc ON rc.oid OPERATOR(pg_catalog.=) d.refobjid
         WHERE rc.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'v', 'm', 'f']::"char"[])
    )
    SELECT x.oid::pg_catalog.regclass::text,
           CASE x.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
                          WHEN 'm' THEN 'materialized view' ELSE 'foreign table' END,
           s.covered, s.reason
      FROM reachable x
     CROSS JOIN LATERAL (
        SELECT st.covered, st.reason FROM auth.session_check_status(x.oid, who) st
         WHERE x.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])
        UNION ALL
        SELECT false, 'no row security: its rows are stored as the query that made it saw them'
         WHERE x.relkind OPERATOR(pg_catalog.=) 'm'
        UNION ALL
        SELECT false, 'row security off' WHERE x.relkind OPERATOR(pg_catalog.=) 'f'
        UNION ALL
        SELECT v.covered, v.reason FROM (
            SELECT CASE
                       WHEN invoker THEN true
                       WHEN o.rolsuper OR o.rolbypassrls THEN false
                       ELSE coalesce(bool_and(rs.covered), true)
                   END AS covered,
                   CASE
                       WHEN invoker THEN 'runs as the caller (security_invoker): the policies of what it reads apply'
                       WHEN o.rolsuper OR o.rolbypassrls
                           THEN pg_catalog.format('view runs as its owner %s who bypasses row security', o.rolname)
                       WHEN coalesce(bool_and(rs.covered), true)
                           THEN pg_catalog.format('view runs as its owner %s; every table it reads checks the session', o.rolname)
                       ELSE pg_catalog.format('view runs as its owner %s; %s', o.rolname,
                            pg_catalog.string_agg(pg_catalog.format('%s: %s', rs.rel::pg_catalog.regclass, rs.reason), '; '
                                                  ORDER BY rs.rel::pg_catalog.regclass::text) FILTER (WHERE NOT rs.covered))
                   END AS reason
              FROM (SELECT EXISTS (SELECT FROM pg_catalog.unnest(x.reloptions) opt
                                    WHERE pg_catalog.lower(opt) OPERATOR(pg_catalog.=) ANY (ARRAY['security_invoker=true',
                                          'security_invoker=on', 'security_invoker=1', 'security_invoker=yes'])) AS invoker) iv
              JOIN pg_catalog.pg_roles o ON o.oid OPERATOR(pg_catalog.=) x.relowner
              LEFT JOIN LATERAL (
                  SELECT r.rel, CASE rc.relkind WHEN 'r' THEN st.covered WHEN 'p' THEN st.covered ELSE false END AS covered,
                         CASE rc.relkind WHEN 'r' THEN st.reason WHEN 'p' THEN st.reason
                                         WHEN 'm' THEN 'a materialized view' ELSE 'a view or foreign table' END AS reason
                    FROM reads r JOIN pg_catalog.pg_class rc ON rc.oid OPERATOR(pg_catalog.=) r.rel
                    LEFT JOIN LATERAL auth.session_check_status(r.rel, x.relowner) st ON true
                   WHERE r.view OPERATOR(pg_catalog.=) x.oid
              ) rs ON NOT iv.invoker
             GROUP BY iv.invoker, o.rolsuper, o.rolbypassrls, o.rolname
        ) v
         WHERE x.relkind OPERATOR(pg_catalog.=) 'v'
     ) s
    UNION ALL
    SELECT p.oid::pg_catalog.regprocedure::text,
           CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
           NOT p.prosecdef,
           CASE WHEN p.prosecdef THEN pg_catalog.format('SECURITY DEFINER function owned by %s', pg_catalog.pg_get_userbyid(p.proowner))
                ELSE 'runs as the caller' END
      FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
     WHERE n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema']::name[])
       AND n.nspname::text NOT LIKE 'pg\_temp\_%'
       AND p.prokind OPERATOR(pg_catalog.=) ANY (ARRAY['f', 'p']::"char"[])
       AND pg_catalog.has_schema_privilege(who, n.oid, 'USAGE')
       AND pg_catalog.has_function_privilege(who, p.oid, 'EXECUTE')
       -- The extension's own functions check the session themselves.
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
                        WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                          AND d.objid OPERATOR(pg_catalog.=) p.oid AND d.deptype OPERATOR(pg_catalog.=) 'e'
                          AND e.extname OPERATOR(pg_catalog.=) ANY (ARRAY['auth_sessions', 'auth_sessions_gotrue']::name[]))
       -- Trigger and event-trigger functions are not called by queries.
       AND p.prorettype OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog.trigger'::pg_catalog.regtype, 'pg_catalog.event_trigger'::pg_catalog.regtype]::oid[])
     ORDER BY 2, 1;
END
$function$;
COMMENT ON FUNCTION auth.session_check_coverage() IS
    'auth_sessions: every table, view, materialized view and function the role authenticated can reach (by privileges, in any schema): whether a revoked session is kept out of it, and why';

-- Opt-in, for tables to come: in the schemas auth_sessions.session_check_schemas
-- names, a table that has row security when a CREATE TABLE or ALTER TABLE
-- ends gets the session check (as the role that ran the command, which owns
-- the table). With the setting empty (the default) it reads one setting per
-- such command and returns. Not while row_security is off, as pg_dump's
-- scripts set it: a restore brings the policies it dumped.
CREATE FUNCTION auth.enforce_session_check_on_ddl() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    schemas text[];
    rel oid;
BEGIN
    SELECT pg_catalog.array_agg(pg_catalog.btrim(s)) INTO schemas
      FROM pg_catalog.unnest(pg_catalog.string_to_array(
               pg_catalog.current_setting('auth_sessions.session_check_schemas', true), ',')) s
     WHERE pg_catalog.btrim(s) OPERATOR(pg_catalog.<>) '';
    IF schemas IS NULL OR pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.=) 'off' THEN
        RETURN;
    END IF;
    FOR rel IN
        SELECT DISTINCT c.oid FROM pg_catalog.pg_event_trigger_ddl_commands() d
          JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid
          JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND NOT d.in_extension
           AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[]) AND c.relrowsecurity
           AND n.nspname::text OPERATOR(pg_catalog.=) ANY (schemas)
    LOOP
        PERFORM auth.enforce_session_check(rel::pg_catalog.regclass);
    END LOOP;
END
$function$;
COMMENT ON FUNCTION auth.enforce_session_check_on_ddl() IS
    'auth_sessions: event trigger (auth_sessions_session_checks): gives a table of a schema named in auth_sessions.session_check_schemas the session check when a CREATE or ALTER TABLE leaves it with row security';
CREATE EVENT TRIGGER auth_sessions_session_checks ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION auth.enforce_session_check_on_ddl();

GRANT EXECUTE ON FUNCTION auth.enforce_session_check(regclass), auth.enforce_session_checks(name),
    auth.drop_session_check(regclass), auth.policy_checks_session(oid), auth.session_check_status(oid, oid),
    auth.session_check_coverage() TO PUBLIC;
REVOKE EXECUTE ON FUNCTION auth.enforce_session_check_on_ddl() FROM PUBLIC;

-- Attach to GoTrue's tables when they are complete (always in standalone
-- mode): the limit trigger, and the administration rights of their owner
-- (src/attach/). Otherwise the event trigger auth_sessions_attach does it
-- when GoTrue's migrations complete them.
SELECT auth.attach_session_tables();
