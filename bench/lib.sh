# Sourced by the bench scripts that time statements in new connections.

# best_fresh_ms RUNS SCRIPT: the fastest of RUNS new connections (the
# caller's `psql`, which connects anew each time) running SCRIPT, a psql
# script whose statements after `\timing on` are timed by psql (the round
# trip, planning and, where nothing preloads it, the library's loading).
best_fresh_ms() {
    local runs=$1 script=$2 best="" t
    for _ in $(seq 1 "$runs"); do
        t=$(psql <<<"$script" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
        best=$(awk -v a="${best:-$t}" -v b="$t" 'BEGIN { print (b < a ? b : a) }')
    done
    echo "$best"
}
