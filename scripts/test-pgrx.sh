#!/usr/bin/env bash
# Runs the #[pg_test] functions through `cargo pgrx test`, which builds with
# the pg_test feature, installs the extension and starts its own cluster.
# As root, that cluster runs as the postgres OS user (needs sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

args=(pg$PG_MAJOR)
if is_root; then
    # Short: the cluster's unix socket lives in this directory.
    pgdata=/tmp/auth_sessions_pgrx
    rm -rf "$pgdata"; mkdir -p "$pgdata"; chown postgres: "$pgdata"
    args+=(--runas postgres --pgdata "$pgdata")
fi
cargo pgrx test "${args[@]}"
