#!/usr/bin/env bash
# Logical replication of the auth tables: a publication on users, sessions,
# refresh tokens and amr claims, and a subscriber cluster (both on unix
# sockets, as the postgres OS user). After pruning (through the direct heap
# path: the batch's DEBUG1 report says so), limit evictions, refreshes and
# logouts on the publisher, the subscriber's tables equal the publisher's,
# row for row.
# Usage: logical.sh WORKDIR (an existing directory the postgres user can use)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../testlib.sh"
work=$1
P_PORT=$(alloc_port 2); S_PORT=$((P_PORT + 1))
P_SOCK=/tmp/auth_sessions_pub.$P_PORT; S_SOCK=/tmp/auth_sessions_sub.$S_PORT
db=auth_sessions_logical

cluster_start "$work/publisher" "$P_SOCK" "$P_PORT" wal_level=logical
cluster_start "$work/subscriber" "$S_SOCK" "$S_PORT"
trap 'cluster_stop "$work/subscriber"; cluster_stop "$work/publisher"' EXIT
on_pub() { PGHOST=$P_SOCK PGPORT=$P_PORT psql -d "$db" "$@"; }
on_sub() { PGHOST=$S_SOCK PGPORT=$S_PORT psql -d "$db" "$@"; }

PGHOST=$P_SOCK PGPORT=$P_PORT fresh_db "$db"
PGHOST=$S_SOCK PGPORT=$S_PORT fresh_db "$db"
on_pub -c "CREATE EXTENSION auth_sessions" -f "$here/../fixtures/populate.sql" \
    -c "CREATE PUBLICATION auth_sessions_pub FOR TABLE auth.users, auth.sessions, auth.refresh_tokens, auth.mfa_amr_claims"
on_sub -c "CREATE EXTENSION auth_sessions" \
    -c "CREATE SUBSCRIPTION auth_sessions_sub CONNECTION 'host=$P_SOCK port=$P_PORT dbname=$db user=postgres'
        PUBLICATION auth_sessions_pub"

# Waits until the subscriber has applied everything the publisher has written.
caught_up() {
    local lsn i
    lsn=$(on_pub -c "SELECT pg_current_wal_lsn()")
    for i in $(seq 1 300); do
        if [ "$(on_sub -c "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")" = 0 ] &&
           [ "$(on_pub -c "SELECT coalesce(bool_and(replay_lsn >= '$lsn'), false) FROM pg_stat_replication
                             WHERE application_name = 'auth_sessions_sub'")" = t ]; then
            return 0
        fi
        sleep 0.1
    done
    echo "FAILED: the subscriber did not catch up in 30 s" >&2
    exit 1
}

# Every table's rows, in a fixed order, as one digest; and the counts.
tables="auth.users auth.sessions auth.refresh_tokens auth.mfa_amr_claims"
digest() {
    local t
    for t in $tables; do
        "$@" -c "SELECT '$t', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM $t x"
    done
}
same() {
    caught_up
    check "$1: the subscriber's rows equal the publisher's" "$(digest on_pub)" "$(digest on_sub)"
}

caught_up
same "after the initial copy"

# Pruning: sessions past not_after, then timeboxed ones (the sweep), with
# their refresh tokens and amr claims, through the direct heap path.
report=$(on_pub -c "SET client_min_messages = debug1" -c "SELECT auth.prune_sessions(1000)" 2>&1 >/dev/null || true)
check "a pruning batch takes the direct heap path" \
    "past not_after locked directly, children taken Directly" \
    "$(echo "$report" | sed -n 's/.*(\(past not_after locked directly\)), \(children taken Directly\).*/\1, \2/p' | head -1)"
check "pruning deleted the sessions past not_after" 0 \
    "$(on_pub -c "SELECT count(*) FROM auth.sessions WHERE not_after < now()")"
same "after pruning sessions past not_after"
on_pub -c "SET auth_sessions.timebox = '300d'" -c "SELECT auth.prune_sessions(50)" >/dev/null
on_pub -c "CALL auth.prune_expired_sessions(grace => '0', token_grace => '0')" >/dev/null
same "after the sweep and the procedure"

# Sign-ins under a per-user limit (evictions), refreshes, logouts.
on_pub <<'SQL' >/dev/null
SET auth_sessions.max_per_user = 2;
SELECT auth.create_session(u.id, 'aal1') FROM auth.users u, generate_series(1, 3) g ORDER BY u.id, g;
SELECT auth.refresh_session(s.id, 'refreshed agent', '192.0.2.1') FROM auth.sessions s WHERE s.user_id::text LIKE '%1';
SELECT auth.revoke_session(s.id) FROM auth.sessions s WHERE s.user_id::text LIKE '%2';
SELECT auth.revoke_user_sessions(u.id) FROM auth.users u WHERE u.id::text LIKE '%3';
SQL
check "the limit held on the publisher" 0 \
    "$(on_pub -c "SELECT count(*) FROM (SELECT user_id FROM auth.sessions GROUP BY 1 HAVING count(*) > 2) x")"
same "after sign-ins with evictions, refreshes and logouts"
check "and nothing was left without its session on the subscriber" 0 \
    "$(on_sub -c "SELECT (SELECT count(*) FROM auth.refresh_tokens r WHERE NOT EXISTS (SELECT FROM auth.sessions s WHERE s.id = r.session_id))
                       + (SELECT count(*) FROM auth.mfa_amr_claims c WHERE NOT EXISTS (SELECT FROM auth.sessions s WHERE s.id = c.session_id))")"
on_sub -c "DROP SUBSCRIPTION auth_sessions_sub" >/dev/null
exit $failed
