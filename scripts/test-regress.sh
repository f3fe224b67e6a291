#!/usr/bin/env bash
# Installs the freshly built extension into the server $PG_CONFIG names, starts
# a throwaway cluster on a unix socket, and runs the server-side test layers:
# the released scripts' checks, the pg_regress suite and the isolation specs in pg_test/, the
# update from every released version (pg_test/upgrade/upgrade.sh), the seed
# comparison, the README's SQL blocks, pg_dump/restore (both modes), GoTrue's own migrations and
# Supabase's bootstrap (skipped, saying so, without the fixtures GOTRUE and
# SUPABASE name), the many-connection limit test, a hot standby,
# the background worker, the settings' load modes, the worker's safety,
# logical replication and crash recovery.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

throwaway test "$(alloc_port)"
OUT=$PWD/target/pg_regress
OUT_ISO=$PWD/target/pg_isolation
BIN=$(pg_bindir)
PKGLIB=$("$PG_CONFIG" --pkglibdir)

# The layers, in the order they run. `make test ONLY="NAME ..."` runs just
# the ones named (unit and pgrx are make's: test-unit, test-pgrx).
LAYERS=(releases regress isolation upgrade seed readme dump gotrue supabase concurrency standby worker settings
        wsafety logical crash)
for name in ${ONLY:-}; do
    [[ " ${LAYERS[*]} unit pgrx " == *" $name "* ]] || die "ONLY: no layer called '$name' (the layers: unit pgrx ${LAYERS[*]})"
done
# layer NAME WHAT COMMAND...: runs COMMAND as layer NAME, unless ONLY leaves it out.
layer() {
    local name=$1 what=$2; shift 2
    [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $name "* ]] || return 0
    log "$name: $what"
    "$@"
}

if [ "${SKIP_INSTALL:-}" != 1 ]; then
    log "building and installing the extension"
    install_extension
fi

layer releases "the released versions: scripts as released, the build generating the current one" \
    scripts/check-releases.sh

log "starting a throwaway cluster in $DIR/data (socket $SOCK, port $PORT)"
cluster_start "$DIR/data" "$SOCK" "$PORT"
trap 'cluster_stop "$DIR/data"' EXIT

export PGHOST=$SOCK PGPORT=$PORT PGUSER=postgres

# run_suite DRIVER INPUTDIR SCHEDULE OUTDIR DBNAME: pg_regress or
# pg_isolation_regress against the throwaway cluster; shows the diffs and
# fails on any failure.
run_suite() {
    local driver=$1 input=$2 schedule=$3 out=$4 db=$5 status=0
    rm -rf "$out"; mkdir -p "$out"
    "$driver" --bindir="$BIN" --inputdir="$input" --outputdir="$out" \
        --host="$SOCK" --port="$PORT" --user=postgres \
        --dbname="$db" --schedule="$schedule" || status=$?
    if [ $status -ne 0 ]; then
        [ -f "$out/regression.diffs" ] && cat "$out/regression.diffs"
        die "$(basename "$driver") failed"
    fi
}

# The regress suite runs in its schedule's order (its tests share one
# database); every test file must be in it, and nothing else.
regress() {
    local listed found
    listed=$(sed -n 's/^test: *//p' pg_test/regress/schedule | tr ' ' '\n' | sed '/^$/d' | sort)
    found=$(for f in pg_test/regress/sql/*.sql; do basename "$f" .sql; done | sort)
    [ "$listed" = "$found" ] ||
        die "pg_test/regress/schedule lists other tests than pg_test/regress/sql/ holds: $(diff <(echo "$listed") <(echo "$found") | sed -n 's/^[<>] //p' | tr '\n' ' ')"
    run_suite "$PKGLIB/pgxs/src/test/regress/pg_regress" pg_test/regress pg_test/regress/schedule "$OUT" \
        auth_sessions_regression
}

# The isolation specs are independent: every pg_test/isolation/specs/*.spec.
isolation() {
    local f schedule=$PWD/target/isolation_schedule
    for f in pg_test/isolation/specs/*.spec; do echo "test: $(basename "$f" .spec)"; done >"$schedule"
    run_suite "$PKGLIB/pgxs/src/test/isolation/pg_isolation_regress" pg_test/isolation "$schedule" "$OUT_ISO" \
        auth_sessions_isolation
}
layer regress "pg_regress: pg_test/regress, in its schedule's order" regress
layer isolation "pg_isolation_regress: every pg_test/isolation/specs/*.spec" isolation
layer upgrade "ALTER EXTENSION ... UPDATE from every released version equals a fresh install (pg_test/upgrade/upgrade.sh)" \
    pg_test/upgrade/upgrade.sh "$OUT/upgrade"
# (It reads the regress layer's output: ONLY="regress seed".)
layer seed "\\d+ auth.sessions equals the seed's (pg_test/scenarios/expected/seed_sessions.describe)" \
    pg_test/scenarios/check_seed.sh "$OUT/results/install_fresh.out"
layer readme "every SQL block of the README runs as written (pg_test/scenarios/readme.sh; the Supabase ones in supabase.sh)" \
    pg_test/scenarios/readme.sh "$DIR/readme"
layer dump "pg_dump and restore keep every row" \
    pg_test/scenarios/dump_restore.sh "$OUT/dump"
layer gotrue "GoTrue's own migrations, attach mode and pg_dump (GOTRUE=${GOTRUE:-../shared/gotrue})" \
    pg_test/scenarios/gotrue.sh "$OUT/gotrue"
layer supabase "Supabase's own bootstrap: the quickstart, created at any point, its roles, PostgREST, pg_cron, the worker, pg_dump (SUPABASE=${SUPABASE:-../shared/supabase})" \
    pg_test/scenarios/supabase.sh "$DIR/supabase"
layer concurrency "many connections never exceed auth_sessions.max_per_user" \
    pg_test/scenarios/concurrent_limit.sh "$OUT/concurrency"
layer standby "a hot standby gives the same answers and sees revocations after replay" \
    pg_test/scenarios/standby.sh "$DIR/standby"
layer worker "the background pruning worker (shared_preload_libraries)" \
    pg_test/scenarios/worker.sh "$DIR/worker"
layer settings "no role can loosen the configured rules, by any route, in any load mode" \
    pg_test/scenarios/settings_routes.sh "$DIR/settings"
layer wsafety "the worker and other roles: search_path, triggers, termination, lock timeout, DROP/RENAME/TEMPLATE" \
    pg_test/scenarios/worker_safety.sh "$DIR/wsafety"
layer logical "logical replication of the auth tables through pruning, evictions, refreshes and logouts" \
    pg_test/scenarios/logical.sh "$DIR/logical"
layer crash "crashes mid-prune and mid-eviction: amcheck, orphans, the ledger, the worker" \
    pg_test/scenarios/crash.sh "$DIR/crash"
