#!/usr/bin/env bash
# Crashes during pruning and limit evictions. A stream of sign-ins, refreshes
# and logouts runs (pgbench) while it keeps a ledger, in the same
# transactions, of the sessions that must exist; meanwhile:
#
#   1. the backend running CALL auth.prune_expired_sessions() is killed with
#      SIGKILL (the postmaster restarts every backend: crash recovery);
#   2. the server is stopped with -m immediate in the middle of pruning;
#   3. and again in the middle of sign-ins that evict sessions over the
#      per-user limit.
#
# After each recovery: amcheck finds every index of the three tables and the
# tables themselves intact (bt_index_parent_check with heapallindexed,
# verify_heapam), no refresh token or amr claim is left without its session,
# every session the ledger names exists, and the background worker (loaded
# with shared_preload_libraries) prunes again.
# Usage: crash.sh WORKDIR (an existing directory the postgres user can use)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../testlib.sh"
work=$1
PORT=$(alloc_port)
SOCK=/tmp/auth_sessions_crash.$PORT
data=$work/data
db=auth_sessions_crash
export PGHOST=$SOCK PGPORT=$PORT
bindir=$(pg_bindir)

cluster_start "$data" "$SOCK" "$PORT" shared_preload_libraries=auth_sessions \
    "auth_sessions.prune_database=$db" auth_sessions.prune_interval=1 restart_after_crash=on
trap 'cluster_stop "$data"' EXIT
fresh_db "$db"
psql -d "$db" <<'SQL'
CREATE EXTENSION auth_sessions;
CREATE EXTENSION amcheck;
-- The sessions the stream has created and not logged out: they must exist.
CREATE TABLE public.ledger (id uuid PRIMARY KEY);
INSERT INTO auth.users (id)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(u), 12, '0'))::uuid FROM generate_series(1, 200) u;
SQL

# N sessions past not_after (with a refresh token and an amr claim each), to prune.
add_expired() {
    psql -d "$db" -c "
        WITH s AS (
            INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, not_after)
            SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(to_hex(1 + g % 200), 12, '0'))::uuid,
                   now() - interval '2 days', now(), 'aal1', now() - interval '1 hour'
              FROM generate_series(1, $1) g
            RETURNING id, user_id, created_at),
        t AS (
            INSERT INTO auth.refresh_tokens (token, user_id, revoked, created_at, updated_at, session_id)
            SELECT md5(random()::text || id::text), user_id::text, false, created_at, now(), id FROM s
            RETURNING session_id)
        INSERT INTO auth.mfa_amr_claims (session_id, created_at, updated_at, authentication_method, id)
        SELECT session_id, now(), now(), 'password', gen_random_uuid() FROM t"
}

# The stream: a sign-in recorded in the ledger, a refresh of a ledger
# session, a logout removing it from the ledger, each in one transaction,
# for users 1 to 100 (no limit applies to them). The eviction stream signs
# in users 101 to 200 under max_per_user = 3, so evictions never touch a
# session the ledger names.
cat >"$work/evict.sql" <<'SQL'
\set u random(101, 200)
BEGIN;
SET LOCAL auth_sessions.max_per_user = 3;
SELECT auth.create_session(('00000000-0000-4000-8000-' || lpad(to_hex(:u), 12, '0'))::uuid);
COMMIT;
SQL
cat >"$work/stream.sql" <<'SQL'
\set u random(1, 100)
BEGIN;
INSERT INTO public.ledger SELECT (auth.create_session(('00000000-0000-4000-8000-' || lpad(to_hex(:u), 12, '0'))::uuid)).id;
COMMIT;
SELECT auth.refresh_session(l.id) FROM public.ledger l ORDER BY random() LIMIT 1;
BEGIN;
WITH gone AS (DELETE FROM public.ledger l WHERE l.id = (SELECT id FROM public.ledger ORDER BY random() LIMIT 1) RETURNING l.id)
SELECT auth.revoke_session(g.id) FROM gone g;
COMMIT;
SQL
stream() { # stream SECONDS [SCRIPT]: runs in the background, pid in $stream_pid
    as_pg "$bindir/pgbench" -h "$SOCK" -p "$PORT" -U postgres -n -c 2 -T "$1" \
        -f "$work/${2:-stream}.sql" "$db" >"$work/${2:-stream}.log" 2>&1 &
    stream_pid=$!
}

# Starts the server again after an immediate shutdown, with the options it
# was started with (pg_ctl restart reads them from postmaster.opts).
restart() {
    as_pg env -u RUST_BACKTRACE "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w restart >/dev/null 2>&1
}

