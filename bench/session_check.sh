#!/usr/bin/env bash
# The session check's cost (auth.enforce_session_check: one restrictive
# policy calling auth.current_session_is_valid()) on a table with a typical
# Supabase policy, `auth.uid() = user_id`: each query with and without it,
# side by side, as authenticated with claims set (as PostgREST does).
#   - todos (1M rows, 100k users): count(*) of the user's rows, first by a
#     scan (the policy filters every row), then through an index on user_id
#     (the user's ten rows; 500 statements per timing, each planned anew),
#     and the same as one prepared plan (5000 executions);
#   - for comparison, what PostgreSQL charges that lookup, without the check,
#     for one more cheap condition and for a hand-written InitPlan;
#   - a request as PostgREST makes one (pgbench, prepared);
#   - each statement in a new connection (the library not loaded yet, as in a
#     database without shared_preload_libraries), and with the library
#     preloaded (session_preload_libraries, as with shared_preload_libraries).
# Best of several runs each. Needs SOCK, PORT, DB (the bench dataset loaded).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
bin=$(pg_bindir)
RUNS=${FRESH_RUNS:-7}
psql() { "$bin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d "$DB" "$@"; }

psql <<'SQL'
SET client_min_messages = warning;
-- Supabase's auth.uid(), as its init scripts define it (here in schema public).
CREATE OR REPLACE FUNCTION public.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid $$;
DROP TABLE IF EXISTS public.todos;
CREATE TABLE public.todos AS
    SELECT n AS id, ('00000000-0000-4000-8000-' || lpad(to_hex(1 + n % 100000), 12, '0'))::uuid AS user_id,
           md5(n::text) AS title
      FROM generate_series(1, 1000000) n;
ALTER TABLE public.todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_todos ON public.todos FOR ALL TO authenticated USING (public.uid() = user_id) WITH CHECK (public.uid() = user_id);
GRANT SELECT ON public.todos TO authenticated;
VACUUM ANALYZE public.todos;
SQL
read -r session user < <(psql -F ' ' -c "SELECT id, user_id FROM auth.sessions WHERE auth.session_is_valid(id) LIMIT 1")
# Claims as GoTrue issues them (PostgREST passes them all in request.jwt.claims).
claims=$(tr -d '\n' <<JSON
{"aud":"authenticated","exp":1893456000,"iat":1893452400,"iss":"https://project.supabase.co/auth/v1","sub":"$user",
"email":"user@example.com","phone":"","app_metadata":{"provider":"email","providers":["email"]},
"user_metadata":{"email":"user@example.com","email_verified":true,"phone_verified":false,"sub":"$user"},
"role":"authenticated","aal":"aal1","amr":[{"method":"password","timestamp":1893452400}],"session_id":"$session",
"is_anonymous":false}
JSON
)

# warm LOOPS [BODY]: the best of 5 timings (ms) of LOOPS statements in one
# connection; prints "ms count". BODY (PL/pgSQL, sets n) defaults to
# `SELECT count(*) FROM public.todos` run by EXECUTE, so planned anew each
# time; static SQL keeps its plan, as a prepared statement does.
warm() {
    local body=${2:-"EXECUTE 'SELECT count(*) FROM public.todos' INTO n;"}
    psql <<SQL | tail -1
SELECT set_config('request.jwt.claims', '$claims', false) IS NULL;
SET ROLE authenticated;
CREATE FUNCTION pg_temp.run(loops int) RETURNS bigint LANGUAGE plpgsql AS \$\$
DECLARE n bigint; BEGIN FOR i IN 1 .. loops LOOP $body END LOOP; RETURN n; END \$\$;
SELECT pg_temp.run(1);
CREATE TEMP TABLE t (ms numeric, n bigint);
DO \$\$ DECLARE t0 timestamptz; n bigint; BEGIN
    FOR i IN 1 .. 5 LOOP
        t0 := clock_timestamp(); n := pg_temp.run($1);
        INSERT INTO t VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000, n);
    END LOOP; END \$\$;
SELECT round(min(ms), 1) || ' ' || max(n) FROM t;
SQL
}

. bench/lib.sh
# fresh [PRELOAD]: the best of RUNS new connections running the count once
# (with PRELOAD, the library preloaded by session_preload_libraries).
fresh() {
    PGOPTIONS="${1:+-c session_preload_libraries=auth_sessions}" best_fresh_ms "$RUNS" "SET ROLE authenticated;
SELECT set_config('request.jwt.claims', '$claims', false) IS NULL;
\\timing on
SELECT count(*) FROM public.todos;"
}

