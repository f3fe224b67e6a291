#!/usr/bin/env bash
# The released versions, kept as PostgreSQL installs them (sql/):
#
# - a released script is never edited: sql/released.sha256 holds the
#   checksum of every released install and upgrade script, and every one
#   must still match;
# - every script under sql/ is a released one (listed there), but the
#   upgrade scripts to the crate's version while it is not released;
# - while the crate's version is a released one, the build must generate
#   what was released (compared object by object, without comments and
#   blank lines, which carry source line numbers, and whatever order the
#   build put the objects in): a change to the SQL the extension installs
#   needs a new version and an upgrade script;
# - once the crate's version is a new one, its upgrade scripts from the last
#   release must exist for both extension names (pg_test/upgrade/upgrade.sh then
#   updates every released version and compares with a fresh install).
#
# Run after the extension is installed (it reads the generated script).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
ext="$("$PG_CONFIG" --sharedir)/extension"
status=0
fail() { echo "FAILED: $*" >&2; status=1; }

if sha256sum --quiet -c sql/released.sha256; then
    echo "ok: the released scripts are as released ($(wc -l <sql/released.sha256) files in sql/released.sha256)"
else
    fail "a released script under sql/ was edited after its release (sql/released.sha256)"
fi
released_versions=$(sed -n 's/.*  sql\/auth_sessions--\([^-]*\)\.sql$/\1/p' sql/released.sha256)
for f in sql/auth_sessions--*.sql sql/auth_sessions_gotrue--*.sql; do
    grep -q "  $f\$" sql/released.sha256 && continue
    # The upgrade scripts to a version not yet released are still being written.
    case "$f" in
        *--*--"$version".sql) echo "$released_versions" | grep -qx "$version" || continue ;;
    esac
    fail "$f is not a released script (not in sql/released.sha256)"
done

# The script's blocks (pgrx writes each object, with what it needs, between
# begin/end markers, in an order that can change from one build to the next),
# each without comments and blank lines, in sorted order.
normalized() {
    perl -0ne 'for (split m{/\* <begin connected objects> \*/}) {
        s{/\*.*?\*/}{}gs; s{^[ \t]*--[^\n]*\n}{}mg; s{[ \t]+$}{}mg; s{\n{2,}}{\n}g; s{^\n+}{};
        push @b, $_ if length } print join("\n=====\n", sort @b), "\n"' "$1"
}
released=$(sed -n 's/.*  sql\/auth_sessions--\([^-]*\)\.sql$/\1/p' sql/released.sha256 | sort -V)
last=$(echo "$released" | tail -1)
if echo "$released" | grep -qx "$version"; then
    for name in auth_sessions auth_sessions_gotrue; do
        if diff <(normalized "sql/$name--$version.sql") <(normalized "$ext/auth_sessions--$version.sql") >/dev/null; then
            echo "ok: $version is released and the build generates its $name script"
        else
            diff <(normalized "sql/$name--$version.sql") <(normalized "$ext/auth_sessions--$version.sql") | head -20 >&2 || true
            fail "the build's SQL differs from released $name $version: give the change a new version and an upgrade script"
        fi
    done
else
    for name in auth_sessions auth_sessions_gotrue; do
        [ -f "sql/$name--$last--$version.sql" ] || fail "no upgrade script sql/$name--$last--$version.sql from the last release"
    done
    echo "ok: $version is not released yet; upgrade scripts from $last exist"
fi
exit $status
