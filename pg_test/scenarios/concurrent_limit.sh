#!/usr/bin/env bash
# Many connections create sessions for the same user at once; with
# auth_sessions.max_per_user = 3 the user never has more than 3 sessions:
# not at the end, and not at any moment a concurrent monitor looks.
# Covers both strategies, plain INSERTs from "any client", and REPEATABLE READ
# transactions (whose serialization failures pgbench retries).
# Uses the server named by PGHOST/PGPORT/PGUSER; WORKDIR holds the scripts.
set -euo pipefail
workdir=$1
mkdir -p "$workdir"
. "$(dirname "$0")/../testlib.sh"
db=auth_sessions_concurrency
max=3
hot=00000000-0000-4000-8000-0000000000aa

fresh_db "$db"
psql -d "$db" -c "CREATE EXTENSION auth_sessions" \
     -c "INSERT INTO auth.users (id) VALUES ('$hot')" \
     -c "ALTER DATABASE $db SET auth_sessions.max_per_user = $max"

cat >"$workdir/monitor.sql" <<SQL
SELECT count(*) AS n FROM auth.sessions WHERE user_id = '$hot' \gset
\if :n > $max
SELECT 'over the limit: ' || :n || ' sessions'::text AS failure, 1 / 0;
\endif
SQL
cat >"$workdir/create_session.sql" <<SQL
SELECT auth.create_session('$hot');
SQL
cat >"$workdir/create_session_or_rejected.sql" <<SQL
DO \$\$ BEGIN PERFORM auth.create_session('$hot');
EXCEPTION WHEN configuration_limit_exceeded THEN NULL; END \$\$;
SQL
cat >"$workdir/plain_insert.sql" <<SQL
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal)
VALUES (gen_random_uuid(), '$hot', now(), now(), 'aal1');
SQL
cat >"$workdir/repeatable_read.sql" <<SQL
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM auth.sessions WHERE user_id = '$hot';
SELECT auth.create_session('$hot');
COMMIT;
SQL

failed=0
run() { # name strategy script [pgbench options...]
    local name=$1 strategy=$2 script=$3; shift 3
    psql -d "$db" -c "ALTER DATABASE $db SET auth_sessions.limit_strategy = '$strategy'" \
         -c "DELETE FROM auth.sessions"
    "$bin/pgbench" -n -d "$db" -c 2 -j 1 -t 1500 -f "$workdir/monitor.sql" >"$workdir/$name.monitor.log" 2>&1 &
    local monitor=$!
    local status=0
    "$bin/pgbench" -n -d "$db" -c 16 -j 4 -t 40 "$@" -f "$workdir/$script" >"$workdir/$name.log" 2>&1 || status=$?
    local mstatus=0
    wait $monitor || mstatus=$?
    local n; n=$(psql -d "$db" -c "SELECT count(*) FROM auth.sessions WHERE user_id = '$hot'")
    local processed; processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$workdir/$name.log")
    if [ $status -ne 0 ] || [ $mstatus -ne 0 ] || [ "$n" -ne $max ]; then
        echo "FAILED: $name: $n sessions at the end (want $max), pgbench exit $status, monitor exit $mstatus" >&2
        tail -n 5 "$workdir/$name.log" "$workdir/$name.monitor.log" >&2
        failed=1
    else
        echo "ok: $name: 16 connections, $processed logins, never more than $max sessions (monitor: $(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$workdir/$name.monitor.log") looks)"
    fi
}

run evict_oldest evict_oldest create_session.sql
run reject reject create_session_or_rejected.sql
run plain_insert_evict evict_oldest plain_insert.sql
run repeatable_read_evict evict_oldest repeatable_read.sql --max-tries=1000
exit $failed
