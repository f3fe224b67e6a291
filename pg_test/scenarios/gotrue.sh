#!/usr/bin/env bash
# The extension with GoTrue's (Supabase Auth's) own migrations, applied as
# GoTrue applies them (pg_test/scenarios/gotrue_migrate.sh), in fresh databases of the
# throwaway cluster:
#
#   1. GoTrue first (up to 20250903112500, as supabase_auth_admin), then
#      CREATE EXTENSION auth_sessions_gotrue (a superuser), then GoTrue's
#      later migrations: GoTrue's objects keep their owners, privileges and
#      row security; the rest applies; GoTrue's statements and every function
#      of the extension work (pg_test/scenarios/gotrue/sql/gotrue_exercise.sql);
#   2. that database through pg_dump and back, in three formats
#      (attach_dump.sh);
#   3. the standalone extension first, then GoTrue's migrations: they stop at
#      the first statement, recording nothing;
#   4. created before GoTrue's first migration, after it, half-way and just
#      before refreshed_at: it waits (55000, session_stats), and completes
#      itself when GoTrue's migrations have run (the limit trigger, once);
#   5. the other mode, refused with a clear error.
#
# GoTrue's migrations are a fixture outside the repository (GOTRUE, default
# ../shared/gotrue); without it these tests are skipped, saying so.
# Usage: gotrue.sh WORKDIR (PGHOST/PGPORT name the throwaway cluster)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixture=${GOTRUE:-$here/../../../shared/gotrue}
if [ ! -d "$fixture/migrations" ]; then
    echo "SKIPPED: GoTrue migration tests: no GoTrue migrations at $fixture (make test GOTRUE=/path/to/gotrue runs them)"
    exit 0
