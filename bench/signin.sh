#!/usr/bin/env bash
# Sign-ins under the per-user limit: pgbench (4 clients, SIGNIN_SECONDS each)
# inserting sessions as GoTrue does (bench/signin.sql) for random users among
# 100k, with the limit trigger disabled (the baseline), installed with
# max_per_user = 0, with a limit no user reaches (max_per_user = 1000: the
# lock on the user and the count, never an eviction), and with
# max_per_user = 5, where the dataset's users (about ten sessions each, and
# more from the other rounds) are over the limit, so every sign-in also
# deletes the user's oldest session(s) and their refresh tokens, work the
# baseline never does; rounds interleaved, best tps of SIGNIN_ROUNDS, and
# the WAL written per sign-in. Needs SOCK, PORT, DB.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
bin=$(pg_bindir)
SECONDS_EACH=${SIGNIN_SECONDS:-10}
ROUNDS=${SIGNIN_ROUNDS:-3}
psql() { "$bin/psql" -X -q -At -h "$SOCK" -p "$PORT" -U postgres -d "$DB" "$@"; }
work=$PWD/target/bench_signin
rm -rf "$work"; mkdir -p "$work"

# run VARIANT MAX: one pgbench round; appends "variant tps wal_bytes_per_txn".
run() {
    local variant=$1 max=$2 before after out tps n
    before=$(psql -c "SELECT pg_current_wal_lsn()")
    out=$(PGOPTIONS="-c auth_sessions.max_per_user=$max" "$bin/pgbench" -n -c 4 -j 2 -T "$SECONDS_EACH" \
        -h "$SOCK" -p "$PORT" -U postgres -f bench/signin.sql "$DB" 2>&1)
    after=$(psql -c "SELECT pg_current_wal_lsn()")
    tps=$(printf '%s\n' "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -1)
    n=$(printf '%s\n' "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
    echo "$variant $tps $(psql -c "SELECT round(pg_wal_lsn_diff('$after', '$before') / greatest($n, 1))")" >>"$work/runs"
}

for _ in $(seq 1 "$ROUNDS"); do
    psql -c "ALTER TABLE auth.sessions DISABLE TRIGGER enforce_session_limit"
    run disabled 0
    psql -c "ALTER TABLE auth.sessions ENABLE TRIGGER enforce_session_limit"
    run off 0
    run count 1000
    run five 5
done

best() { awk -v v="$1" '$1 == v && $2 > best { best = $2; wal = $3 } END { printf "%s %s", best, wal }' "$work/runs"; }
read -r base base_wal <<<"$(best disabled)"
printf '%-64s %10s %10s %16s\n' "sign-ins, 4 clients, random users among 100k" "best tps" "x baseline" "WAL bytes/login"
for v in disabled off count five; do
    read -r tps wal <<<"$(best $v)"
    case $v in
        disabled) label="limit trigger disabled (baseline)" ;;
        off) label="trigger installed, max_per_user = 0" ;;
        count) label="max_per_user = 1000 (lock and count, nobody at the limit)" ;;
        five) label="max_per_user = 5 (evict_oldest: each sign-in evicts)" ;;
    esac
    printf '%-64s %10s %10s %16s\n' "$label" "$tps" "$(awk -v a="$tps" -v b="$base" 'BEGIN { printf "%.2f", a / b }')" "$wal"
done
