# Sourced by the shell tests in pg_test/: psql against the server named by
# PGHOST/PGPORT/PGUSER, quiet and stopping at the first error.
: "${PG_CONFIG:=/usr/lib/postgresql/15/bin/pg_config}"
bin=$("$PG_CONFIG" --bindir)
export PGOPTIONS="-c client_min_messages=warning"
export PGUSER=${PGUSER:-postgres}
psql() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 -At "$@"; }
# fresh_db NAME: drop it if it exists, create it empty.
fresh_db() { psql -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }
