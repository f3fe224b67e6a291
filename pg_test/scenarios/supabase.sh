#!/usr/bin/env bash
# The extension in databases as Supabase builds them: Supabase's own init
# scripts and migrations, applied by its bootstrap script in the order its
# Postgres image applies them (SUPABASE, default ../shared/supabase), then
# GoTrue's migrations (GOTRUE, default ../shared/gotrue), on a cluster made
# with `initdb -U supabase_admin`, auth_sessions in shared_preload_libraries:
#
#   0. the README's quickstart, each step's SQL block run as written by the
#      role it names, with GoTrue's sign-in and PostgREST's requests between;
#   1. CREATE EXTENSION auth_sessions_gotrue (by supabase_admin) at every
#      point of the database's life: right after Supabase's part (before
#      GoTrue's first start), half-way through GoTrue's migrations, after
#      them: it waits (55000, session_stats) and completes itself (the limit
#      trigger, once) with no second step;
#   2. Supabase's roles: postgres (not a superuser) lists, revokes and prunes
#      sessions, reads the stats, and sets max_per_user for its database,
#      which GoTrue's next sign-in obeys; GoTrue's sign-in, refresh and logout
#      statements as supabase_auth_admin with the limit on; authenticated and
#      anon can do none of it, nor loosen a setting; service_role only through
#      the PostgREST wrappers of the README's recipe;
#   3. PostgREST-style transactions as authenticated: a revoked session reads
#      nothing from a table whose policy checks the session; the README's
#      "logout everywhere" calls give every table of public and
#      storage.objects the check (requests as Storage makes them), the
#      coverage report, the opt-in for tables to come;
#   4. Supabase's event triggers and the extension's coexist;
#   5. the background worker prunes GoTrue's tables, as their owner, and a
#      pg_cron job that postgres scheduled does (skipped, saying so, without
#      Debian's pg_cron package);
#   6. pg_dump --create of the database and the cluster's roles, restored
#      into a new cluster: every row, the extension, the limit trigger once,
#      policies, grants and the database's settings back.
#
# Both fixtures are outside the repository; without them these tests are
# skipped, saying so.
# Usage: supabase.sh WORKDIR (a directory the postgres OS user can use)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
supabase=${SUPABASE:-$here/../../../shared/supabase}
gotrue=${GOTRUE:-$here/../../../shared/gotrue}
if [ ! -x "$supabase/bootstrap" ] || [ ! -d "$gotrue/migrations" ]; then
    echo "SKIPPED: Supabase bootstrap tests: need Supabase's bootstrap at $supabase and GoTrue's migrations at $gotrue (make test SUPABASE=... GOTRUE=... runs them)"
    exit 0
fi
supabase=$(cd "$supabase" && pwd); gotrue=$(cd "$gotrue" && pwd)
. "$here/../testlib.sh"
work=$1
port=$(alloc_port)
sock=/tmp/auth_sessions_supabase.$port
data=$work/data
bin=$(pg_bindir)
export PGHOST=$sock PGPORT=$port PGTZ=UTC
as() { local role=$1 db=$2; shift 2; PGUSER=$role psql -d "$db" "$@"; }
sqlstate() { local role=$1 db=$2; shift 2; PGUSER=$role "$bin/psql" -X -q -At -v VERBOSITY=sqlstate -d "$db" "$@" 2>&1 | sed -n 's/^.*ERROR:  \([0-9A-Z]*\).*/\1/p' | head -1; }

