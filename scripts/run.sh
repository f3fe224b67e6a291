#!/usr/bin/env bash
# `make run` / `make stop`: a throwaway local cluster with the extension
# installed and a demo database, left running for you to connect to.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

throwaway run "${RUN_PORT:-54316}"
DB=auth_sessions_demo
psql() { "$(pg_bindir)/psql" -X -h "$SOCK" -p "$PORT" -U postgres "$@"; }

case ${1:-start} in
start)
    log "building and installing the extension"
    install_extension
    log "starting PostgreSQL in $DIR/data (socket $SOCK, port $PORT)"
    cluster_start "$DIR/data" "$SOCK" "$PORT"
    psql -q -d postgres -c "CREATE DATABASE $DB"
    psql -q -d "$DB" -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION auth_sessions'
    log "demo: scripts/demo.sql"
    psql -d "$DB" -v ON_ERROR_STOP=1 -f scripts/demo.sql
    cat <<MSG

The server is running, with the extension installed in database $DB.
Connect with:

    psql -h $SOCK -p $PORT -U postgres $DB

Stop it with: make stop
MSG
    ;;
stop)
    cluster_stop "$DIR/data"
    log "stopped (if it was running): $DIR/data"
    ;;
*) die "usage: $0 start|stop" ;;
esac