row() { # row WHAT BASE_MS CHECK_MS
    printf '%-78s %9s %9s %8s\n' "$1" "$2" "$3" "$(awk -v a="$3" -v b="$2" 'BEGIN { printf "%.2f", a / b }')"
}
on()  { psql -c "SELECT auth.enforce_session_check('public.todos')" >/dev/null; }
off() { psql -c "SELECT auth.drop_session_check('public.todos')" >/dev/null; }

printf '%-78s %9s %9s %8s\n' "count(*) FROM todos as authenticated, policy auth.uid() = user_id" "ms" "+ check" "x"
read -r scan_base n_base < <(warm 1); on; read -r scan_check n_check < <(warm 1); off
[ "$n_base" = "$n_check" ] || echo "ANSWERS DIFFER: $n_base / $n_check"
row "scan of 1M rows (the user's $n_base), one statement" "$scan_base" "$scan_check"
psql -c "CREATE INDEX todos_user_id ON public.todos (user_id)" -c "ANALYZE public.todos"
read -r idx_base n_base < <(warm 500); on; read -r idx_check n_check < <(warm 500); off
[ "$n_base" = "$n_check" ] || echo "ANSWERS DIFFER: $n_base / $n_check"
row "index on user_id, 500 statements (each planned anew)" "$idx_base" "$idx_check"
prepared="SELECT count(*) INTO n FROM public.todos;"
read -r prep_base n_base < <(warm 5000 "$prepared"); on; read -r prep_check n_check < <(warm 5000 "$prepared"); off
[ "$n_base" = "$n_check" ] || echo "ANSWERS DIFFER: $n_base / $n_check"
row "index on user_id, 5000 executions of one prepared plan (as PostgREST prepares)" "$prep_base" "$prep_check"
# For comparison, without the check: what PostgreSQL charges this statement
# for the cheapest extra condition, and for a hand-written InitPlan.
plain="EXECUTE 'SELECT count(*) FROM public.todos WHERE current_setting(''request.jwt.claims'', true) IS NOT NULL' INTO n;"
initplan="EXECUTE 'SELECT count(*) FROM public.todos WHERE (SELECT current_setting(''request.jwt.claims'', true) IS NOT NULL)' INTO n;"
read -r plain_ms _ < <(warm 500 "$plain"); read -r initplan_ms _ < <(warm 500 "$initplan")
row "  no check, WHERE current_setting(...) IS NOT NULL added (planned anew)" "$idx_base" "$plain_ms"
row "  no check, WHERE (SELECT current_setting(...) IS NOT NULL) added (planned anew)" "$idx_base" "$initplan_ms"
# A request as PostgREST makes one for GET /todos (its transaction, its
# set_config of the role and claims, the claims a parameter, its query form):
# request prints the average ms per request of 3000, prepared, one
# connection, pgbench over the unix socket.
request_script=$PWD/target/bench_request.sql
cat >"$request_script" <<'SQL'
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SELECT set_config('search_path', '"public", "extensions"', true), set_config('role', 'authenticated', true),
       set_config('request.jwt.claims', :claims, true), set_config('request.method', 'GET', true),
       set_config('request.path', '/todos', true);
WITH pgrst_source AS (SELECT "public"."todos".* FROM "public"."todos")
SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total,
       coalesce(json_agg(_postgrest_t), '[]') AS body,
       nullif(current_setting('response.headers', true), '') AS response_headers,
       nullif(current_setting('response.status', true), '') AS response_status
  FROM (SELECT * FROM pgrst_source) _postgrest_t;
COMMIT;
SQL
request() {
    "$bin/pgbench" -n -M prepared -h "$SOCK" -p "$PORT" -U postgres -c 1 -t 3000 -D claims="$claims" \
        -f "$request_script" "$DB" 2>/dev/null | sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p'
}
# Five rounds, without and with the check in turn; the best of each.
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a + 0 < b + 0) ? a : b }'; }
req_base=; req_check=
for _ in 1 2 3 4 5; do
    req_base=$(min "$(request)" "$req_base"); on; req_check=$(min "$(request)" "$req_check"); off
done
row "a PostgREST-shaped request for the user's 10 rows (transaction, set_config, JSON)" "$req_base" "$req_check"
fresh_base=$(fresh); on; fresh_check=$(fresh); off
row "index on user_id, each statement in a new connection (library not loaded)" "$fresh_base" "$fresh_check"
pre_base=$(fresh preload); on; pre_check=$(fresh preload); off
row "the same, library preloaded (session_preload_libraries)" "$pre_base" "$pre_check"
psql -c "DROP TABLE public.todos" -c "DROP FUNCTION public.uid()"
