#!/usr/bin/env bash
# The latency of a concurrent stream (bench/stream.sql, 4 pgbench clients,
# unthrottled: on 2 cores it keeps both busy) with and without pruning, side
# by side in one stream each: it runs idle, then through the pruning, then
# idle again; "idle" is the windows before and after (a second apart from
# the pruning), "during" the transactions that ended while the pruning ran.
# Each pruning faces 100k freshly added expired sessions, which the stream's
# third statement keeps touching:
#   - CALL auth.prune_expired_sessions as configured by default: it yields to
#     the stream (auth_sessions.prune_busy_share = 0.05), so it is given a
#     20-second budget and the table says how much it pruned meanwhile;
#   - the same with auth_sessions.prune_busy_share = 1 (never yielding);
#   - one DELETE, for contrast;
#   - for reference, no pruning but a busy loop in one backend for as long as
#     the unyielding CALL took: what any CPU-bound work does to this stream.
# Needs SOCK, PORT, DB.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
bin=$(pg_bindir)
work=$PWD/target/bench_latency
rm -rf "$work"; mkdir -p "$work"
psql() { "$bin/psql" -X -q -At -h "$SOCK" -p "$PORT" -U postgres -d "$DB" "$@"; }
now() { date +%s.%N; }
# The stream runs STREAM seconds: IDLE alone, then the pruning, then alone
# again until its end.
IDLE=${LATENCY_IDLE_SECONDS:-10}
STREAM=${LATENCY_STREAM_SECONDS:-60}

stream() { # NAME SECONDS
    (cd "$work" && "$bin/pgbench" -n -h "$SOCK" -p "$PORT" -U postgres -c 4 -j 2 -T "$2" \
        -f "$OLDPWD/bench/stream.sql" -l --log-prefix="$1" "$DB" >"$1.out" 2>&1)
}
# percentiles NAME FROM TO [FROM2 TO2]: count, p50, p99, max (ms) of the
# transactions ending in [FROM, TO] (or in either window).
percentiles() {
    cat "$work/$1".* | awk -v a="$2" -v b="$3" -v c="${4:-0}" -v d="${5:-0}" '{ end = $5 + $6 / 1e6
            if ((end >= a && end <= b) || (end >= c && end <= d)) print $3 / 1000 }' |
        sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "0 - - -"; exit }
            p99 = int(NR * 0.99); if (p99 < 1) p99 = 1
            printf "%d %.2f %.2f %.2f\n", NR, v[int(NR * 0.5) + 1], v[p99], v[NR] }'
}
# side_by_side NAME SQL: prints "idle-figures|during-figures window-ms";
# what SQL printed goes to $work/NAME.result.
side_by_side() {
    psql -c "SELECT public.add_expired(100000)" >/dev/null
    psql -c "VACUUM ANALYZE auth.sessions, auth.refresh_tokens, public.doomed_n" >/dev/null
    # Let the writes of the set-up settle, so they do not count as "idle".
    psql -c "CHECKPOINT" >/dev/null
    sleep 5
    local start; start=$(now)
    stream "$1" "$STREAM" &
    local pid=$!
    sleep "$IDLE"
    local from; from=$(now)
    psql -c "$2" >"$work/$1.result"
    local to; to=$(now)
    wait $pid
    local stop; stop=$(now)
    local idle_a idle_b idle_c idle_d
    idle_a=$(awk -v s="$start" 'BEGIN { printf "%.6f", s + 1 }')
    idle_b=$(awk -v s="$from" 'BEGIN { printf "%.6f", s - 1 }')
    idle_c=$(awk -v s="$to" 'BEGIN { printf "%.6f", s + 1 }')
    idle_d=$(awk -v s="$stop" 'BEGIN { printf "%.6f", s - 1 }')
    echo "$(percentiles "$1" "$idle_a" "$idle_b" "$idle_c" "$idle_d")|$(percentiles "$1" "$from" "$to") $(awk -v a="$from" -v b="$to" 'BEGIN { printf "%.0f", (b - a) * 1000 }')"
    # What the pruning left is not the next one's business.
    psql -c "DELETE FROM auth.sessions WHERE not_after < now()" >/dev/null
}

call="CALL auth.prune_expired_sessions(1000, '0', '100 years', '20 seconds')"
paced=$(side_by_side paced "$call")
unpaced=$(PGOPTIONS="-c auth_sessions.prune_busy_share=1" side_by_side unpaced "$call")
delete=$(side_by_side delete "DELETE FROM auth.sessions WHERE not_after < now()")
busy_ms=$(echo "${unpaced#*|}" | awk '{ print $5 }')
busy=$(side_by_side busy "DO \$\$ DECLARE t timestamptz := clock_timestamp() + interval '$busy_ms ms';
    BEGIN WHILE clock_timestamp() < t LOOP END LOOP; END \$\$")

printf '\n%-54s %7s %7s %7s %7s %6s %7s %8s %8s\n' "concurrent stream (4 clients)" "txns" "p50 ms" "p99 ms" "max ms" "p99 x" \
    "ms" "pruned" "rows/s"
row() { # label "count p50 p99 max [window]" idle-p99 [result-file]
    local label=$1 idle_p99=$3 pruned=-
    [ -n "${4:-}" ] && pruned=$(cut -d'|' -f1 "$work/$4.result")
    set -- $2
    printf '%-54s %7s %7s %7s %7s %6s %7s %8s %8s\n' "$label" "$1" "$2" "$3" "$4" \
        "$(awk -v p="$3" -v i="$idle_p99" 'BEGIN { printf "%.2f", p / i }')" "${5:--}" "$pruned" \
        "$(awk -v n="$pruned" -v w="${5:-0}" 'BEGIN { if (n == "-" || w == 0) print "-"; else printf "%.0f", n * 1000 / w }')"
}
p99() { echo "$1" | awk '{ print $3 }'; }
pair() { # label figures [result-file]
    row "  idle, before and after" "${2%%|*}" "$(p99 "${2%%|*}")"
    row "  during $1" "${2#*|}" "$(p99 "${2%%|*}")" "${3:-}"
}
pair "CALL prune_expired_sessions() (yields, 0.05)" "$paced" paced
pair "the same, prune_busy_share = 1 (never yields)" "$unpaced" unpaced
pair "one DELETE (for contrast)" "$delete"
pair "a busy loop, no pruning (reference)" "$busy"
echo "(p99 x: the p99 during, over the p99 idle around it; ms: how long it ran)"
# Leave no expired sessions behind for the next benchmark.
psql -c "DELETE FROM auth.sessions WHERE not_after < now()" >/dev/null
psql -c "VACUUM ANALYZE auth.sessions, auth.refresh_tokens" >/dev/null
