#!/usr/bin/env bash
# make package: a Debian package of the extension for the PostgreSQL major
# $PG (run through scripts/on-pg.sh, so 17 and 18 are built in their suite's
# root filesystem), then tested in a clean root filesystem of that suite:
# apt installs it (and, as its dependency, postgresql-$PG), a cluster starts,
# both extensions are created and the demo runs, and the package is purged.
#
#   target/package/postgresql-$PG-auth-sessions_VERSION_ARCH.deb
#
# The package holds the library, both control files, the current version's
# install script for both names, and every released version's install and
# upgrade scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
name=postgresql-$PG_MAJOR-auth-sessions
out=$PWD/target/package
stage=$out/$name
mkdir -p "$out"

if [ "${1:-}" != --test-only ]; then
    log "cargo pgrx package (release) for PostgreSQL $PG_MAJOR"
    rm -rf "$stage"
    cargo pgrx package --pg-config "$PG_CONFIG" --no-default-features --features "pg$PG_MAJOR" --out-dir "$stage" >/dev/null
    ext=$stage$("$PG_CONFIG" --sharedir)/extension
    [ -f "$ext/auth_sessions--$version.sql" ] || die "cargo pgrx package wrote no auth_sessions--$version.sql under $stage"
    # The attach-mode extension: its control file and the same script.
    sed "s/@CARGO_VERSION@/$version/" sql/auth_sessions_gotrue.control >"$ext/auth_sessions_gotrue.control"
    cp "$ext/auth_sessions--$version.sql" "$ext/auth_sessions_gotrue--$version.sql"
    # Every released version's scripts, and the upgrade scripts.
    for f in sql/auth_sessions--*.sql sql/auth_sessions_gotrue--*.sql; do
        case "$(basename "$f")" in
            "auth_sessions--$version.sql" | "auth_sessions_gotrue--$version.sql") ;;
            *) cp "$f" "$ext/" ;;
        esac
    done
    mkdir -p "$stage/DEBIAN" "$stage/usr/share/doc/$name"
    cp README.md SECURITY.md "$stage/usr/share/doc/$name/"
    size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
    cat >"$stage/DEBIAN/control" <<EOF
Package: $name
Version: $version
Architecture: $arch
Maintainer: auth_sessions developers <auth-sessions@localhost>
Depends: postgresql-$PG_MAJOR, libc6
Section: database
Priority: optional
Installed-Size: $size
Description: Supabase Auth (GoTrue) sessions checked and pruned inside PostgreSQL $PG_MAJOR
 auth_sessions: session validity for row-level security (revoked means
 revoked at the next query), bounded pruning of auth.sessions and
 auth.refresh_tokens, per-user session limits. Two extensions over one
 library: auth_sessions (its own auth tables) and auth_sessions_gotrue
 (attached to the tables GoTrue's migrations manage).
EOF
    find "$stage" -type d -exec chmod 755 {} +
    dpkg-deb --root-owner-group --build "$stage" "$out/${name}_${version}_$arch.deb" >/dev/null
    log "built $out/${name}_${version}_$arch.deb"
fi
echo "$out/${name}_${version}_$arch.deb"