# pg_cron (Debian's postgresql-NN-cron, which scripts/deps.sh installs), as
# Supabase preloads it; its test is skipped, saying so, without it.
if [ -f "$("$PG_CONFIG" --pkglibdir)/pg_cron.so" ]; then preload=pg_cron,auth_sessions; else preload=auth_sessions; fi
# new_cluster: a cluster as Supabase's image makes it (bootstrap superuser
# supabase_admin), with the library preloaded and the worker not yet pointed
# at a database; Supabase's bootstrap runs once per cluster (it demotes
# postgres), so each scenario gets a new one.
new_cluster() {
    cluster_stop "$data"
    rm -rf "$data" "$sock"; mkdir -p "$data" "$sock"
    if is_root; then chown postgres: "$data" "$sock"; fi
    chmod 700 "$data"
    as_pg "$bin/initdb" -D "$data" -U supabase_admin -A trust -E UTF8 --locale=C >"$work/initdb.log" 2>&1 ||
        { cat "$work/initdb.log" >&2; die "initdb failed"; }
    cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$sock'
port = $port
fsync = off
shared_preload_libraries = '$preload'
# The worker (which prunes database postgres by default) sleeps until the
# test of it.
auth_sessions.prune_interval = 0
auth_sessions.prune_busy_share = 1
# pg_cron runs its jobs in background workers, in this database, as the
# role that scheduled them.
cron.database_name = 'postgres'
cron.use_background_workers = on
CONF
    as_pg env -u RUST_BACKTRACE "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w start >/dev/null ||
        { cat "$data/server.log" >&2; die "could not start the Supabase cluster"; }
}
mkdir -p "$work"
if is_root; then chown postgres: "$work"; fi
trap 'cluster_stop "$data"' EXIT

# bootstrap [VERSION]: Supabase's part in database postgres; with VERSION,
# GoTrue's migrations up to it too (all: 99999999999999).
bootstrap() {
    PGUSER=supabase_admin "$supabase/bootstrap" postgres >"$work/bootstrap.log" 2>&1 || { cat "$work/bootstrap.log" >&2; die "Supabase's bootstrap failed"; }
    [ -z "${1:-}" ] || gotrue_upto "$1"
}
# gotrue_upto VERSION: GoTrue's migrations up to VERSION, as GoTrue applies them.
gotrue_upto() {
    local some=$work/gotrue-migrations f v
    rm -rf "$some"; mkdir -p "$some"
    for f in "$gotrue"/migrations/*.up.sql; do
        v=$(basename "$f"); v=${v%%_*}
        [[ "$v" > "$1" ]] || cp "$f" "$some/"
    done
    PGUSER=supabase_admin GOTRUE=$some "$supabase/bootstrap" postgres >"$work/bootstrap.log" 2>&1 || { cat "$work/bootstrap.log" >&2; die "GoTrue's migrations failed"; }
}
# GoTrue's statements, as supabase_auth_admin: its sign-up (the row in
# auth.users) and its sign-in (the 15-column INSERT of pg_test/scenarios/gotrue/signin.sql).
# gotrue_signup DB USER_ID EMAIL
gotrue_signup() {
    as supabase_auth_admin "$1" -c "INSERT INTO users (instance_id, id, aud, role, email, created_at, updated_at)
        VALUES ('00000000-0000-0000-0000-000000000000', '$2', 'authenticated', 'authenticated', '$3', now(), now())" >/dev/null
}
# gotrue_signin DB USER_ID [SESSION_ID|new [expired|valid [USER_AGENT]]]: an
# expired session was created two days ago, with not_after a day ago.
gotrue_signin() {
    local id="gen_random_uuid()" times="now(), NULL" ua=NULL
    [ "${3:-new}" = new ] || id="'$3'"
    [ "${4:-valid}" = expired ] && times="now() - interval '2 days', now() - interval '1 day'"
    [ -n "${5:-}" ] && ua="'$5'"
    as supabase_auth_admin "$1" -f "$here/gotrue/signin.sql" -c "
        EXECUTE signin('aal1', ${times%%, *}, NULL, $id, NULL, ${times#*, }, NULL, NULL, NULL, NULL, NULL, NULL, now(), $ua, '$2')" >/dev/null
}
limit_triggers="SELECT count(*) FROM pg_trigger WHERE tgrelid = 'auth.sessions'::regclass AND tgname = 'enforce_session_limit'"

log "the README's quickstart, step by step as written, from Supabase's init scripts on"
request_as() { # request_as EMAIL SESSION SQL: one PostgREST request of that user's session, as authenticated
    local sub
    sub=$(as postgres postgres -c "SELECT id FROM auth.users WHERE email = '$1'")
    as authenticator postgres -c "BEGIN; SET LOCAL ROLE authenticated;
        SELECT set_config('request.jwt.claims', json_build_object('sub', '$sub', 'role', 'authenticated', 'session_id', '$2')::text, true) IS NULL;
        $3; COMMIT;" 2>&1 | tail -1
}
new_cluster
bootstrap
as supabase_admin postgres -c "ALTER ROLE authenticator RESET session_preload_libraries"   # (see below: no pg-safeupdate)
readme_block quickstart-create | as supabase_admin postgres -f - >/dev/null
gotrue_upto 99999999999999
you=a9000000-0000-4000-8000-0000000000ff
gotrue_signup postgres "$you" you@example.com
gotrue_signin postgres "$you" a9000000-0000-4000-8000-000000000001 valid \
    'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'
readme_block quickstart-policy | as postgres postgres -f - >/dev/null
readme_block quickstart-setting | as postgres postgres -f - >/dev/null
check "the setting reaches GoTrue's next connection" 5 "$(as supabase_auth_admin postgres -c "SHOW auth_sessions.max_per_user")"
check "the app writes and reads a note" 1 \
    "$(request_as you@example.com a9000000-0000-4000-8000-000000000001 "INSERT INTO public.notes (body) VALUES ('hello'); SELECT count(*) FROM public.notes")"
check "step 5 shows the session, valid" "ready|you@example.com|a9000000-0000-4000-8000-000000000001|valid|Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" \
    "$(readme_block quickstart-check | as postgres postgres -F'|' -f -)"
check "and signs the user out" 1 "$(readme_block quickstart-revoke | as postgres postgres -f -)"
check "the same access token then reads no notes" 0 \
    "$(request_as you@example.com a9000000-0000-4000-8000-000000000001 "SELECT count(*) FROM public.notes")"
check "and writes none (42501)" 42501 \
    "$(as authenticator postgres -v VERBOSITY=sqlstate -c "BEGIN; SET LOCAL ROLE authenticated;
        SELECT set_config('request.jwt.claims', json_build_object('sub', '$you',
            'session_id', 'a9000000-0000-4000-8000-000000000001')::text, true);
        INSERT INTO public.notes (body) VALUES ('again'); COMMIT;" 2>&1 | sed -n 's/^.*ERROR:  \([0-9A-Z]*\).*/\1/p')"

log "CREATE EXTENSION at every point of a Supabase database's life"
db=postgres
# The last one, made before GoTrue's first start, is the one the rest uses.
for point in all 20221003041400 before_gotrue; do
    new_cluster
    case $point in
        before_gotrue) bootstrap ;;
        all) bootstrap 99999999999999 ;;
        *) bootstrap "$point" ;;
    esac
    as supabase_admin "$db" -c "CREATE EXTENSION auth_sessions_gotrue"
    if [ $point != all ]; then
        check "$point: waiting, saying for what" "waiting" "$(as postgres "$db" -c "SELECT auth.session_stats()->>'status'")"
        check "$point: a function says what is missing (55000)" 55000 \
            "$(sqlstate postgres "$db" -c "SELECT auth.session_is_valid(gen_random_uuid())")"
        gotrue_upto 99999999999999
    fi
    check "$point, then GoTrue's migrations: ready, the limit trigger once" "ready 1" \
        "$(as postgres "$db" -c "SELECT auth.session_stats()->>'status' || ' ' || ($limit_triggers)")"
