#!/usr/bin/env bash
# The background pruning worker, with auth_sessions in shared_preload_libraries:
# the launcher starts a pruner for the configured database on its interval,
# which prunes, logs and records what it removed; an error is survived, a
# terminated launcher is restarted, and on a hot standby it only sleeps; in
# attach mode (auth_sessions_gotrue) it prunes GoTrue's tables as their owner.
# Usage: worker.sh WORKDIR (a directory the postgres user can use)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../testlib.sh"
work=$1
P_PORT=$(alloc_port 2); S_PORT=$((P_PORT + 1))
P_SOCK=/tmp/auth_sessions_wprimary.$P_PORT; S_SOCK=/tmp/auth_sessions_wstandby.$S_PORT
primary=$work/primary; standby=$work/standby
db=auth_sessions_worker
on_primary() { PGHOST=$P_SOCK PGPORT=$P_PORT psql -d "$db" "$@"; }
on_standby() { PGHOST=$S_SOCK PGPORT=$S_PORT psql -d "$db" "$@"; }

# wait_for NAME SQL-on-primary-returning-t: polls (bounded) for a condition.
wait_for() {
    for _ in $(seq 1 300); do
        [ "$(on_primary -c "$2" 2>/dev/null)" = t ] && { echo "ok: $1"; return 0; }
        sleep 0.1
    done
    echo "FAILED: $1 (condition never held: $2)" >&2; failed=1
}

# The database must exist before the worker starts: create it, then restart
# with the library preloaded (settings in postgresql.conf, so a base backup
# carries them to the standby).
cluster_start "$primary" "$P_SOCK" "$P_PORT"
trap 'cluster_stop "$standby"; cluster_stop "$primary"' EXIT
PGHOST=$P_SOCK PGPORT=$P_PORT fresh_db "$db"
on_primary -c 'CREATE EXTENSION auth_sessions'
cat >>"$primary/postgresql.conf" <<CONF
shared_preload_libraries = 'auth_sessions'
auth_sessions.prune_database = '$db'
auth_sessions.prune_interval = '1s'
auth_sessions.prune_token_grace = '1h'
# Never yield here, so that each run's work is predictable; yielding is
# tested at the end.
auth_sessions.prune_busy_share = 1
CONF
as_pg "$(pg_bindir)/pg_ctl" -D "$primary" -l "$primary/server.log" -m fast -w restart >/dev/null

expired="INSERT INTO auth.sessions (id, user_id, created_at, not_after)
         SELECT gen_random_uuid(), '00000000-0000-4000-8000-000000000001', now() - interval '1 day', now() - interval '1 hour'
           FROM generate_series(1, 2500)"
on_primary -c "INSERT INTO auth.users VALUES ('00000000-0000-4000-8000-000000000001')" -c "$expired" \
    -c "INSERT INTO auth.sessions (id, user_id, created_at) VALUES ('a0000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-000000000001', now())" \
    -c "INSERT INTO auth.refresh_tokens (token, session_id, revoked, updated_at)
        VALUES ('old', 'a0000000-0000-4000-8000-00000000000a', true, now() - interval '2 hours'),
               ('live', 'a0000000-0000-4000-8000-00000000000a', false, now() - interval '2 hours')"

wait_for "the worker prunes expired sessions and old revoked refresh tokens" \
    "SELECT (SELECT count(*) FROM auth.sessions) = 1 AND (SELECT array_agg(token) FROM auth.refresh_tokens) = '{live}'"
check "the launcher shows up in pg_stat_activity, connected to no database" "auth_sessions launcher|auth_sessions launcher|" \
    "$(on_primary -F'|' -c "SELECT backend_type, application_name, datname FROM pg_stat_activity WHERE backend_type = 'auth_sessions launcher'")"
check "nothing stays connected to the database between runs" 0 \
    "$(on_primary -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND backend_type <> 'client backend'")"
check "it logs what it removed" 1 \
    "$(grep -c 'auth_sessions pruner: removed 2500 sessions and 1 revoked refresh tokens' "$primary/server.log" || true)"
check "session_stats reports its totals" "2500 1" \
    "$(on_primary -c "SELECT (s->>'total_sessions_deleted') || ' ' || (s->>'total_tokens_deleted') FROM (SELECT auth.session_stats()->'worker' s) x")"

# A table gone missing: the worker says once what it waits for, and prunes
# nothing. (The guard against changes pg_dump would lose is off for this.)
on_primary -c "ALTER EVENT TRIGGER auth_sessions_guard DISABLE" \
    -c "ALTER TABLE auth.refresh_tokens RENAME TO refresh_tokens_away" -c "$expired"
for _ in $(seq 1 300); do grep -q 'auth_sessions pruner: auth_sessions is waiting' "$primary/server.log" && break; sleep 0.1; done
check "a missing table is logged as what the worker waits for" 1 \
    "$(grep -c 'auth_sessions pruner: auth_sessions is waiting for GoTrue.s tables: auth.refresh_tokens missing in database "auth_sessions_worker"; nothing to prune yet' "$primary/server.log" || true)"
check "and nothing was pruned meanwhile" 2501 "$(on_primary -c "SELECT count(*) FROM auth.sessions")"
on_primary -c "ALTER TABLE auth.refresh_tokens_away RENAME TO refresh_tokens"

