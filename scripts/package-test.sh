#!/usr/bin/env bash
# package-test.sh DEB: tests the Debian package scripts/package.sh built for
# PostgreSQL $PG in a clean root filesystem of the Debian suite that ships
# that major (a fresh copy of a minimal debootstrap, kept under
# target/rootfs/SUITE-clean.tar.gz): apt installs the package and, as its
# dependency, postgresql-$PG; a cluster starts; auth_sessions is created and
# the demo (scripts/demo.sql) runs; auth_sessions_gotrue is created in an
# empty database; the package is purged and its files are gone. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
deb=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
PG=${PG:-15}
suite=$(debian_suite "$PG")
[ -n "$suite" ] || die "PostgreSQL $PG: no Debian suite known here"
is_root || die "testing the package needs root (debootstrap, chroot, mount); not root here"
clean=$PWD/target/rootfs/$suite-clean.tar.gz
root=$PWD/target/rootfs/package-test-$suite

if [ ! -f "$clean" ]; then
    debootstrap_minbase "$suite" "$root"
    tar -C "$root" -czf "$clean" .
    log "kept as $clean"
    rm -rf "$root"
fi

rm -rf "$root"; mkdir -p "$root"
tar -C "$root" -xzf "$clean"
mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
    # Nothing of the machine is mounted in it any more: safe to delete.
    if ! findmnt -rn -o TARGET | grep -q "^$root"; then rm -rf "$root"; fi
}
trap cleanup EXIT
mount -t proc proc "$root/proc"; mounted+=("$root/proc")
mkdir -p "$root/dev/shm"; mount -t tmpfs -o mode=1777 shm "$root/dev/shm"; mounted+=("$root/dev/shm")
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/root/"
cp scripts/demo.sql "$root/root/demo.sql"
# No service starts inside, and no default cluster: the test makes its own.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"; chmod +x "$root/usr/sbin/policy-rc.d"
mkdir -p "$root/etc/postgresql-common"
echo "create_main_cluster = false" >"$root/etc/postgresql-common/createcluster.conf"

log "in a clean $suite: apt install $(basename "$deb"), a cluster, CREATE EXTENSION, the demo, an update, apt purge"
chroot "$root" env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive PG="$PG" DEB="/root/$(basename "$deb")" bash -euo pipefail -c '
apt-get -o Acquire::Check-Valid-Until=false update -qq >/tmp/apt.log 2>&1
apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold "$DEB" >>/tmp/apt.log 2>&1 ||
    { tail -20 /tmp/apt.log; exit 1; }
echo "ok: apt installed $(dpkg-query -W -f="\${Package} \${Version}" postgresql-$PG-auth-sessions) and postgresql-$PG"
bin=/usr/lib/postgresql/$PG/bin
mkdir -p /tmp/pkgtest && chown postgres: /tmp/pkgtest
runuser -u postgres -- $bin/initdb -D /tmp/pkgtest/data -U postgres -A trust >/dev/null
runuser -u postgres -- $bin/pg_ctl -D /tmp/pkgtest/data -o "-k /tmp/pkgtest -c listen_addresses=" -l /tmp/pkgtest/log -w start >/dev/null
psql() { $bin/psql -X -q -v ON_ERROR_STOP=1 -h /tmp/pkgtest -U postgres "$@"; }
psql -d postgres -c "CREATE DATABASE demo" -c "CREATE DATABASE attach"
psql -d demo -c "CREATE EXTENSION auth_sessions" >/dev/null
psql -d demo -f /root/demo.sql >/tmp/demo.log 2>&1 || { tail -20 /tmp/demo.log; exit 1; }
echo "ok: CREATE EXTENSION auth_sessions $(psql -At -d demo -c "SELECT extversion FROM pg_extension WHERE extname = '\''auth_sessions'\''"), and the demo ran"
psql -d attach -c "CREATE EXTENSION auth_sessions_gotrue" >/dev/null
echo "ok: CREATE EXTENSION auth_sessions_gotrue in an empty database"
# The first release, as the package installs it, updated to the package'"'"'s version.
first=$(ls /usr/share/postgresql/$PG/extension/ | sed -n "s/^auth_sessions--\([0-9.]*\)\.sql$/\1/p" | sort -V | head -n 1)
psql -d postgres -c "CREATE DATABASE updated"
psql -d updated -c "CREATE EXTENSION auth_sessions VERSION '"'"'$first'"'"'" -c "ALTER EXTENSION auth_sessions UPDATE" >/dev/null
echo "ok: auth_sessions $first from the package updated to $(psql -At -d updated -c "SELECT extversion FROM pg_extension WHERE extname = '"'"'auth_sessions'"'"'")"
runuser -u postgres -- $bin/pg_ctl -D /tmp/pkgtest/data -m fast -w stop >/dev/null
apt-get purge -y -qq "postgresql-$PG-auth-sessions" >>/tmp/apt.log 2>&1 || { tail -20 /tmp/apt.log; exit 1; }
left=$( (ls /usr/lib/postgresql/$PG/lib/auth_sessions.so /usr/share/postgresql/$PG/extension/auth_sessions* 2>/dev/null || true) | wc -l)
[ "$left" = 0 ] || { echo "FAILED: $left files left after purge"; exit 1; }
echo "ok: purged, no file left"
'