done

log "Supabase's roles, in the database made before GoTrue's first start"
# Supabase preloads pg-safeupdate for PostgREST's login role; Debian ships no
# package of it, and nothing here depends on it.
as supabase_admin "$db" -c "ALTER ROLE authenticator RESET session_preload_libraries"
check "postgres is not a superuser here" f "$(as postgres "$db" -c "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")"
one=00000000-0000-4000-8000-000000000001
gotrue_signup "$db" "$one" one@example.com
gotrue_signin "$db" "$one" a1000000-0000-4000-8000-000000000001 valid ua/1
gotrue_signin "$db" "$one" a1000000-0000-4000-8000-000000000002 expired ua/2
as supabase_auth_admin "$db" -c "
    UPDATE sessions SET refreshed_at = now() AT TIME ZONE 'UTC', updated_at = now() WHERE id = 'a1000000-0000-4000-8000-000000000001';"
check "postgres lists a user's sessions with their validity" "valid,past_not_after" \
    "$(as postgres "$db" -c "SELECT string_agg(validity, ',' ORDER BY created_at DESC) FROM auth.user_sessions('00000000-0000-4000-8000-000000000001')")"
check "postgres reads the stats" "ready 2" \
    "$(as postgres "$db" -c "SELECT s->>'status' || ' ' || (s->>'total_sessions') FROM auth.session_stats() s")"
