-- auth_sessions 0.2.0 -> 0.3.0: the devices page (src/devices.rs): signed-in
-- users list their own sessions and sign out of them through the Data API.
-- What this creates equals what auth_sessions--0.3.0.sql creates
-- (pg_test/upgrade.sh compares them object by object).
-- (The same script as auth_sessions--0.2.0--0.3.0.sql, for the attach mode.)

CREATE FUNCTION auth.my_sessions() RETURNS TABLE (
	"id" uuid,
	"created_at" timestamp with time zone,
	"last_active_at" timestamp with time zone,
	"aal" TEXT,
	"user_agent" TEXT,
	"device" TEXT,
	"browser" TEXT,
	"os" TEXT,
	"ip" inet,
	"validity" TEXT,
	"is_current" bool
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'my_sessions_wrapper';

CREATE FUNCTION auth.revoke_my_session("session_id" uuid) RETURNS bool
VOLATILE
LANGUAGE c
AS 'MODULE_PATHNAME', 'revoke_my_session_wrapper';

CREATE FUNCTION auth.revoke_my_other_sessions() RETURNS INT
STRICT VOLATILE
LANGUAGE c
AS 'MODULE_PATHNAME', 'revoke_my_other_sessions_wrapper';

COMMENT ON FUNCTION auth.my_sessions() IS
    'auth_sessions: the sessions of the current session''s user (when the current session is valid; else none), newest activity first, with device label, validity and is_current';
COMMENT ON FUNCTION auth.revoke_my_session(uuid) IS
    'auth_sessions: deletes one session of the current session''s user (a logout; the current one included) when the current session is valid; false otherwise, whether or not the id exists';
COMMENT ON FUNCTION auth.revoke_my_other_sessions() IS
    'auth_sessions: deletes every other session of the current session''s user (GoTrue''s others scope) when the current session is valid; returns how many';
GRANT EXECUTE ON FUNCTION auth.my_sessions(), auth.revoke_my_session(uuid), auth.revoke_my_other_sessions() TO PUBLIC;
