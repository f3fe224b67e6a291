#!/usr/bin/env bash
# pg_dump of a database with auth_sessions_gotrue attached to GoTrue's tables,
# restored into an empty database in the plain (psql, one transaction),
# custom (pg_restore, one transaction) and directory (pg_restore -j 2)
# formats: zero errors, every row of every table in schema auth back (count
# and checksum), the limit trigger there exactly once, and the extension
# working (validity and the limit) on the restored tables.
#
# pg_dump writes CREATE EXTENSION right after CREATE SCHEMA, before GoTrue's
# type and tables, so the install script runs in what looks like an empty
# database: it must create none of GoTrue's objects and no trigger. The
# extension attaches its trigger when the restore has created GoTrue's
# tables, and the dump's CREATE TRIGGER then takes its place (src/attach/).
# Usage: attach_dump.sh SOURCE_DB WORKDIR SESSION_ID USER_ID
#   SESSION_ID: a valid session of the source; USER_ID: a user to log in
#   twice under max_per_user = 1 after the restore.
set -euo pipefail
src=$1 workdir=$2 session=$3 login_user=$4
mkdir -p "$workdir"
. "$(dirname "$0")/../testlib.sh"
export PGTZ=UTC

fingerprint() {
    table_fingerprints "$1" auth
    psql -d "$1" <<'SQL'
SELECT 'extension ' || string_agg(extname, ',') FROM pg_extension WHERE extname LIKE 'auth_sessions%';
SELECT 'limit triggers ' || count(*) FROM pg_trigger WHERE tgrelid = 'auth.sessions'::regclass AND tgname = 'enforce_session_limit';
SQL
}

fingerprint "$src" >"$workdir/src.txt"
grep -q '^limit triggers 1$' "$workdir/src.txt" || { cat "$workdir/src.txt"; echo "source has no limit trigger" >&2; exit 1; }
tables=$(grep -c '^auth\.' "$workdir/src.txt")
validity=$(psql -d "$src" -c "SELECT auth.session_validity('$session')")

failed=0
for format in plain custom directory; do
    db=${src}_restored_$format
    fresh_db "$db"
    rm -rf "$workdir/dump.$format"
    case $format in
    plain)
        "$bin/pg_dump" -Fp -d "$src" -f "$workdir/dump.$format"
        "$bin/psql" -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$db" -f "$workdir/dump.$format" \
            >"$workdir/restore.$format.log" 2>&1 ;;
    custom)
        "$bin/pg_dump" -Fc -d "$src" -f "$workdir/dump.$format"
        "$bin/pg_restore" --exit-on-error --single-transaction -d "$db" "$workdir/dump.$format" \
            >"$workdir/restore.$format.log" 2>&1 ;;
    directory)
        "$bin/pg_dump" -Fd -j 2 -d "$src" -f "$workdir/dump.$format"
        "$bin/pg_restore" --exit-on-error -j 2 -d "$db" "$workdir/dump.$format" \
            >"$workdir/restore.$format.log" 2>&1 ;;
    esac || { cat "$workdir/restore.$format.log" >&2; echo "FAILED: the $format restore failed" >&2; failed=1; continue; }
    if grep -q 'ERROR' "$workdir/restore.$format.log"; then
        cat "$workdir/restore.$format.log" >&2; echo "FAILED: the $format restore reported errors" >&2; failed=1
    fi
    # CREATE EXTENSION comes before GoTrue's type and tables in the dump.
    if [ $format = plain ]; then
        first=$(grep -n -m1 -E '^CREATE (EXTENSION|TYPE|TABLE)' "$workdir/dump.plain" | cut -d: -f2-)
        check "plain dump: CREATE EXTENSION comes first" "CREATE EXTENSION IF NOT EXISTS auth_sessions_gotrue WITH SCHEMA auth;" "$first"
    fi
    fingerprint "$db" >"$workdir/$format.txt"
    if diff -u "$workdir/src.txt" "$workdir/$format.txt"; then
        echo "ok: $format: every row of the $tables tables in auth back, the extension and one limit trigger"
    else
        echo "FAILED: $format restore differs" >&2; failed=1
    fi
    check "$format: validity answers as before" "$validity" "$(psql -d "$db" -c "SELECT auth.session_validity('$session')")"
    kept=$(psql -d "$db" <<SQL
SET auth_sessions.max_per_user = 1;
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal) VALUES (gen_random_uuid(), '$login_user', now(), now(), 'aal1');
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal) VALUES (gen_random_uuid(), '$login_user', now(), now(), 'aal1');
SELECT count(*) FROM auth.sessions WHERE user_id = '$login_user' AND auth.session_row_validity(sessions) = 'valid';
SQL
)
    check "$format: the limit holds on the restored table" 1 "$kept"
done
exit $failed