check "postgres prunes" 1 "$(as postgres "$db" -c "SELECT auth.prune_sessions(100, '0')")"
check "postgres checks and revokes" "t t f" \
    "$(as postgres "$db" -c "SELECT auth.session_is_valid('a1000000-0000-4000-8000-000000000001')" \
        -c "SELECT auth.revoke_session('a1000000-0000-4000-8000-000000000001')" \
        -c "SELECT auth.session_is_valid('a1000000-0000-4000-8000-000000000001')" | tr '\n' ' ' | sed 's/ $//')"
# The README's block for postgres, as written (for its user you@example.com).
gotrue_signup "$db" 00000000-0000-4000-8000-0000000000cc you@example.com
gotrue_signin "$db" 00000000-0000-4000-8000-0000000000cc new valid ua/c
check "postgres runs the README's administration block as written" "1 5" \
    "$(readme_block supabase-postgres | as postgres "$db" -f - | sed -n '2p' | tr -d '\n'; echo -n ' '; as supabase_auth_admin "$db" -c "SHOW auth_sessions.max_per_user")"
as postgres "$db" -c "ALTER DATABASE $db SET auth_sessions.max_per_user = 1"
check "postgres's ALTER DATABASE ... SET reaches GoTrue's next connection" 1 \
    "$(as supabase_auth_admin "$db" -c "SHOW auth_sessions.max_per_user")"
gotrue_signin "$db" "$one" new valid ua/3
gotrue_signin "$db" "$one" new valid ua/4
check "GoTrue's sign-ins then keep one session per user" 1 \
    "$(as supabase_auth_admin "$db" -c "SELECT count(*) FROM sessions WHERE user_id = '$one'")"
check "GoTrue's refresh (its UPDATE) with the limit on" "1 true" "$(as supabase_auth_admin "$db" -c "
    UPDATE \"sessions\" AS sessions SET \"ip\" = '198.51.100.7', \"refreshed_at\" = now() AT TIME ZONE 'UTC', \"updated_at\" = now(),
           \"user_agent\" = 'ua/r' WHERE sessions.user_id = '00000000-0000-4000-8000-000000000001';
    SELECT count(*) || ' ' || bool_and(refreshed_at IS NOT NULL) FROM sessions WHERE user_id = '00000000-0000-4000-8000-000000000001'" | tail -1)"
check "GoTrue's logout (its DELETE) as supabase_auth_admin" 0 "$(as supabase_auth_admin "$db" -c "
    DELETE FROM sessions WHERE user_id = '00000000-0000-4000-8000-000000000001';
    SELECT count(*) FROM sessions")"
as postgres "$db" -c "ALTER DATABASE $db RESET auth_sessions.max_per_user"
for role in authenticated anon service_role; do
    for call in "auth.session_is_valid(gen_random_uuid())" "auth.revoke_session(gen_random_uuid())" \
                "auth.user_sessions(gen_random_uuid())" "auth.prune_sessions()" "auth.session_stats()"; do
        check "$role cannot call $call (42501)" 42501 \
            "$(sqlstate authenticator "$db" -c "BEGIN; SET LOCAL ROLE $role; SELECT $call; COMMIT;")"
    done
    check "$role cannot loosen max_per_user (42501)" 42501 \
        "$(sqlstate authenticator "$db" -c "BEGIN; SET LOCAL ROLE $role; SELECT auth.session_id(); SET LOCAL auth_sessions.max_per_user = 0; COMMIT;")"
done

log "service_role through the README's PostgREST wrappers"
# The recipe exactly as the README gives it (the SQL block after the marker
# "test: supabase-wrappers"), run as postgres.
readme_block supabase-wrappers >"$work/wrappers.sql"
check "the README has the wrappers' recipe" 1 "$(grep -c 'CREATE FUNCTION public.admin_sign_out_user' "$work/wrappers.sql" || true)"
as postgres "$db" -f "$work/wrappers.sql" >/dev/null
gotrue_signin "$db" "$one" a1000000-0000-4000-8000-000000000005 valid ua/5
check "service_role lists a user's sessions through the wrapper" "a1000000-0000-4000-8000-000000000005 valid" \
    "$(as authenticator "$db" -c "BEGIN; SET LOCAL ROLE service_role;
        SELECT id || ' ' || validity FROM public.admin_user_sessions('00000000-0000-4000-8000-000000000001'); COMMIT;")"