fi
fixture=$(cd "$fixture" && pwd)
work=$1
mkdir -p "$work"
. "$here/../testlib.sh"
. "$here/gotrue_migrate.sh"
all=$(ls "$fixture/migrations"/*.up.sql | wc -l)

gotrue_roles

# Owners, privileges, row security, columns and triggers of every relation,
# type and the schema in auth (the extension's own objects left out).
catalog() {
    psql -d "$1" <<'SQL'
SELECT concat_ws(' | ', c.oid::regclass, pg_get_userbyid(c.relowner), c.relacl, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
          FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
       (SELECT string_agg(t.tgname, ', ' ORDER BY t.tgname) FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal))
  FROM pg_class c
 WHERE c.relnamespace = 'auth'::regnamespace AND c.relkind <> 'c'
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
   AND c.relname NOT LIKE 'prune_state%'
UNION ALL
SELECT concat_ws(' | ', t.oid::regtype, pg_get_userbyid(t.typowner), t.typacl)
  FROM pg_type t
 WHERE t.typnamespace = 'auth'::regnamespace AND t.typtype = 'e'
UNION ALL
SELECT concat_ws(' | ', 'schema auth', pg_get_userbyid(n.nspowner), n.nspacl) FROM pg_namespace n WHERE n.nspname = 'auth'
ORDER BY 1;
SQL
}

log "GoTrue first, up to 20250903112500; then CREATE EXTENSION auth_sessions_gotrue; then the rest"
db=gotrue_attach
gotrue_db "$db"
gotrue_migrate "$db" supabase_auth_admin 00 20250903112500
# GoTrue's auth.sessions at this point is the seed's, which the standalone
# extension reproduces (pg_test/scenarios/expected/seed_sessions.describe).
"$bin/psql" -X -d "$db" -v HIDE_TABLEAM=off -v HIDE_TOAST_COMPRESSION=off -c '\d+ auth.sessions' >"$work/describe.txt"
# (psql 18 and later add a "Not-null constraints:" section, which the seed,
# from psql 15, does not have; check_seed.sh checks its entries.)
without_not_null() { awk '/^Not-null constraints:$/ { skip = 1; next } skip && /^    / { next } { skip = 0; print }' "$1"; }
if diff <(sed '/^$/d' "$here/expected/seed_sessions.describe") <(without_not_null "$work/describe.txt" | sed '/^$/d') >&2; then
    echo "ok: GoTrue's auth.sessions after 20250903112500 describes exactly as the seed (and the standalone extension)"
else
    echo "FAILED: GoTrue's auth.sessions after 20250903112500 differs from pg_test/scenarios/expected/seed_sessions.describe" >&2; failed=1
fi
catalog "$db" >"$work/before.txt"
psql -d "$db" -c "CREATE EXTENSION auth_sessions_gotrue"
catalog "$db" >"$work/after.txt"
check "attaching changed nothing of GoTrue's but the limit trigger on auth.sessions" \
    "auth.sessions enforce_session_limit" \
    "$(diff "$work/before.txt" "$work/after.txt" | sed -n 's/^> \(auth\.sessions\) .* | \([a-z_, ]*\)$/\1 \2/p' | tr '\n' ' ' | sed 's/ $//')"
check "and nothing else differs" 2 "$(diff "$work/before.txt" "$work/after.txt" | grep -c '^[<>]' || true)"
check "no GoTrue object is an extension member" "prune_state" \
    "$(psql -d "$db" -c "SELECT string_agg(c.relname, ',') FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
        WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND c.relkind = 'r'")"
gotrue_migrate "$db" supabase_auth_admin 20250903112501 99999999999999
check "GoTrue's later migrations apply as supabase_auth_admin" "$all" \
    "$(psql -d "$db" -c "SELECT count(*) FROM auth.schema_migrations")"
check "the limit trigger is still there, once" 1 \
    "$(psql -d "$db" -c "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'auth.sessions'::regclass AND tgname = 'enforce_session_limit'")"

log "GoTrue's statements and the extension's functions on GoTrue's tables"
out=$work/regress
rm -rf "$out"; mkdir -p "$out"
"$($PG_CONFIG --pkglibdir)/pgxs/src/test/regress/pg_regress" --bindir="$bin" --inputdir="$here/gotrue" \
    --outputdir="$out" --host="$PGHOST" --port="$PGPORT" --user=postgres --use-existing --dbname="$db" \
    gotrue_exercise || { cat "$out/regression.diffs" >&2; failed=1; }

log "pg_dump of the attached database, restored in three formats"
psql -d "$db" -c "DELETE FROM auth.users" -f "$here/../fixtures/populate.sql" >/dev/null
"$here/attach_dump.sh" "$db" "$work/dump" 10000000-0000-4000-8000-000000000001 \
    00000000-0000-4000-8000-000000000001 || failed=1

log "the standalone extension first, then GoTrue's migrations: refused at the first statement"
db=gotrue_standalone_first
gotrue_db "$db"
psql -d "$db" -c "CREATE EXTENSION auth_sessions"
for role in supabase_auth_admin postgres; do
    err=$(gotrue_migrate "$db" "$role" 00 99999999999999 2>&1 >/dev/null || true)
    check "as $role: the first migration fails with the reason and what to do" \
        "ERROR:  auth.users belongs to extension auth_sessions; GoTrue's migrations cannot run on it" \
        "$(printf '%s\n' "$err" | grep -m1 '^ERROR' || true)"
    check "as $role: and says to use auth_sessions_gotrue" 1 \
        "$(printf '%s\n' "$err" | grep -c 'then CREATE EXTENSION auth_sessions_gotrue' || true)"
    check "as $role: nothing was recorded or created" "0 5" \
        "$(psql -d "$db" -c "SELECT (SELECT count(*) FROM auth.schema_migrations) || ' ' || count(*) FROM pg_class
            WHERE relnamespace = 'auth'::regnamespace AND relkind = 'r' AND relname <> 'schema_migrations'")"
done
check "the other mode is refused here" 42710 \
    "$(psql -d "$db" -v VERBOSITY=sqlstate -c "CREATE EXTENSION auth_sessions_gotrue" 2>&1 | sed -n 's/^.*ERROR:  \([0-9A-Z]*\).*/\1/p')"

log "created before, or half-way through, GoTrue's migrations: it waits, then completes itself"
for point in none 00 20221003041400 20231027141321; do
    db=gotrue_at_$point
    gotrue_db "$db"
    [ $point = none ] || gotrue_migrate "$db" supabase_auth_admin 00 $point
    psql -d "$db" -c "CREATE EXTENSION auth_sessions_gotrue"
    check "created after GoTrue's migrations up to $point: waiting" waiting \
        "$(psql -d "$db" -c "SELECT auth.session_stats()->>'status'")"
    check "after $point: its functions say what is missing (55000)" 55000 \
        "$(psql -d "$db" -v VERBOSITY=sqlstate -c "SELECT auth.session_is_valid(gen_random_uuid())" 2>&1 | sed -n 's/^.*ERROR:  \([0-9A-Z]*\).*/\1/p')"
    gotrue_migrate "$db" supabase_auth_admin 00 99999999999999
    check "after $point, then the rest of GoTrue's migrations: ready, with the limit trigger once" "ready 1" \
        "$(psql -d "$db" -c "SELECT auth.session_stats()->>'status' || ' ' || (SELECT count(*) FROM pg_trigger
            WHERE tgrelid = 'auth.sessions'::regclass AND tgname = 'enforce_session_limit')")"
    check "after $point: GoTrue's sign-ins keep one session under max_per_user = 1" 1 "$(PGUSER=supabase_auth_admin psql -d "$db" <<'SQL'
SET auth_sessions.max_per_user = 1;
INSERT INTO auth.users (instance_id, id, aud, role, email, created_at, updated_at)
VALUES ('00000000-0000-0000-0000-000000000000', '00000000-0000-4000-8000-0000000000aa', 'authenticated', 'authenticated', 'a@example.com', now(), now());
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal) VALUES (gen_random_uuid(), '00000000-0000-4000-8000-0000000000aa', now(), now(), 'aal1');
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal) VALUES (gen_random_uuid(), '00000000-0000-4000-8000-0000000000aa', now(), now(), 'aal1');
SELECT count(*) FROM auth.sessions WHERE user_id = '00000000-0000-4000-8000-0000000000aa';
SQL
)"
done
db=gotrue_full
gotrue_db "$db"
gotrue_migrate "$db" supabase_auth_admin 00 99999999999999
err=$(psql -d "$db" -c "CREATE EXTENSION auth_sessions" 2>&1 || true)
check "the standalone extension on GoTrue's tables: refused, pointing to auth_sessions_gotrue" 1 \
    "$(printf '%s\n' "$err" | grep -c 'HINT:  Where GoTrue (Supabase Auth) manages these tables, use CREATE EXTENSION auth_sessions_gotrue' || true)"
psql -d "$db" -c "CREATE EXTENSION auth_sessions_gotrue"
check "attached after all of GoTrue's migrations, the standalone one is refused: 42710" 42710 \
    "$(psql -d "$db" -v VERBOSITY=sqlstate -c "CREATE EXTENSION auth_sessions" 2>&1 | sed -n 's/^.*ERROR:  \([0-9A-Z]*\).*/\1/p')"
exit $failed
