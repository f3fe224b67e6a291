#!/usr/bin/env bash
# major-upgrade.sh FROM TO: the major-upgrade tests (pg_test/upgrade/major.sh)
# from PostgreSQL FROM to TO, in the root filesystem of TO's Debian suite with
# FROM's server packages installed beside TO's (scripts/on-pg.sh, ALSO_PG).
# `make test-major-upgrade FROM=15 TO=17` (or FROM=17 TO=18).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
from=${1:?usage: major-upgrade.sh FROM TO}
to=${2:?usage: major-upgrade.sh FROM TO}
for v in "$from" "$to"; do
    [ -n "$(debian_suite "$v")" ] || die "PostgreSQL $v: no Debian suite known here to take it from (15, 17 and 18 are)"
done
[ "$from" -lt "$to" ] || die "FROM ($from) must be an older major than TO ($to)"
[ "$(debian_suite "$to")" != "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" ] ||
    die "PostgreSQL $to is this machine's own: the upgrade tests run in a root filesystem of a newer suite"
PG=$to ALSO_PG=$from exec scripts/on-pg.sh bash -c \
    'scripts/deps.sh && pg_test/upgrade/major.sh "$ALSO_PG" "$PG" && echo "make test-major-upgrade: PostgreSQL $ALSO_PG -> $PG passed"'
