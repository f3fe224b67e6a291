#!/usr/bin/env bash
# ALTER EXTENSION ... UPDATE from every released version gives what a fresh
# install of the current version gives, for both extension names
# (auth_sessions standalone; auth_sessions_gotrue attached to GoTrue-shaped
# tables, pg_test/fixtures/gotrue_like.sql):
#
# 1. install the released version (its committed script, sql/NAME--V.sql),
#    fill it (pg_test/fixtures/populate.sql: users, sessions, refresh tokens,
#    amr claims; pg_test/upgrade/fill.sql: roles with privileges on the
#    extension's objects, RLS policies, a view and a CHECK constraint that
#    call its functions), note every row, update;
# 2. the rows are intact; the installation (pg_test/upgrade/describe.sql:
#    members, definitions, privileges, dependencies, ...) equals a fresh
#    install's, filled the same way; the behaviour (pg_test/upgrade/probe.sql)
#    is the same;
# 3. the whole pg_regress suite passes with CREATE EXTENSION going through the
#    upgrade path: every install script but the released version's is moved
#    out of the extension directory for that run, so PostgreSQL installs V
#    and applies the update scripts (a script missing from the chain, or one
#    that does not reach what the current version's script creates, fails).
#
# Usage: upgrade.sh WORKDIR; the server is PGHOST/PGPORT/PGUSER's, and the
# extension (every released script included) is installed in it.
set -euo pipefail
workdir=$1
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
. pg_test/testlib.sh
export PGTZ=UTC
rm -rf "$workdir"; mkdir -p "$workdir"

version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
ext="$("$PG_CONFIG" --sharedir)/extension"
released=$(sed -n 's/.*  sql\/auth_sessions--\([^-]*\)\.sql$/\1/p' sql/released.sha256 | sort -V | grep -vx "$version" || true)
if [ -z "$released" ]; then
    echo "ok: no released version before $version: nothing to update from"
    exit 0
fi

fingerprint() { table_fingerprints "$1" auth public; }

# setup DB NAME [VERSION]: a new database with extension NAME (at VERSION,
# else the current one), filled.
setup() {
    local db=$1 name=$2 at=""
    [ -z "${3:-}" ] || at=" VERSION '$3'"
    fresh_db "$db"
    if [ "$name" = auth_sessions_gotrue ]; then psql -d "$db" -f pg_test/fixtures/gotrue_like.sql >/dev/null; fi
    psql -d "$db" -c "CREATE EXTENSION $name$at" -f pg_test/fixtures/populate.sql -f pg_test/upgrade/fill.sql >/dev/null
}

for name in auth_sessions auth_sessions_gotrue; do
    setup upgrade_fresh "$name"
    psql -d upgrade_fresh -v ext="$name" -f pg_test/upgrade/describe.sql >"$workdir/$name-fresh.txt"
    psql -d upgrade_fresh -f pg_test/upgrade/probe.sql >"$workdir/$name-fresh.probe"
    for from in $released; do
        db=upgrade_from_${from//[^0-9]/_}
        out="$workdir/$name-$from"
        setup "$db" "$name" "$from"
        check "$name $from installed as $from" "$from" \
            "$(psql -d "$db" -c "SELECT extversion FROM pg_extension WHERE extname = '$name'")"
        fingerprint "$db" >"$out.before"
        psql -d "$db" -c "ALTER EXTENSION $name UPDATE"
        check "$name $from updated to $version" "$version" \
            "$(psql -d "$db" -c "SELECT extversion FROM pg_extension WHERE extname = '$name'")"
        fingerprint "$db" >"$out.after"
        if diff -u "$out.before" "$out.after" >"$out.rows.diff"; then
            echo "ok: $name $from -> $version: every row intact ($(wc -l <"$out.after") tables and sequences)"
        else
            cat "$out.rows.diff" >&2; echo "FAILED: $name $from -> $version changed rows" >&2; failed=1
        fi
        psql -d "$db" -v ext="$name" -f pg_test/upgrade/describe.sql >"$out.txt"
        if diff -u "$workdir/$name-fresh.txt" "$out.txt" >"$out.diff"; then
            echo "ok: $name $from -> $version equals a fresh install ($(grep -c '^member ' "$out.txt") members, $(wc -l <"$out.txt") facts)"
        else
            cat "$out.diff" >&2
            echo "FAILED: $name $from -> $version differs from a fresh install of $version (- fresh, + updated)" >&2; failed=1
        fi
        psql -d "$db" -f pg_test/upgrade/probe.sql >"$out.probe"
        if diff -u "$workdir/$name-fresh.probe" "$out.probe"; then
            echo "ok: $name $from -> $version behaves as a fresh install ($(wc -l <"$out.probe") answers)"
        else
            echo "FAILED: $name $from -> $version answers differently from a fresh install" >&2; failed=1
        fi
        psql -d postgres -c "DROP DATABASE $db"
    done
    psql -d postgres -c "DROP DATABASE upgrade_fresh"
done
# The roles fill.sql made: the regression suite makes its own.
psql -d postgres -c "DROP ROLE upgrade_user" -c "DROP ROLE upgrade_admin"

# The regression suite, with CREATE EXTENSION installing each released
# version and updating it. The install scripts of the other versions are
# moved aside for the run and put back however it ends.
sudo=(); is_root || sudo=(sudo)
aside="$workdir/aside"
restore() {
    if [ -d "$aside" ]; then
        "${sudo[@]}" sh -c 'for f in "$1"/*.sql; do [ -e "$f" ] && mv "$f" "$2"/; done; true' sh "$aside" "$ext"
        rmdir "$aside" 2>/dev/null || true
    fi
}
trap restore EXIT
bindir=$(pg_bindir)
regress="$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress"
# All but attach_points: it creates auth_sessions_gotrue on a half-migrated
# schema, which the install scripts of 0.4.0 and older refuse by design.
grep -vx 'test: attach_points' pg_test/regress/schedule >"$workdir/schedule"
for from in $released; do
    mkdir -p "$aside"
    for f in "$ext"/auth_sessions--*.sql "$ext"/auth_sessions_gotrue--*.sql; do
        base=$(basename "$f")
        case "$base" in
            *--*--*) ;;   # an update script: kept
            auth_sessions--"$from".sql | auth_sessions_gotrue--"$from".sql) ;;
            *) "${sudo[@]}" mv "$f" "$aside/" ;;
        esac
    done
    out="$workdir/regress-from-$from"
    mkdir -p "$out"
    status=0
    # pg_regress's psql with its own settings (pg_test/testlib.sh quiets notices).
    PGOPTIONS= "$regress" --bindir="$bindir" --inputdir=pg_test/regress --outputdir="$out" \
        --host="$PGHOST" --port="$PGPORT" --user=postgres \
        --dbname=auth_sessions_regression --schedule="$workdir/schedule" >"$out/pg_regress.log" 2>&1 || status=$?
    restore
    if [ $status -eq 0 ]; then
        echo "ok: the regression suite passes with every CREATE EXTENSION installing $from and updating to $version ($(grep -c '^test:' "$workdir/schedule") tests)"
    else
        cat "$out/pg_regress.log" >&2
        [ -f "$out/regression.diffs" ] && cat "$out/regression.diffs" >&2
        echo "FAILED: the regression suite through the update from $from" >&2; failed=1
    fi
done
exit $failed
