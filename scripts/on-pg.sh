#!/usr/bin/env bash
# on-pg.sh COMMAND...: runs COMMAND against the PostgreSQL major $PG (default
# 15). The major this machine's Debian suite ships (bookworm: 15) runs here;
# another runs inside a root filesystem of the Debian suite that ships it
# (17: trixie, 18: forky), made with debootstrap on first use, cached under
# target/rootfs/SUITE and reused. Inside it, the checkout (same path), the
# machine's Rust toolchain (~/.cargo, ~/.rustup) and the GoTrue fixture (if
# any) are bind-mounted; builds go to target/pgNN, so the machine's own
# target/ is not mixed with binaries linked against another C library.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

# Mounts left under the root filesystems by an earlier run that was killed:
# unmounted first (they would let a deletion of target/ reach the checkout).
unmount_stale() {
    local m
    { findmnt -rn -o TARGET || true; } | { grep "^$PWD/target/rootfs/" || true; } | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
}
if [ "${1:-}" = --unmount ]; then
    is_root && unmount_stale
    exit 0
fi

PG=${PG:-15}
here_suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")

if [ "${AUTH_SESSIONS_ROOTFS:-}" = "$PG" ] || [ "$(debian_suite "$PG")" = "$here_suite" ]; then
    exec env PG="$PG" PG_MAJOR="$PG" PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/$PG/bin/pg_config}" "$@"
fi

suite=$(debian_suite "$PG")
[ -n "$suite" ] || die "PostgreSQL $PG: no Debian suite known here to take it from (15 runs on bookworm, 17 in trixie, 18 in forky)"
is_root || die "PostgreSQL $PG runs in a $suite root filesystem, which needs root (debootstrap, chroot, mount); not root here"

root=$PWD/target/rootfs/$suite
unmount_stale
ready=$root/.auth_sessions-pg$PG
packages=(postgresql-$PG postgresql-server-dev-$PG postgresql-client-$PG postgresql-$PG-cron sudo gcc make pkg-config
          libclang-dev clang perl ca-certificates procps)

mounted=()
unmount_all() {
    local m i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        m=${mounted[$i]}
        umount -R "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    mounted=()
}
trap unmount_all EXIT
bind() { # bind SOURCE TARGET_INSIDE [--rbind]
    local target=$root$2
    if [ -d "$1" ]; then mkdir -p "$target"; else mkdir -p "$(dirname "$target")"; touch "$target"; fi
    mount "${3:---bind}" "$1" "$target"
    mounted+=("$target")
}

# install_in_root PACKAGES...: apt-get update and install inside the root
# filesystem. (A testing suite's Release file carries a short Valid-Until,
# which a mirror kept still, or a clock ahead of it, would otherwise refuse.)
install_in_root() {
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mount -t proc proc "$root/proc"; mounted+=("$root/proc")
    chroot "$root" env DEBIAN_FRONTEND=noninteractive bash -c \
        "apt-get -o Acquire::Check-Valid-Until=false update -qq >/tmp/apt.log 2>&1 &&
         apt-get install -y -qq --no-install-recommends $* >>/tmp/apt.log 2>&1 ||
         { tail -20 /tmp/apt.log >&2; exit 1; }"
    unmount_all
}

if [ ! -f "$ready" ]; then
    [ -x "$root/usr/bin/apt-get" ] || debootstrap_minbase "$suite" "$root"
    log "installing PostgreSQL $PG and the build tools in the $suite root filesystem"
    install_in_root "${packages[@]}"
    touch "$ready"
fi

# ALSO_PG=N: PostgreSQL N's server and headers too, from the suite that ships
# it (an older suite's packages install alongside a newer suite's own), for
# `make test-major-upgrade` (pg_upgrade needs both majors' binaries).
also=${ALSO_PG:-}
if [ -n "$also" ] && [ ! -f "$root/.auth_sessions-pg$also" ]; then
    also_suite=$(debian_suite "$also")
    [ -n "$also_suite" ] || die "PostgreSQL $also: no Debian suite known here to take it from"
    log "installing PostgreSQL $also (from $also_suite) beside $PG in the $suite root filesystem"
    if [ "$also_suite" != "$suite" ]; then
        echo "deb ${DEBIAN_MIRROR:-http://deb.debian.org/debian} $also_suite main" \
            >"$root/etc/apt/sources.list.d/auth_sessions-$also_suite.list"
    fi
    install_in_root "postgresql-$also" "postgresql-server-dev-$also" "postgresql-client-$also"
    touch "$root/.auth_sessions-pg$also"
fi

mount -t proc proc "$root/proc"; mounted+=("$root/proc")
# debootstrap made /dev's nodes; shared memory gets a tmpfs of its own (the
# machine's /dev is not bound in, so nothing deleting the root filesystem can
# reach it).
mkdir -p "$root/dev/shm"; mount -t tmpfs -o mode=1777 shm "$root/dev/shm"; mounted+=("$root/dev/shm")
bind "$PWD" "$PWD"
bind "$HOME/.cargo" /root/.cargo
bind "$HOME/.rustup" /root/.rustup
# The optional fixtures (GoTrue's migrations, Supabase's bootstrap), at the
# same absolute paths inside.
fixture=${GOTRUE:-../shared/gotrue}
if [ -d "$fixture" ]; then
    fixture=$(cd "$fixture" && pwd)
    bind "$fixture" "$fixture"
fi
supabase=${SUPABASE:-../shared/supabase}
if [ -d "$supabase" ]; then
    supabase=$(cd "$supabase" && pwd)
    bind "$supabase" "$supabase"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
log "PostgreSQL $PG: running in the $suite root filesystem: $*"
chroot "$root" env -i HOME=/root PATH=/root/.cargo/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    TERM="${TERM:-dumb}" LANG=C.UTF-8 AUTH_SESSIONS_ROOTFS="$PG" PG="$PG" PG_MAJOR="$PG" \
    PG_CONFIG="/usr/lib/postgresql/$PG/bin/pg_config" CARGO_TARGET_DIR="$PWD/target/pg$PG" \
    GOTRUE="$fixture" SUPABASE="$supabase" ONLY="${ONLY:-}" ${PRUNE_ROUNDS:+PRUNE_ROUNDS=$PRUNE_ROUNDS} \
    ${ALSO_PG:+ALSO_PG=$ALSO_PG} \
    bash -c 'cd "$1" && shift && exec "$@"' bash "$PWD" "$@"
