#!/usr/bin/env bash
# The background worker, from the point of view of the other roles and
# commands in the cluster (auth_sessions in shared_preload_libraries):
#
#  1. a database owner's search_path, operators and functions never run in
#     the worker, as anyone;
#  2. a trigger that a role other than a superuser put on the tables never
#     runs with superuser rights: the worker prunes as the tables' owner and,
#     as a superuser, refuses such triggers (logged, recorded); with
#     auth_sessions.prune_role it prunes as that role;
#  3. pg_terminate_backend ends a pruner that waits for a lock, at once, and
#     its statements give up after auth_sessions.prune_lock_timeout;
#  4. DROP DATABASE, ALTER DATABASE ... RENAME and CREATE DATABASE ...
#     TEMPLATE work while it prunes the database (it gives way), and a
#     database that is gone is reported once, not every interval.
# Usage: worker_safety.sh WORKDIR (a directory the postgres user can use)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../testlib.sh"
work=$1
PORT=$(alloc_port)
SOCK=/tmp/auth_sessions_wsafety.$PORT
export PGHOST=$SOCK PGPORT=$PORT
data=$work/data
db=auth_sessions_wsafety
mkdir -p "$work"
# Our own statements run with a plain search_path, whatever the database's.
export PGOPTIONS="$PGOPTIONS -c search_path=pg_catalog,public"
q() { psql -d "$db" "$@"; }
log_has() { grep -c -- "$1" "$data/server.log" || true; }

# wait_for NAME DATABASE SQL-returning-t: polls (bounded) for a condition.
wait_for() {
    for _ in $(seq 1 300); do
        [ "$(psql -d "$2" -c "$3" 2>/dev/null)" = t ] && { echo "ok: $1"; return 0; }
        sleep 0.1
    done
    echo "FAILED: $1 (condition never held: $3)" >&2; failed=1
}
# wait_log NAME PATTERN [COUNT]: polls (bounded) for a line in the server log.
wait_log() {
    for _ in $(seq 1 300); do
        [ "$(log_has "$2")" -ge "${3:-1}" ] && { echo "ok: $1"; return 0; }
        sleep 0.1
    done
    echo "FAILED: $1 (never logged: $2)" >&2; failed=1
}
set_conf() { # NAME VALUE...: ALTER SYSTEM SET each pair, then reload
    local args=()
    while [ $# -gt 0 ]; do args+=(-c "ALTER SYSTEM SET $1 = '$2'"); shift 2; done
    psql -d postgres "${args[@]}" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 0.3
}
expired() { # DATABASE N: N sessions past not_after, with a revoked token each
    psql -d "$1" -c "INSERT INTO auth.sessions (id, user_id, created_at, not_after)
        SELECT gen_random_uuid(), '00000000-0000-4000-8000-000000000001', now() - interval '1 day', now() - interval '1 hour'
          FROM generate_series(1, $2)" \
        -c "INSERT INTO auth.refresh_tokens (token, session_id, revoked, updated_at)
        SELECT 'tok-' || s.id, s.id, true, now() FROM auth.sessions s"
}
runs() { q -c "SELECT worker_runs FROM auth.prune_state"; }

cluster_start "$data" "$SOCK" "$PORT"
trap 'jobs -p | xargs -r kill 2>/dev/null; cluster_stop "$data"' EXIT
fresh_db "$db"
psql -d "$db" -c "CREATE EXTENSION auth_sessions" \
    -c "INSERT INTO auth.users VALUES ('00000000-0000-4000-8000-000000000001')"
cat >>"$data/postgresql.conf" <<CONF
shared_preload_libraries = 'auth_sessions'
auth_sessions.prune_database = '$db'
auth_sessions.prune_interval = '1s'
auth_sessions.prune_busy_share = 1
CONF
as_pg "$(pg_bindir)/pg_ctl" -D "$data" -l "$data/server.log" -m fast -w restart >/dev/null

# 1. The database's owner (not a superuser) puts operators and functions
# that unqualified SQL would pick up first on the database's search_path.
psql -d postgres -c "CREATE ROLE dbo LOGIN" -c "ALTER DATABASE $db OWNER TO dbo" >/dev/null
PGUSER=dbo q <<'SQL'
CREATE SCHEMA evil;
CREATE TABLE evil.ran (what text, as_user text);
GRANT INSERT ON evil.ran TO PUBLIC;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.note(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evil.ran VALUES (what, current_user);
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE dbo SUPERUSER';
    END IF;
END $$;
CREATE FUNCTION evil.int84pl(a bigint, b integer) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.note('bigint + int'); RETURN pg_catalog.int84pl(a, b); END $$;
CREATE OPERATOR evil.+ (LEFTARG = bigint, RIGHTARG = integer, FUNCTION = evil.int84pl);
CREATE FUNCTION evil.uuid_eq(a uuid, b uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.note('uuid ='); RETURN pg_catalog.uuid_eq(a, b); END $$;
CREATE OPERATOR evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = evil.uuid_eq);
CREATE FUNCTION evil.tstz_lt(a timestamptz, b timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.note('timestamptz <'); RETURN pg_catalog.timestamptz_lt(a, b); END $$;
CREATE OPERATOR evil.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.tstz_lt);
CREATE FUNCTION evil.text_eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.note('text ='); RETURN pg_catalog.texteq(a, b); END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_eq);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.note('now()'); RETURN pg_catalog.now(); END $$;
SQL
PGUSER=dbo psql -d postgres -c "ALTER DATABASE $db SET search_path = evil, pg_catalog"
# (A database's settings apply to connections made after them: restart, so
# that no worker connected before can escape them.)
as_pg "$(pg_bindir)/pg_ctl" -D "$data" -l "$data/server.log" -m fast -w restart >/dev/null
before=$(runs)
expired "$db" 50
wait_for "with the database's search_path on evil, the worker still prunes" "$db" \
    "SELECT (SELECT count(*) FROM auth.sessions) = 0 AND (SELECT worker_runs FROM auth.prune_state) >= $before + 2"
check "and none of the owner's operators or functions ran" 0 "$(q -c "SELECT count(*) FROM evil.ran")"
check "the database owner is not a superuser" f "$(q -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'dbo'")"
PGUSER=dbo psql -d postgres -c "ALTER DATABASE $db RESET search_path"