# CALL auth.prune_expired_sessions() at full speed, in the background; its
# client's pid in $call.
prune_in_background() {
    psql -d "$db" -c "SET auth_sessions.prune_busy_share = 1" \
        -c "CALL auth.prune_expired_sessions(batch_size => 200, time_budget => '1 minute')" >/dev/null 2>&1 &
    call=$!
}

wait_ready() {
    local i
    for i in $(seq 1 300); do
        "$bindir/pg_isready" -h "$SOCK" -p "$PORT" -q && psql -d "$db" -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "FAILED: the server did not come back" >&2
    exit 1
}

# amcheck, orphans, the ledger, the worker.
verify() {
    local what=$1 runs
    wait_ready
    local indexes="SELECT i.indexrelid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           WHERE i.indrelid IN ('auth.sessions'::regclass, 'auth.refresh_tokens'::regclass, 'auth.mfa_amr_claims'::regclass)
             AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')"
    # (bt_index_parent_check raises an error on the first inconsistency.)
    check "$what: every index of the three tables is intact (bt_index_parent_check, heapallindexed)" \
        "$(psql -d "$db" -c "SELECT count(*) FROM ($indexes) x")" \
        "$(psql -d "$db" -c "SELECT count(*) FROM (SELECT bt_index_parent_check(x.indexrelid, heapallindexed => true)
                                                  FROM ($indexes) x) y" 2>&1)"
    check "$what: the tables are intact (verify_heapam)" 0 \
        "$(psql -d "$db" -c "SELECT count(*) FROM unnest(ARRAY['auth.sessions', 'auth.refresh_tokens', 'auth.mfa_amr_claims']::regclass[]) t,
                                   verify_heapam(t)")"
    check "$what: no refresh token or amr claim without its session" 0 \
        "$(psql -d "$db" -c "SELECT (SELECT count(*) FROM auth.refresh_tokens r WHERE NOT EXISTS (SELECT FROM auth.sessions s WHERE s.id = r.session_id))
                                  + (SELECT count(*) FROM auth.mfa_amr_claims c WHERE NOT EXISTS (SELECT FROM auth.sessions s WHERE s.id = c.session_id))")"
    check "$what: the ledger names sessions" t "$(psql -d "$db" -c "SELECT count(*) > 0 FROM public.ledger")"
    check "$what: every session the ledger names exists" 0 \
        "$(psql -d "$db" -c "SELECT count(*) FROM public.ledger l WHERE NOT EXISTS (SELECT FROM auth.sessions s WHERE s.id = l.id)")"
    runs=$(psql -d "$db" -c "SELECT worker_runs FROM auth.prune_state")
    add_expired 500
    local i
    local pruned="SELECT worker_runs > $runs AND NOT EXISTS (SELECT FROM auth.sessions WHERE not_after < now())
                    FROM auth.prune_state"
    for i in $(seq 1 300); do
        [ "$(psql -d "$db" -c "$pruned")" = t ] && break
        sleep 0.1
    done
    check "$what: the worker prunes again" t "$(psql -d "$db" -c "$pruned")"
}

log "SIGKILL to the backend running CALL auth.prune_expired_sessions()"
add_expired 60000
stream 8
prune_in_background
pid=
for i in $(seq 1 100); do
    pid=$(psql -d "$db" -c "SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL auth.prune_expired_sessions%' AND state = 'active'" || true)
    [ -n "$pid" ] && break
    sleep 0.05
done
sleep 0.5
[ -n "$pid" ] && kill -9 "$pid"
check "the pruning backend was running when it was killed" true "$([ -n "$pid" ] && echo true || echo false)"
wait "$call" || true
wait "$stream_pid" || true
verify "after SIGKILL"

log "immediate shutdown in the middle of pruning"
add_expired 60000
stream 6
prune_in_background
sleep 1.5
as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w stop >/dev/null
wait "$call" || true
wait "$stream_pid" || true
restart
verify "after an immediate shutdown mid-prune"

log "immediate shutdown in the middle of sign-ins that evict over the limit"
stream 6
ledger_stream=$stream_pid
stream 6 evict
sleep 2
check "sign-ins were evicting sessions" t \
    "$(psql -d "$db" -c "SELECT count(*) > 0 FROM (SELECT user_id FROM auth.sessions WHERE user_id::text > '00000000-0000-4000-8000-000000000064'
                          GROUP BY 1 HAVING count(*) >= 3) x")"
as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w stop >/dev/null
wait "$stream_pid" || true
wait "$ledger_stream" || true
restart
verify "after an immediate shutdown mid-eviction"
check "the limit holds after recovery" 0 \
    "$(psql -d "$db" -c "SELECT count(*) FROM (SELECT user_id FROM auth.sessions WHERE auth.session_is_valid(id)
                           AND user_id::text > '00000000-0000-4000-8000-000000000064' GROUP BY 1 HAVING count(*) > 3) x")"
exit $failed
