#!/usr/bin/env bash
# make bench, part two: the lookup rows and the pruning rounds again, on a
# schema built by GoTrue's own migrations (four more columns on
# auth.sessions, a foreign key to OAuth clients and its index, row security
# enabled) with auth_sessions_gotrue attached to it, and the same dataset.
# Also shows which path a pruning batch takes there (the DEBUG1 report of a
# batch: the direct heap path locks and deletes "directly").
#
# GoTrue's migrations are a fixture outside the repository (GOTRUE, default
# ../shared/gotrue); without it this part is skipped, saying so.
# Usage: SOCK=... PORT=... bench/gotrue.sh (the bench cluster is running).
set -euo pipefail
cd "$(dirname "$0")/.."
fixture=${GOTRUE:-../shared/gotrue}
if [ ! -d "$fixture/migrations" ]; then
    echo "SKIPPED: the GoTrue-schema rows: no GoTrue migrations at $fixture (make bench GOTRUE=/path/to/gotrue runs them)"
    exit 0
fi
fixture=$(cd "$fixture" && pwd)
export PGHOST=$SOCK PGPORT=$PORT
. pg_test/testlib.sh
. pg_test/scenarios/gotrue_migrate.sh
DB=auth_sessions_gotrue_bench
raw() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

log "GoTrue's schema: every migration as supabase_auth_admin, then CREATE EXTENSION auth_sessions_gotrue"
gotrue_roles
gotrue_db "$DB"
gotrue_migrate "$DB" supabase_auth_admin 00 99999999999999
psql -d "$DB" -c "CREATE EXTENSION auth_sessions_gotrue"
echo "auth.sessions on GoTrue's schema: $(psql -d "$DB" -c "SELECT count(*) FROM pg_attribute
    WHERE attrelid = 'auth.sessions'::regclass AND attnum > 0 AND NOT attisdropped") columns, indexes: $(psql -d "$DB" -c \
    "SELECT string_agg(indexrelid::regclass::text, ', ' ORDER BY 1) FROM pg_index WHERE indrelid = 'auth.sessions'::regclass")"
log "loading the same dataset"
raw -v attach=1 -f bench/dataset.sql >/dev/null
raw -f bench/variants.sql >/dev/null
log "GoTrue's schema: lookups (best of several runs each)"
raw -v lookups_only=1 -f bench/measure.sql
log "GoTrue's schema: the path a pruning batch takes"
raw -c "SELECT public.add_expired(1000)" >/dev/null
raw -c "SET client_min_messages = debug1" -c "SELECT auth.prune_sessions(1000) AS deleted" 2>&1 | grep -E "a pruning batch|deleted|^ *[0-9]" || true
log "GoTrue's schema: pruning throughput against one DELETE"
raw -f bench/prune.sql
for round in $(seq 1 "${PRUNE_ROUNDS:-5}"); do
    raw -v round="$round" -f bench/prune_round.sql >/dev/null
done
raw -v no_gotrue_batches=1 -f bench/prune_report.sql
