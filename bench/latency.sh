#!/usr/bin/env bash
# The latency of a concurrent stream (bench/stream.sql, 4 pgbench clients) with
# no pruning, during CALL auth.prune_expired_sessions, and during one DELETE.
# Each pruning run deletes 100k freshly added expired sessions, which the
# stream's third statement keeps refreshing. Percentiles cover the
# transactions that ended while the pruning ran. Needs SOCK, PORT, DB.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
bin=$(pg_bindir)
work=$PWD/target/bench_latency
rm -rf "$work"; mkdir -p "$work"
psql() { "$bin/psql" -X -q -At -h "$SOCK" -p "$PORT" -U postgres -d "$DB" "$@"; }
now() { date +%s.%N; }

stream() { # NAME SECONDS
    (cd "$work" && "$bin/pgbench" -n -h "$SOCK" -p "$PORT" -U postgres -c 4 -j 2 -T "$2" \
        -f "$OLDPWD/bench/stream.sql" -l --log-prefix="$1" "$DB" >"$1.out" 2>&1)
}
# percentiles NAME FROM TO: p50/p99/max (ms) of transactions ending in [FROM, TO].
percentiles() {
    cat "$work/$1".* | awk -v from="$2" -v to="$3" '{ end = $5 + $6 / 1e6; if (end >= from && end <= to) print $3 / 1000 }' |
        sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "0 - - -"; exit }
            p99 = int(NR * 0.99); if (p99 < 1) p99 = 1
            printf "%d %.2f %.2f %.2f\n", NR, v[int(NR * 0.5) + 1], v[p99], v[NR] }'
}
during() { # NAME SQL: runs SQL while the stream runs; prints the window's figures
    psql -c "SELECT public.add_expired(100000)" >/dev/null
    psql -c "VACUUM ANALYZE auth.sessions, auth.refresh_tokens, public.doomed_n" >/dev/null
    stream "$1" 30 &
    local pid=$!
    sleep 3
    local from; from=$(now)
    psql -c "$2" >/dev/null
    local to; to=$(now)
    wait $pid
    echo "$(percentiles "$1" "$from" "$to") $(awk -v a="$from" -v b="$to" 'BEGIN { printf "%.0f", (b - a) * 1000 }')"
}

psql -c "SELECT public.add_expired(100000)" >/dev/null
psql -c "VACUUM ANALYZE auth.sessions, auth.refresh_tokens, public.doomed_n" >/dev/null
stream idle 10
idle=$(percentiles idle 0 9999999999)
prune=$(during prune "CALL auth.prune_expired_sessions(1000, '0', '100 years', '10 minutes')")
delete=$(during delete "DELETE FROM auth.sessions WHERE not_after < now()")

printf '\n%-48s %8s %9s %9s %9s %11s %9s\n' "concurrent stream (4 clients)" "txns" "p50 ms" "p99 ms" "max ms" "p99 x idle" "prune ms"
row() { # label "count p50 p99 max [window]"
    set -- "$1" $2
    printf '%-48s %8s %9s %9s %9s %11s %9s\n' "$1" "$2" "$3" "$4" "$5" \
        "$(awk -v p="$4" -v i="$IDLE_P99" 'BEGIN { printf "%.2f", p / i }')" "${6:--}"
}
IDLE_P99=$(echo "$idle" | awk '{ print $3 }')
row "no pruning (baseline)" "$idle"
row "during CALL auth.prune_expired_sessions()" "$prune"
row "during one DELETE (for contrast)" "$delete"