check "service_role signs a user out everywhere through the wrapper" 1 \
    "$(as authenticator "$db" -c "BEGIN; SET LOCAL ROLE service_role;
        SELECT public.admin_sign_out_user('00000000-0000-4000-8000-000000000001'); COMMIT;")"
for role in authenticated anon; do
    check "$role cannot call the wrappers (42501)" 42501 \
        "$(sqlstate authenticator "$db" -c "BEGIN; SET LOCAL ROLE $role; SELECT public.admin_sign_out_user(gen_random_uuid()); COMMIT;")"
done
check "service_role cannot call the extension's functions directly (42501)" 42501 \
    "$(sqlstate authenticator "$db" -c "BEGIN; SET LOCAL ROLE service_role; SELECT auth.revoke_user_sessions(gen_random_uuid()); COMMIT;")"

log "PostgREST-style requests as authenticated: a revoked session reads nothing"
as postgres "$db" -c "
    CREATE TABLE public.notes (id bigint PRIMARY KEY, user_id uuid NOT NULL DEFAULT auth.uid(), body text);
    ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own_notes ON public.notes FOR ALL TO authenticated
        USING (user_id = auth.uid() AND auth.current_session_is_valid())
        WITH CHECK (user_id = auth.uid() AND auth.current_session_is_valid());
    INSERT INTO public.notes VALUES (1, '00000000-0000-4000-8000-000000000001', 'mine');
    CREATE TABLE public.payouts (id bigint PRIMARY KEY, user_id uuid NOT NULL, amount numeric);
    ALTER TABLE public.payouts ENABLE ROW LEVEL SECURITY;" >/dev/null
# The README's row-security recipes, as written.
readme_block supabase | as postgres "$db" -f - >/dev/null
gotrue_signin "$db" "$one" a1000000-0000-4000-8000-000000000006 valid ua/6
request() {
    as authenticator "$db" -c "BEGIN; SET LOCAL ROLE authenticated;
        SELECT set_config('request.jwt.claims', '{\"sub\":\"00000000-0000-4000-8000-000000000001\",\"role\":\"authenticated\",\"session_id\":\"a1000000-0000-4000-8000-000000000006\"}', true) IS NULL;
        $1; COMMIT;" | tail -1
}
check "a valid session reads its note" 1 "$(request "SELECT count(*) FROM public.notes")"
as postgres "$db" -c "SELECT auth.revoke_session('a1000000-0000-4000-8000-000000000006')" >/dev/null
check "after postgres revokes it, the same token reads nothing" 0 "$(request "SELECT count(*) FROM public.notes")"
check "and writes nothing (42501)" 42501 \
    "$(sqlstate authenticator "$db" -c "BEGIN; SET LOCAL ROLE authenticated;
        SELECT set_config('request.jwt.claims', '{\"sub\":\"00000000-0000-4000-8000-000000000001\",\"session_id\":\"a1000000-0000-4000-8000-000000000006\"}', true);
        INSERT INTO public.notes (id, body) VALUES (2, 'x'); COMMIT;")"

check "the README's query lists what DROP EXTENSION ... CASCADE would take" \
    "policy live session on table notes|policy live session writes on table notes|policy mfa for payouts on table payouts|policy own_notes on table notes|policy revoked sessions see nothing on table notes|trigger enforce_session_limit on table auth.sessions" \
    "$(readme_block extension-dependents | as postgres "$db" -f - | tr '\n' '|' | sed 's/|$//')"

log "revocation everywhere: the README's two calls, storage.objects included, as Storage runs its queries"
as postgres "$db" -c "
    CREATE TABLE public.todos (id bigint PRIMARY KEY, user_id uuid NOT NULL DEFAULT auth.uid(), title text);
    ALTER TABLE public.todos ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own_todos ON public.todos FOR ALL TO authenticated
        USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);
    INSERT INTO public.todos VALUES (1, '$one', 'mine'), (2, gen_random_uuid(), 'theirs');
    INSERT INTO storage.buckets (id, name) VALUES ('avatars', 'avatars');
    INSERT INTO storage.objects (bucket_id, name, owner) VALUES ('avatars', '$one/me.png', '$one');
    CREATE POLICY \"own files\" ON storage.objects FOR ALL TO authenticated
        USING (owner = auth.uid()) WITH CHECK (owner = auth.uid());" >/dev/null
