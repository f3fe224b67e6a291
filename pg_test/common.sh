# Sourced by the shell tests in pg_test/: psql against the server named by
# PGHOST/PGPORT/PGUSER, quiet and stopping at the first error.
: "${PG_CONFIG:=/usr/lib/postgresql/15/bin/pg_config}"
bin=$("$PG_CONFIG" --bindir)
export PGOPTIONS="-c client_min_messages=warning"
export PGUSER=${PGUSER:-postgres}
psql() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 -At "$@"; }
# fresh_db NAME: drop it if it exists, create it empty.
fresh_db() { psql -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }

# check NAME EXPECTED ACTUAL: prints ok or FAILED (and remembers the failure).
failed=0
check() {
    if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAILED: $1: want [$2], got [$3]" >&2; failed=1; fi
}

# start_standby PRIMARY_SOCK PRIMARY_PORT DATADIR SOCK PORT: a streaming hot
# standby of the primary (pg_basebackup), started on its own unix socket.
# Needs scripts/common.sh (as_pg, pg_bindir, is_root).
start_standby() {
    local psock=$1 pport=$2 data=$3 sock=$4 port=$5
    rm -rf "$data" "$sock"; mkdir -p "$data" "$sock"
    if is_root; then chown postgres: "$data" "$sock"; fi
    chmod 700 "$data"
    as_pg "$(pg_bindir)/pg_basebackup" -h "$psock" -p "$pport" -U postgres -D "$data" -R -X stream -c fast
    rm -f "$data/server.log"
    as_pg env -u RUST_BACKTRACE "$(pg_bindir)/pg_ctl" -D "$data" -o "-k $sock -p $port -c listen_addresses=''" \
        -l "$data/server.log" -w start >/dev/null
}
