#!/usr/bin/env bash
# make bench: a release build, a throwaway cluster, the 1M-session dataset,
# and the timings of each variant side by side with its ratio to the baseline
# the issue names. It reports; it does not fail on a number.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

throwaway bench "$(alloc_port)"
DB=auth_sessions_bench
psql() { "$(pg_bindir)/psql" -X -q -h "$SOCK" -p "$PORT" -U postgres "$@"; }

log "building and installing the extension (release)"
PROFILE=release install_extension
log "starting a throwaway cluster in $DIR/data"
# Parallel query off: on a 2-core machine it only adds noise to the ratios.
cluster_start "$DIR/data" "$SOCK" "$PORT" shared_buffers=1GB work_mem=64MB max_parallel_workers_per_gather=0 \
    checkpoint_timeout=30min max_wal_size=8GB
trap 'cluster_stop "$DIR/data"' EXIT
psql -d postgres -c "CREATE DATABASE $DB"
log "loading the dataset (1M sessions, 100k users, 1M refresh tokens)"
psql -d "$DB" -f bench/dataset.sql
psql -d "$DB" -f bench/variants.sql
log "measuring lookups and policies (best of several runs each)"
psql -d "$DB" -f bench/measure.sql
log "the policy in fresh connections (the first statement of each)"
SOCK=$SOCK PORT=$PORT DB=$DB bench/fresh.sh
log "the session check (auth.enforce_session_check) on a table with an auth.uid() = user_id policy, warm and fresh"
SOCK=$SOCK PORT=$PORT DB=$DB bench/session_check.sh
log "sign-ins under the per-user limit (pgbench, tps and WAL per sign-in)"
SOCK=$SOCK PORT=$PORT DB=$DB bench/signin.sh
log "pruning: throughput against one DELETE and GoTrue-style batches"
psql -d "$DB" -f bench/prune.sql
for round in $(seq 1 "${PRUNE_ROUNDS:-5}"); do
    psql -d "$DB" -v round="$round" -f bench/prune_round.sql >/dev/null
done
psql -d "$DB" -f bench/prune_report.sql
log "pruning: latency of a concurrent pgbench stream"
SOCK=$SOCK PORT=$PORT DB=$DB bench/latency.sh
log "pruning: the cost of one call among 1M and 4M live sessions (adds 3M sessions)"
psql -d "$DB" -f bench/prune_scaling.sql
log "the lookups and pruning again on GoTrue's own schema (attach mode)"
SOCK=$SOCK PORT=$PORT bench/gotrue.sh