# An error in a run is logged and recorded, and pruning goes on afterwards.
on_primary -c "ALTER TABLE auth.refresh_tokens ALTER COLUMN updated_at TYPE timestamp without time zone"
for _ in $(seq 1 300); do grep -q 'auth_sessions pruner: pruning failed' "$primary/server.log" && break; sleep 0.1; done
check "an error is logged" 1 "$(grep -m1 -c 'auth_sessions pruner: pruning failed' "$primary/server.log" || true)"
wait_for "and recorded" "SELECT worker_last_error IS NOT NULL FROM auth.prune_state"
on_primary -c "ALTER TABLE auth.refresh_tokens ALTER COLUMN updated_at TYPE timestamp with time zone" \
    -c "ALTER EVENT TRIGGER auth_sessions_guard ENABLE"
wait_for "the worker goes on pruning after the error" "SELECT count(*) = 1 FROM auth.sessions"

# Terminated, the launcher is restarted by the postmaster (after 10 seconds).
old_pid=$(on_primary -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'auth_sessions launcher'")
on_primary -c "SELECT pg_terminate_backend($old_pid)" >/dev/null
for _ in $(seq 1 300); do
    pid=$(on_primary -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'auth_sessions launcher'")
    [ -n "$pid" ] && [ "$pid" != "$old_pid" ] && break
    sleep 0.1
done
check "a terminated launcher is restarted" yes "$([ -n "$pid" ] && [ "$pid" != "$old_pid" ] && echo yes || echo no)"

# On a hot standby the launcher runs but only sleeps: no pruner, no write.
start_standby "$P_SOCK" "$P_PORT" "$standby" "$S_SOCK" "$S_PORT"
for _ in $(seq 1 300); do
    [ "$(on_standby -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'auth_sessions launcher'" 2>/dev/null)" = 1 ] && break
    sleep 0.1
done
on_primary -c "$expired" >/dev/null
wait_for "the primary's worker prunes what the standby then replays" "SELECT count(*) = 1 FROM auth.sessions"
sleep 2  # two of the standby launcher's intervals, so that it has woken up
check "the standby's launcher is running" 1 \
    "$(on_standby -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'auth_sessions launcher'")"
check "and has not tried to prune there" 0 \
    "$(grep -c 'auth_sessions pruner\|cannot execute' "$standby/server.log" || true)"

# While another session runs a query, the worker yields between batches
# (src/prune/pacing.rs), still prunes everything, and says how long it paused.
on_primary -c "ALTER SYSTEM SET auth_sessions.prune_busy_share = 0.05" -c "SELECT pg_reload_conf()" >/dev/null
on_primary -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
busy=$!
for _ in $(seq 1 300); do
    [ "$(on_primary -c "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(120)' AND state = 'active'")" = 1 ] && break
    sleep 0.1
done
on_primary -c "$expired" >/dev/null
wait_for "a worker yielding to a busy session still prunes everything" "SELECT count(*) = 1 FROM auth.sessions"
for _ in $(seq 1 300); do grep -q 'ms of it while other sessions were busy' "$primary/server.log" && break; sleep 0.1; done
check "and logs how long it paused" 1 \
    "$(grep -m1 -c 'auth_sessions pruner: removed [0-9]* sessions .* (paused [0-9]* ms of it while other sessions were busy)' "$primary/server.log" || true)"
on_primary -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(120)'" >/dev/null
wait $busy 2>/dev/null || true

# Attach mode: in a database where auth_sessions_gotrue is attached to
# GoTrue-shaped tables owned by auth_admin, the worker prunes them, acting as
# their owner (an audit trigger of auth_admin's records who deleted).
attach_db=auth_sessions_worker_attach
on_attach() { PGHOST=$P_SOCK PGPORT=$P_PORT psql -d "$attach_db" "$@"; }
PGHOST=$P_SOCK PGPORT=$P_PORT fresh_db "$attach_db"
on_attach -f "$here/../fixtures/gotrue_like.sql" >/dev/null
on_attach >/dev/null <<SQL
CREATE EXTENSION auth_sessions_gotrue;
SET ROLE auth_admin;
CREATE TABLE auth.deleted_by (who name);
CREATE FUNCTION auth.note_delete() RETURNS trigger LANGUAGE plpgsql
    AS \$\$ BEGIN INSERT INTO auth.deleted_by VALUES (current_user); RETURN OLD; END \$\$;
CREATE TRIGGER note_delete AFTER DELETE ON auth.sessions FOR EACH ROW EXECUTE FUNCTION auth.note_delete();
RESET ROLE;
INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001');
$expired;
INSERT INTO auth.sessions (id, user_id, created_at) VALUES ('a0000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-000000000001', now());
SQL
on_primary -c "ALTER SYSTEM SET auth_sessions.prune_database = '$attach_db'" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 300); do [ "$(on_attach -c "SELECT count(*) FROM auth.sessions")" = 1 ] && break; sleep 0.1; done
check "attach mode: the worker prunes GoTrue's tables" 1 "$(on_attach -c "SELECT count(*) FROM auth.sessions")"
check "as their owner, auth_admin" "auth_admin 2500" "$(on_attach -c "SELECT string_agg(DISTINCT who, ',') || ' ' || count(*) FROM auth.deleted_by")"
check "and records its run in the extension's own table" t \
    "$(on_attach -c "SELECT worker_total_sessions = 2500 FROM auth.prune_state")"
exit $failed
