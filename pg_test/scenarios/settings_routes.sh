#!/usr/bin/env bash
# No role other than a superuser (or one granted SET on the setting) can make
# a configured timebox, inactivity_timeout, allow_low_aal, max_per_user or limit_strategy
# stop applying, by any route, whichever way the library is loaded: each
# attempt is refused, or the configured rule still applies, or (where the
# configured value was lost) the extension refuses to apply rules at all
# (42501); never a looser rule.
#
# Configured: max_per_user = 1 and limit_strategy = reject (ALTER SYSTEM),
# timebox = 1h (ALTER DATABASE), inactivity_timeout = 30min (ALTER ROLE, by a
# superuser). mallory (an ordinary role) tries to set all four loose (0, 0,
# 0, evict_oldest) by each route, then asks for the validity of a session
# created two hours ago and logs one user in twice. The outcomes are printed
# and compared with pg_test/scenarios/expected/settings_routes.out; a granted role's
# startup option is the control that SET privilege does work.
# Usage: settings_routes.sh WORKDIR (a directory the postgres user can use)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../testlib.sh"
work=$1
PORT=$(alloc_port)
SOCK=/tmp/auth_sessions_settings.$PORT
export PGHOST=$SOCK PGPORT=$PORT
db=auth_sessions_settings
data=$work/data
mkdir -p "$work"

cluster_start "$data" "$SOCK" "$PORT"
trap 'cluster_stop "$data"' EXIT
fresh_db "$db"
as() { local role=$1; shift; PGUSER=$role "$bin/psql" -X -q -At -d "$db" "$@"; }
psql -d "$db" >/dev/null <<SQL
CREATE EXTENSION auth_sessions;
CREATE ROLE mallory LOGIN BYPASSRLS;
CREATE ROLE granted LOGIN BYPASSRLS;
GRANT USAGE ON SCHEMA auth TO mallory, granted;
GRANT SELECT, INSERT, DELETE ON auth.sessions TO mallory, granted;
GRANT EXECUTE ON FUNCTION auth.session_validity(uuid, timestamptz) TO mallory, granted;
GRANT SET ON PARAMETER auth_sessions.max_per_user, auth_sessions.timebox,
    auth_sessions.inactivity_timeout, auth_sessions.limit_strategy, auth_sessions.allow_low_aal TO granted;
INSERT INTO auth.users (id) SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid FROM generate_series(1, 200) g;
INSERT INTO auth.sessions (id, user_id, created_at)
VALUES ('a0000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000001', now() - interval '2 hours');
ALTER SYSTEM SET auth_sessions.max_per_user = 1;
ALTER SYSTEM SET auth_sessions.limit_strategy = 'reject';
ALTER DATABASE $db SET auth_sessions.timebox = '1h';
ALTER DATABASE $db SET auth_sessions.allow_low_aal = '1h';
ALTER ROLE mallory SET auth_sessions.inactivity_timeout = '30min';
ALTER ROLE granted SET auth_sessions.inactivity_timeout = '30min';
-- Functions a superuser made with loose SET clauses, owned by mallory.
CREATE FUNCTION public.loose_validity() RETURNS text LANGUAGE sql
    SET auth_sessions.timebox = 0 SET auth_sessions.inactivity_timeout = 0
    AS \$\$ SELECT auth.session_validity('a0000000-0000-4000-8000-000000000001') \$\$;
CREATE FUNCTION public.loose_logins(u uuid) RETURNS bigint LANGUAGE sql
    SET auth_sessions.max_per_user = 0 SET auth_sessions.limit_strategy = 'evict_oldest'
    AS \$\$ INSERT INTO auth.sessions (id, user_id, created_at) VALUES (gen_random_uuid(), u, now());
          INSERT INTO auth.sessions (id, user_id, created_at) VALUES (gen_random_uuid(), u, now());
          SELECT count(*) FROM auth.sessions WHERE user_id = u \$\$;
ALTER FUNCTION public.loose_validity() OWNER TO mallory;
ALTER FUNCTION public.loose_logins(uuid) OWNER TO mallory;
SELECT pg_reload_conf();
SQL
# New connections see ALTER SYSTEM's values once the postmaster has reloaded.
for _ in $(seq 1 100); do
    [ "$(psql -d "$db" -c "SHOW auth_sessions.max_per_user")" = 1 ] && break
    sleep 0.1
done

