#!/usr/bin/env bash
# Installs what building and testing need, when missing; safe to run again.
# Debian/Ubuntu: PostgreSQL 15 server and headers, pg_cron (for the Supabase tests), sudo (for cargo pgrx test
# --runas), clang (bindgen); then cargo-pgrx 0.18.1 and `cargo pgrx init`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

# (pg_cron: the Supabase tests schedule pruning with it, as Supabase users do.)
packages=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-client-$PG_MAJOR
          postgresql-$PG_MAJOR-cron sudo gcc make pkg-config libclang-dev clang)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    SUDO=; is_root || SUDO=sudo
    # (A testing suite's Release file carries a short Valid-Until: see on-pg.sh.)
    $SUDO apt-get -o Acquire::Check-Valid-Until=false update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -x "$PG_CONFIG" ] || die "$PG_CONFIG not found after installing postgresql-server-dev-$PG_MAJOR"

if [ "$(cargo pgrx --version 2>/dev/null)" != "cargo-pgrx $PGRX_VERSION" ]; then
    log "installing cargo-pgrx $PGRX_VERSION"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

pgrx_config=${PGRX_HOME:-$HOME/.pgrx}/config.toml
if ! grep -qs "^pg$PG_MAJOR = \"$PG_CONFIG\"" "$pgrx_config"; then
    log "cargo pgrx init --pg$PG_MAJOR $PG_CONFIG"
    cargo pgrx init --pg$PG_MAJOR "$PG_CONFIG"
fi