gotrue_signin "$db" "$one" a1000000-0000-4000-8000-000000000011 valid ua/11
gotrue_signin "$db" "$one" a1000000-0000-4000-8000-000000000012 valid ua/12
# as_session SESSION SQL: one request of user one's session, as PostgREST
# and Storage make it (role authenticated, the verified claims set).
as_session() {
    as authenticator "$db" -c "BEGIN; SET LOCAL ROLE authenticated;
        SELECT set_config('request.jwt.claims', '{\"sub\":\"$one\",\"role\":\"authenticated\",\"session_id\":\"$1\"}', true) IS NULL;
        $2; ROLLBACK;" 2>&1 | tail -1
}
sees="SELECT (SELECT count(*) FROM public.todos) || ' ' || (SELECT count(*) FROM storage.objects)"
changes="WITH u AS (UPDATE storage.objects SET metadata = '{}' RETURNING 1), d AS (DELETE FROM public.todos RETURNING 1)
         SELECT (SELECT count(*) FROM u) || ' ' || (SELECT count(*) FROM d)"
valid_before=$(as_session a1000000-0000-4000-8000-000000000012 "$sees")
check "before: a session reads its todo and its file" "1 1" "$(as_session a1000000-0000-4000-8000-000000000011 "$sees")"
as postgres "$db" -c "SELECT auth.revoke_session('a1000000-0000-4000-8000-000000000011')" >/dev/null
check "the gap: its token, revoked, still reads them (policies that never ask)" "1 1" \
    "$(as_session a1000000-0000-4000-8000-000000000011 "$sees")"
readme_block logout-everywhere | as postgres "$db" -f - >"$work/logout-everywhere.out"
check "the README's two calls, as postgres: the check on public's tables and on storage.objects" "t" \
    "$(tail -1 "$work/logout-everywhere.out")"
check "so that every table of public with row security has it" 0 \
    "$(as postgres "$db" -c "SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relrowsecurity
        AND NOT EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'auth_sessions_valid_session')")"
check "the revoked session reads nothing: no todo, no file" "0 0" "$(as_session a1000000-0000-4000-8000-000000000011 "$sees")"
check "updates and deletes nothing" "0 0" "$(as_session a1000000-0000-4000-8000-000000000011 "$changes")"
check "uploads nothing (42501)" 42501 \
    "$(sqlstate authenticator "$db" -c "BEGIN; SET LOCAL ROLE authenticated;
        SELECT set_config('request.jwt.claims', '{\"sub\":\"$one\",\"session_id\":\"a1000000-0000-4000-8000-000000000011\"}', true);
        INSERT INTO storage.objects (bucket_id, name, owner) VALUES ('avatars', '$one/new.png', '$one'); COMMIT;")"
check "a still-valid session sees exactly what it saw" "$valid_before" "$(as_session a1000000-0000-4000-8000-000000000012 "$sees")"
check "and changes what it could" "1 1" "$(as_session a1000000-0000-4000-8000-000000000012 "$changes")"
as postgres "$db" -c "SELECT auth.revoke_session('a1000000-0000-4000-8000-000000000012')" >/dev/null
check "the coverage report says why storage.objects and public.todos are covered" \
    "storage.objects covered by a restrictive policy|public.todos covered by a restrictive policy" \
    "$(as postgres "$db" -c "SELECT object || ' ' || reason FROM auth.session_check_coverage()
        WHERE object IN ('storage.objects', 'public.todos') AND covered ORDER BY object DESC" | tr '\n' '|' | sed 's/|$//')"
readme_block coverage | as postgres "$db" -F'|' -f - >"$work/coverage.out"
check "the README's coverage query lists no auth_sessions table as uncovered, and runs" "" \
    "$(grep -E '^(public\.(todos|notes|payouts)|storage\.objects)\|' "$work/coverage.out" || true)"
