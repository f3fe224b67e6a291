#!/usr/bin/env bash
# count(*) of public.items (1M rows) as authenticated with claims set, each
# statement in a new connection (so the library is not loaded yet when it is
# planned), without a policy (the baseline) and under
# USING (auth.current_session_is_valid()); best of RUNS connections each,
# timed by psql (\timing: the statement's round trip, planning and the
# library's loading included). Needs SOCK, PORT, DB.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
bin=$(pg_bindir)
RUNS=${FRESH_RUNS:-7}
psql() { "$bin/psql" -X -q -At -h "$SOCK" -p "$PORT" -U postgres -d "$DB" "$@"; }
session=$(psql -c "SET auth_sessions.timebox = '3d'; SET auth_sessions.inactivity_timeout = '1d';
                   SELECT id FROM auth.sessions WHERE auth.session_is_valid(id) LIMIT 1" | tail -1)

. bench/lib.sh
# best_ms: the fastest of RUNS fresh connections running the count.
best_ms() {
    best_fresh_ms "$RUNS" "SET ROLE authenticated;
SELECT set_config('request.jwt.claims', '{\"role\":\"authenticated\",\"session_id\":\"$session\"}', false) IS NULL;
\\timing on
SELECT count(*) FROM public.items;"
}

psql -c "ALTER TABLE public.items DISABLE ROW LEVEL SECURITY"
base=$(best_ms)
psql -c "ALTER TABLE public.items ENABLE ROW LEVEL SECURITY" \
     -c "CREATE POLICY items_fresh ON public.items FOR SELECT USING (auth.current_session_is_valid())"
policy=$(best_ms)
psql -c "DROP POLICY items_fresh ON public.items" -c "ALTER TABLE public.items DISABLE ROW LEVEL SECURITY"
printf '%-72s %10s %12s\n' "count(*) of 1M rows, each statement in a new connection" "best ms" "x baseline"
printf '%-72s %10s %12s\n' "no policy (baseline)" "$base" "1.00"
printf '%-72s %10s %12s\n' "USING (auth.current_session_is_valid())" "$policy" "$(awk -v a="$policy" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