# 2. svc may do anything to the tables, including creating triggers on them.
q <<'SQL'
CREATE ROLE svc;
GRANT USAGE ON SCHEMA auth TO svc;
GRANT ALL ON auth.sessions, auth.refresh_tokens, auth.mfa_amr_claims TO svc;
CREATE TABLE public.fired (trigger text, as_user text);
GRANT INSERT ON public.fired TO PUBLIC;
CREATE SCHEMA svc AUTHORIZATION svc;
SET ROLE svc;
CREATE FUNCTION svc.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.fired VALUES (TG_NAME, current_user);
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE svc SUPERUSER';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER svc_sessions AFTER DELETE ON auth.sessions FOR EACH ROW EXECUTE FUNCTION svc.escalate();
SQL
expired "$db" 5
# The tables' owner is the superuser who created the extension: refused.
wait_log "the worker, acting as the tables' (superuser) owner, refuses svc's trigger" \
    'pruning failed: auth_sessions: refusing to fire trigger "svc_sessions" on auth.sessions as superuser "postgres"'
wait_for "and records why" "$db" "SELECT worker_last_error LIKE '%svc_sessions%' FROM auth.prune_state"
check "nothing was pruned" 5 "$(q -c "SELECT count(*) FROM auth.sessions")"
# As a role the administrator names, which is not a superuser, it prunes,
# and svc's trigger runs as that role. (It needs no privilege on the
# extension's own auth.prune_state, written as that table's owner.)
q -c "CREATE ROLE pruner BYPASSRLS" \
  -c "GRANT USAGE ON SCHEMA auth TO pruner" \
  -c "GRANT SELECT, UPDATE, DELETE ON auth.sessions, auth.refresh_tokens TO pruner" >/dev/null
set_conf auth_sessions.prune_role pruner
wait_for "with auth_sessions.prune_role = pruner it prunes" "$db" "SELECT count(*) = 0 FROM auth.sessions"
check "and svc's trigger ran as pruner, never as a superuser" "svc_sessions|pruner" \
    "$(q -F'|' -c "SELECT DISTINCT trigger, as_user FROM public.fired")"
# A trigger on refresh tokens runs as their owner (a superuser) when a
# session's delete cascades to them, whoever prunes: refused too.
q -c "DROP TRIGGER svc_sessions ON auth.sessions" \
  -c "SET ROLE svc" -c "CREATE TRIGGER svc_tokens AFTER DELETE ON auth.refresh_tokens FOR EACH STATEMENT EXECUTE FUNCTION svc.escalate()"