readme_block session-check-schemas | as postgres "$db" -f - >/dev/null
check "tables to come: in a new connection, a table given row security gets the check" 1 \
    "$(as postgres "$db" -c "CREATE TABLE public.later_notes (id int); ALTER TABLE public.later_notes ENABLE ROW LEVEL SECURITY;
        SELECT count(*) FROM pg_policy WHERE polrelid = 'public.later_notes'::regclass AND polname = 'auth_sessions_valid_session'")"

log "Supabase's event triggers and the extension's, together"
check "the event triggers of both are there" "auth_sessions_attach auth_sessions_guard issue_graphql_placeholder issue_pg_cron_access" \
    "$(as postgres "$db" -c "SELECT string_agg(evtname, ' ' ORDER BY evtname) FROM pg_event_trigger
        WHERE evtname IN ('auth_sessions_attach', 'auth_sessions_guard', 'issue_graphql_placeholder', 'issue_pg_cron_access')")"
check "postgres's DDL goes through all of them" "ok" \
    "$(as postgres "$db" -c "CREATE TABLE public.later (id int); ALTER TABLE public.later ADD COLUMN t text;
        CREATE FUNCTION public.later_f() RETURNS int LANGUAGE sql AS 'SELECT 1'; DROP TABLE public.later; DROP FUNCTION public.later_f(); SELECT 'ok'")"
check "GoTrue's later DDL too (a migration adding a column to auth.sessions)" "ready 1" \
    "$(as supabase_auth_admin "$db" -c "ALTER TABLE auth.sessions ADD COLUMN later_migration text;
        ALTER TABLE auth.sessions DROP COLUMN later_migration;
        SELECT auth.session_stats()->>'status' || ' ' || ($limit_triggers)" 2>&1 | tail -1)"

log "the background worker prunes GoTrue's tables, as their owner"
gotrue_signin "$db" "$one" new expired
before=$(as postgres "$db" -c "SELECT count(*) FROM auth.sessions")
as supabase_admin "$db" -c "ALTER SYSTEM SET auth_sessions.prune_interval = '1s'" -c "SELECT pg_reload_conf()" >/dev/null
pruned=
for _ in $(seq 1 300); do
    pruned=$(as postgres "$db" -c "SELECT count(*) FROM auth.sessions WHERE not_after < now()")
    [ "$pruned" = 0 ] && break
    sleep 0.1
done
check "the worker pruned the expired session" "0" "$pruned"
check "and kept the others" "$((before - 1))" "$(as postgres "$db" -c "SELECT count(*) FROM auth.sessions")"
check "it recorded its runs (session_stats, read by postgres)" t \
    "$(as postgres "$db" -c "SELECT (auth.session_stats()->'worker'->>'runs')::int > 0")"
log "a pg_cron job scheduled by postgres prunes (the worker asleep)"
if [ "$preload" = auth_sessions ]; then
    echo "SKIPPED: the pg_cron job: pg_cron is not installed (Debian's postgresql-$PG_MAJOR-cron)"
else
    as supabase_admin "$db" -c "ALTER SYSTEM RESET auth_sessions.prune_interval" -c "SELECT pg_reload_conf()" >/dev/null
    # As Supabase creates it; its event trigger grants postgres the schema cron.
    as supabase_admin "$db" -c "CREATE EXTENSION pg_cron WITH SCHEMA pg_catalog" >/dev/null
    # The README's block, as written.
    readme_block pg-cron | as postgres "$db" -f - >/dev/null
    gotrue_signin "$db" "$one" new expired
    # pg_cron starts jobs on the minute: wait for the next one (bounded).
    ran=
    for _ in $(seq 1 150); do
        ran=$(as postgres "$db" -c "SELECT d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                                      WHERE j.jobname = 'auth-sessions-prune' ORDER BY d.runid DESC LIMIT 1")
        [ -n "$ran" ] && [ "$ran" != running ] && [ "$ran" != starting ] && break
        sleep 1
    done
    check "the job ran, as postgres, and succeeded" "postgres succeeded" \
        "$(as postgres "$db" -c "SELECT j.username || ' ' || d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                                  WHERE j.jobname = 'auth-sessions-prune' ORDER BY d.runid DESC LIMIT 1")"
    check "it pruned the expired session" 0 "$(as postgres "$db" -c "SELECT count(*) FROM auth.sessions WHERE not_after < now()")"
    as postgres "$db" -c "SELECT cron.unschedule('auth-sessions-prune')" >/dev/null
fi