LOOSE="SET auth_sessions.max_per_user = 0; SET auth_sessions.timebox = 0;
SET auth_sessions.inactivity_timeout = 0; SET auth_sessions.limit_strategy = 'evict_oldest';
SET auth_sessions.allow_low_aal = 0;"
LOOSE_OPTIONS="-c auth_sessions.max_per_user=0 -c auth_sessions.timebox=0 -c auth_sessions.inactivity_timeout=0 -c auth_sessions.limit_strategy=evict_oldest -c auth_sessions.allow_low_aal=0"
user=1
out=$work/settings_routes.out
: >"$out"

# probe MODE ROUTE ROLE PGOPTIONS BEFORE AFTER: one connection as ROLE that
# runs BEFORE (the route), reads the old session's validity, logs a fresh
# user in twice, runs AFTER; prints what happened, errors by SQLSTATE.
probe() {
    local mode=$1 route=$2 role=$3 options=$4 before=$5 after=$6
    user=$((user + 1))
    local u; u=$(printf '00000000-0000-4000-8000-%012d' "$user")
    local result
    result=$(PGOPTIONS="$options" as "$role" -v VERBOSITY=sqlstate 2>&1 <<SQL || true
$before
SELECT 'validity: ' || auth.session_validity('a0000000-0000-4000-8000-000000000001');
INSERT INTO auth.sessions (id, user_id, created_at) VALUES (gen_random_uuid(), '$u', now());
INSERT INTO auth.sessions (id, user_id, created_at) VALUES (gen_random_uuid(), '$u', now());
$after
SQL
)
    result=$(printf '%s\n' "$result" | sed -e 's/^psql:<stdin>:[0-9]*: //' \
        -e 's/^psql: error: connection to server .* failed: FATAL:  \(permission denied to set parameter\).*/FATAL: \1/' |
        grep -v '^$' | paste -sd ';' | sed 's/;/; /g')
    local n; n=$(psql -d "$db" -c "SELECT count(*) FROM auth.sessions WHERE user_id = '$u'")
    printf '%-16s %-28s %s | logins kept: %s\n' "$mode" "$route" "$result" "$n" | tee -a "$out"
    case "$result" in *"validity: valid"*|*"validity: timed_out"*) [ "$role" = granted ] || { echo "FAILED: a looser validity rule applied" >&2; failed=1; } ;; esac
    if [ "$n" -gt 1 ] && [ "$role" != granted ]; then echo "FAILED: the limit did not hold" >&2; failed=1; fi
}

# routes MODE: every route, in fresh connections.
routes() {
    local mode=$1
    probe "$mode" "SET" mallory "" "$LOOSE" ""
    probe "$mode" "SET LOCAL" mallory "" "BEGIN; ${LOOSE//SET /SET LOCAL }" "COMMIT;"
    probe "$mode" "set_config()" mallory "" \
        "SELECT set_config('auth_sessions.max_per_user', '0', false), set_config('auth_sessions.timebox', '0', false);" ""
    probe "$mode" "startup option" mallory "$LOOSE_OPTIONS" "" ""
    probe "$mode" "ALTER ROLE self SET" mallory "" \
        "ALTER ROLE mallory SET auth_sessions.max_per_user = 0;" ""
    probe "$mode" "own function's SET clause" mallory "" \
        "CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql SET auth_sessions.max_per_user = 0 AS 'SELECT 1';" ""
    probe "$mode" "owned SET-clause functions" mallory "" \
        "SELECT public.loose_validity(); SELECT public.loose_logins('$(printf '00000000-0000-4000-8000-%012d' $((user + 100)))');" ""
    probe "$mode" "granted: startup option" granted "$LOOSE_OPTIONS" "" ""
}

restart_with() {
    as_pg "$(pg_bindir)/pg_ctl" -D "$data" -l "$data/server.log" -m fast -w restart >/dev/null
}

log "library loaded on first call"
routes "first call"
psql -d "$db" -c "ALTER SYSTEM SET session_preload_libraries = 'auth_sessions'"
restart_with
log "session_preload_libraries"
routes "session preload"
psql -d "$db" -c "ALTER SYSTEM RESET session_preload_libraries" \
    -c "ALTER SYSTEM SET shared_preload_libraries = 'auth_sessions'" -c "ALTER SYSTEM SET auth_sessions.prune_interval = 0"
restart_with
log "shared_preload_libraries"
routes "shared preload"

if diff -u "$here/expected/settings_routes.out" "$out"; then
    echo "ok: every route, in every load mode, as expected"
else
    echo "FAILED: outcomes differ from pg_test/scenarios/expected/settings_routes.out" >&2
    failed=1
fi
exit $failed