expired "$db" 5
wait_log "a trigger on the tokens, which the cascade would run as their superuser owner, is refused" \
    'refusing to fire trigger "svc_tokens" on auth.refresh_tokens as superuser "postgres"'
check "svc is not a superuser" f "$(q -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'svc'")"
check "nothing was pruned meanwhile" 5 "$(q -c "SELECT count(*) FROM auth.sessions")"
q -c "DROP TRIGGER svc_tokens ON auth.refresh_tokens" >/dev/null
wait_for "once it is dropped, pruning goes on" "$db" "SELECT count(*) = 0 FROM auth.sessions"
set_conf auth_sessions.prune_role ''

# 3. A pruner waiting for a lock ends as soon as it is terminated.
set_conf auth_sessions.prune_lock_timeout 10min
q -c "BEGIN" -c "LOCK TABLE auth.sessions IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
locker=$!
wait_for "a pruner waits for the lock" "$db" \
    "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'auth_sessions pruner' AND wait_event_type = 'Lock'"
pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'auth_sessions pruner' AND wait_event_type = 'Lock'")
q -c "SELECT pg_terminate_backend($pid)" >/dev/null
wait_for "pg_terminate_backend ends it while the lock is still held" "$db" \
    "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"
check "as PostgreSQL ends a background worker" 1 \
    "$(log_has "\[$pid\] FATAL:  terminating background worker \"auth_sessions pruner\" due to administrator command")"
# Its statements give up after auth_sessions.prune_lock_timeout (a pruner
# reads it when it starts: the one waiting now is ended).
set_conf auth_sessions.prune_lock_timeout 100ms
q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'auth_sessions pruner'" >/dev/null
wait_log "with a lock timeout, a run gives up, logged" 'auth_sessions pruner: pruning failed: canceling statement due to lock timeout'
wait_for "and recorded" "$db" "SELECT worker_last_error = 'canceling statement due to lock timeout' FROM auth.prune_state"
kill $locker 2>/dev/null || true; wait $locker 2>/dev/null || true
psql -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'" >/dev/null
set_conf auth_sessions.prune_lock_timeout 1s

# 4. Commands that need the database to themselves, while the worker prunes
# it. A session running a query elsewhere makes the pruner pause between
# batches (a share of 0.01), so that a run lasts its whole time budget.
set_conf auth_sessions.prune_busy_share 0.01 auth_sessions.prune_time_budget 60s auth_sessions.prune_batch_size 10
psql -d postgres -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
busy=$!
prepare() { # DATABASE: with the extension and a backlog, pruned by the worker
    psql -d postgres -c "CREATE DATABASE $1" >/dev/null
    psql -d "$1" -c "CREATE EXTENSION auth_sessions" \
        -c "INSERT INTO auth.users VALUES ('00000000-0000-4000-8000-000000000001')" >/dev/null
    expired "$1" 5000 >/dev/null
    set_conf auth_sessions.prune_database "$1"
}
pruning() { # NAME DATABASE: waits until a pruner is connected to it
    wait_for "$1" postgres \
        "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'auth_sessions pruner' AND datname = '$2'"
}
prepare app2
pruning "a pruner works in app2" app2
check "ALTER DATABASE ... RENAME succeeds while it prunes" ok \
    "$(psql -d postgres -c "ALTER DATABASE app2 RENAME TO app3" >/dev/null && echo ok)"
wait_log "the pruner says it gave way" 'auth_sessions pruner: stopped early: another session needs database "app2" to itself'
set_conf auth_sessions.prune_database app3
pruning "a pruner works in app3" app3
check "CREATE DATABASE ... TEMPLATE succeeds while it prunes the template" ok \
    "$(psql -d postgres -c "CREATE DATABASE app4 TEMPLATE app3" >/dev/null && echo ok)"
pruning "a pruner works in app3 again" app3
check "DROP DATABASE succeeds while it prunes" ok \
    "$(psql -d postgres -c "DROP DATABASE app3" >/dev/null && echo ok)"
wait_log "a database that is gone is reported" \
    'auth_sessions launcher: database "app3" does not exist; waiting for it, or for auth_sessions.prune_database to change'
sleep 3  # three more intervals
check "once, not every interval" 1 \
    "$(log_has 'auth_sessions launcher: database "app3" does not exist')"
check "and nothing fails to connect to it" 0 "$(log_has 'FATAL:  database "app3" does not exist')"
set_conf auth_sessions.prune_database app4
pruning "when the setting names a database again, pruning resumes" app4
kill $busy 2>/dev/null || true; wait $busy 2>/dev/null || true
exit $failed
