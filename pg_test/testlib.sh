# Sourced by every test script in pg_test/ (the one file they source): the
# harness's scripts/common.sh (where PostgreSQL is, clusters, alloc_port),
# then psql against the server named by PGHOST/PGPORT/PGUSER, quiet and
# stopping at the first error, and the helpers below.
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/common.sh"
: "${PG_CONFIG:=/usr/lib/postgresql/15/bin/pg_config}"
bin=$("$PG_CONFIG" --bindir)
export PGOPTIONS="-c client_min_messages=warning"
export PGUSER=${PGUSER:-postgres}
psql() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 -At "$@"; }
# fresh_db NAME: drop it if it exists, create it empty.
fresh_db() { psql -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }

# table_fingerprints DB SCHEMA...: a line per table of those schemas (its rows,
# their count and checksum) and per sequence (its position), sorted by name,
# for comparing a database with itself later or with a restored copy.
table_fingerprints() {
    local db=$1; shift
    local schemas; schemas=$(printf "'%s'::regnamespace," "$@"); schemas=${schemas%,}
    psql -d "$db" <<SQL
SELECT format('SELECT %L || '' '' || count(*) || '' '' || md5(coalesce(string_agg(t::text, ''|'' ORDER BY t::text), '''')) FROM ONLY %s t',
              c.oid::regclass::text, c.oid::regclass)
  FROM pg_class c
 WHERE c.relnamespace IN ($schemas) AND c.relkind = 'r'
 ORDER BY c.oid::regclass::text \gexec
SELECT format('SELECT %L || '' '' || last_value || '' '' || is_called FROM %s', c.oid::regclass::text, c.oid::regclass)
  FROM pg_class c
 WHERE c.relnamespace IN ($schemas) AND c.relkind = 'S'
 ORDER BY c.oid::regclass::text \gexec
SQL
}

# check NAME EXPECTED ACTUAL: prints ok or FAILED (and remembers the failure).
failed=0
check() {
    if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAILED: $1: want [$2], got [$3]" >&2; failed=1; fi
}

# start_standby PRIMARY_SOCK PRIMARY_PORT DATADIR SOCK PORT: a streaming hot
# standby of the primary (pg_basebackup), started on its own unix socket.
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

# readme_block NAME: the SQL blocks that follow a line "<!-- test: NAME -->"
# in README.md, in order, as written there (indented as a list item's, or
# not), so that the tests run the README's examples themselves and they
# cannot drift from it (pg_test/scenarios/readme.sh checks that every block is run).
readme_block() {
    awk -v marker="<!-- test: $1 -->" '
        { line = $0; sub(/^[ \t]+/, "", line) }
        line == marker { found = 1; next }
        found && !inside && line ~ /^```sql/ { inside = 1; blocks++; match($0, /^[ \t]*/); indent = RLENGTH; next }
        inside && line ~ /^```/ { inside = 0; found = 0; next }
        inside { print substr($0, indent + 1) }
        END { if (!blocks) { print "readme_block: no SQL block after <!-- test: " name " --> in README.md" > "/dev/stderr"; exit 1 } }' \
        name="$1" "$(dirname "${BASH_SOURCE[0]}")/../README.md"
}