log "pg_dump of the whole Supabase database, restored into a new Supabase cluster"
fingerprint() {
    # (auth.prune_state's row changes with every run of the worker, which keeps
    # running until the dump: checked apart below.)
    PGUSER=supabase_admin table_fingerprints "$db" auth public | grep -Ev '^(auth\.)?prune_state '
    as supabase_admin "$db" <<'SQL'
SELECT 'extension ' || extname || ' ' || extversion FROM pg_extension WHERE extname LIKE 'auth_sessions%';
SELECT 'limit triggers ' || count(*) FROM pg_trigger WHERE tgrelid = 'auth.sessions'::regclass AND tgname = 'enforce_session_limit';
SELECT 'policy ' || polrelid::regclass || ' ' || polname || ' ' || pg_get_expr(polqual, polrelid) FROM pg_policy
 WHERE polrelid IN ('public.notes'::regclass, 'public.todos'::regclass, 'storage.objects'::regclass) ORDER BY 1;
SELECT 'acl ' || p.oid::regprocedure || ' ' || array_to_string(array(SELECT unnest(p.proacl)::text ORDER BY 1), ',')
  FROM pg_proc p WHERE p.pronamespace IN ('auth'::regnamespace, 'public'::regnamespace)
   AND (p.proname LIKE 'admin\_%' OR p.proname IN ('revoke_session', 'session_stats', 'prune_sessions')) ORDER BY 1;
SELECT 'acl auth.prune_state ' || array_to_string(array(SELECT unnest(relacl)::text ORDER BY 1), ',') FROM pg_class WHERE oid = 'auth.prune_state'::regclass;
SELECT 'database ' || array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) AND setrole = 0;
SQL
}
as postgres "$db" -c "ALTER DATABASE $db SET auth_sessions.timebox = '30d'"
gotrue_signin "$db" "$one" a1000000-0000-4000-8000-000000000007 valid ua/7
fingerprint >"$work/before.txt"
check "the database has a session to carry" 1 "$(grep -c '^\(auth\.\)\?sessions 1 ' "$work/before.txt")"
"$bin/pg_dumpall" -U supabase_admin --globals-only >"$work/globals.sql"
"$bin/pg_dump" -U supabase_admin -Fc --create -d "$db" -f "$work/db.dump"
new_cluster
# The roles first, as any restore of a whole cluster does (the bootstrap
# superuser is there already).
PGUSER=supabase_admin "$bin/psql" -X -q -d postgres -f "$work/globals.sql" >"$work/globals.log" 2>&1 || true
check "the roles are restored but for the one initdb made" "" \
    "$(grep ERROR "$work/globals.log" | grep -v 'role "supabase_admin" already exists' || true)"
# (The new cluster's own, empty database postgres makes way: pg_cron's
# launcher keeps a connection to it.)
as supabase_admin template1 -c "DROP DATABASE postgres WITH (FORCE)"
PGUSER=supabase_admin "$bin/pg_restore" --create -d template1 "$work/db.dump" >"$work/restore.log" 2>&1 || true
# Supabase's own event trigger issue_pg_net_access was made by postgres while
# it was still a superuser; after its demotion no restore can give it back
# to postgres (event triggers belong to superusers). Nothing else may fail.
check "pg_restore: no error but Supabase's own event trigger owner" "" \
    "$(grep 'ERROR' "$work/restore.log" | grep -v 'permission denied to change owner of event trigger "issue_pg_net_access"' || true)"
fingerprint >"$work/after.txt"
if diff -u "$work/before.txt" "$work/after.txt" >&2; then
    echo "ok: restored: every row of auth and public, the extension, one limit trigger, the policy, the grants, the database's settings"
else
    echo "FAILED: the restored database differs (- before, + after)" >&2; failed=1
fi
check "the worker's record came back with the rows" t \
    "$(as postgres "$db" -c "SELECT (auth.session_stats()->'worker'->>'runs')::int > 0")"
check "the restored database answers as before" "ready 30d t" \
    "$(as postgres "$db" -c "SELECT auth.session_stats()->>'status'" -c "SHOW auth_sessions.timebox" \
        -c "SELECT auth.session_is_valid('a1000000-0000-4000-8000-000000000007')" | tr '\n' ' ' | sed 's/ $//')"
exit $failed
