#!/usr/bin/env bash
# A PostgreSQL major upgrade of databases using the extension, both modes, the
# ways operators do it: pg_upgrade (--check, then copying, then --link) and
# pg_dump on the old major restored on the new one.
#
# The old cluster holds, for each mode (auth_sessions standalone; the
# GoTrue-shaped tables of pg_test/fixtures/gotrue_like.sql with
# auth_sessions_gotrue), a database filled as pg_test/upgrade/upgrade.sh fills
# one (pg_test/fixtures/populate.sql, pg_test/upgrade/fill.sql: roles,
# row-level-security policies, a view and a CHECK constraint calling the
# functions, a session check), with settings at database level (the limit on,
# refusing), and a third database the background worker prunes
# (shared_preload_libraries). On the new major, each way shows: every row
# intact; the installation equal to a fresh install on the new major, fact by
# fact (pg_test/upgrade/describe.sql); the database's settings kept; the limit
# trigger present once and enforced; the guards active (the standalone
# install's tables refuse changes; attach mode refuses the standalone
# extension); the same answers as before (pg_test/upgrade/probe.sql, at a fixed
# time); the worker pruning. Then, with ../shared (Supabase's bootstrap and
# GoTrue's migrations; skipped, saying so, without), a database as Supabase
# builds it, upgraded with pg_upgrade as Supabase's own scripts run it.
#
# First, a control: whether the two majors' packages here upgrade a database
# of one plain table at all. A way they cannot take is skipped, saying so
# (and why): that is a matter of those packages, not of the extension.
#
# Usage: major.sh FROM TO, as root, in a root filesystem with both majors'
# server packages (scripts/major-upgrade.sh, `make test-major-upgrade`).
set -euo pipefail
from=${1:?usage: major.sh FROM TO}
to=${2:?usage: major.sh FROM TO}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
export PG_MAJOR=$to PG_CONFIG=/usr/lib/postgresql/$to/bin/pg_config
. pg_test/testlib.sh
export PGTZ=UTC
old_bin=/usr/lib/postgresql/$from/bin
new_bin=/usr/lib/postgresql/$to/bin
[ -x "$old_bin/postgres" ] && [ -x "$new_bin/pg_upgrade" ] ||
    die "PostgreSQL $from and $to are not both installed here (scripts/major-upgrade.sh makes such a root filesystem)"

# pgrx knows both majors' pg_config (one init for both: an init names all it keeps).
pgrx_config=${PGRX_HOME:-$HOME/.pgrx}/config.toml
if ! grep -qs "^pg$from = \"$old_bin/pg_config\"" "$pgrx_config" ||
   ! grep -qs "^pg$to = \"$new_bin/pg_config\"" "$pgrx_config"; then
    log "cargo pgrx init --pg$from $old_bin/pg_config --pg$to $new_bin/pg_config"
    cargo pgrx init --pg$from "$old_bin/pg_config" --pg$to "$new_bin/pg_config"
fi

# The extension, built and installed for each major (the old one in a target
# directory of its own: this root filesystem's C library, not the machine's).
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
log "building and installing the extension for PostgreSQL $from (target/pg$from-$suite)"
PG_MAJOR=$from PG_CONFIG=$old_bin/pg_config CARGO_TARGET_DIR=$PWD/target/pg$from-$suite install_extension
log "building and installing the extension for PostgreSQL $to"
install_extension

work=$(pg_usable_dir "$PWD/target/major-$from-$to" "/tmp/auth_sessions_major_${from}_$to")
rm -rf "${work:?}"/*; mkdir -p "$work/out"
[ "$(id -u)" != 0 ] || chown postgres: "$work"
out=$work/out
ports=$(alloc_port 2)
old_port=$ports new_port=$((ports + 1))
sock=/tmp/auth_sessions_major.$ports
old=$work/old new=$work/new
standalone=major_standalone attach=major_attach worker=major_worker
modes=("$standalone auth_sessions" "$attach auth_sessions_gotrue")

on() { # on PORT psql-args...: psql against one of the clusters
    local port=$1; shift
    PGHOST=$sock PGPORT=$port psql "$@"
}
started=()
start() { # start DATADIR PORT BINDIR
    as_pg env -u RUST_BACKTRACE "$3/pg_ctl" -D "$1" -o "-k $sock -p $2 -c listen_addresses=''" \
        -l "$1/server.log" -w start >/dev/null || { cat "$1/server.log" >&2; die "could not start $1"; }
    started+=("$1 $3")
}
stop() { # stop DATADIR BINDIR
    as_pg "$2/pg_ctl" -D "$1" -m fast -w stop >/dev/null
}
stop_all() {
    local s
    for s in "${started[@]}"; do
        set -- $s
        [ -f "$1/postmaster.pid" ] && as_pg "$2/pg_ctl" -D "$1" -m fast -w stop >/dev/null 2>&1 || true
    done
}
trap stop_all EXIT
# initdb_in DATADIR BINDIR SUPERUSER: a new cluster (UTF8, C locale, with
# data checksums, which initdb makes by default from 18 on: pg_upgrade needs
# both alike).
initdb_in() {
    rm -rf "$1"; mkdir -p "$1"; chown postgres: "$1"; chmod 700 "$1"
    as_pg "$2/initdb" -D "$1" -U "$3" -A trust -E UTF8 --locale=C --data-checksums >"$1.initdb.log" 2>&1 ||
        { cat "$1.initdb.log" >&2; die "initdb failed in $1"; }
}
# pg_upgrade_into OLD_DATADIR NEW_DATADIR SUPERUSER LOG [OPTION...]: pg_upgrade
# from the old major's cluster into the new one's; its status.
pg_upgrade_into() {
    local old_data=$1 new_data=$2 user=$3 log=$4; shift 4
    (cd "$work" && as_pg "$new_bin/pg_upgrade" -b "$old_bin" -B "$new_bin" -d "$old_data" -D "$new_data" \
        -p "$old_port" -P "$new_port" -s "$sock" -U "$user" "$@" >"$log" 2>&1)
}
# sqlstate: the SQLSTATE of the ERROR in psql's output (VERBOSITY=sqlstate).
sqlstate() { sed -n 's/^.*ERROR:  \([0-9A-Z]*\).*/\1/p'; }
# initdb_at DATADIR BINDIR: a cluster of the tests, the library preloaded.
initdb_at() {
    initdb_in "$1" "$2" postgres
    # Both clusters preload the library and run the worker on one database:
    # the settings an operator carries from the old postgresql.conf to the new.
    cat >>"$1/postgresql.conf" <<CONF
shared_preload_libraries = 'auth_sessions'
auth_sessions.prune_database = '$worker'
auth_sessions.prune_interval = '1s'
auth_sessions.prune_busy_share = 1
fsync = off
CONF
}
mkdir -p "$sock"; chown postgres: "$sock"

# fill PORT DB EXTENSION: a database of one mode, as upgrade.sh fills one, with
# a session check and the limit on at database level (set after the rows).
fill() {
    local port=$1 db=$2 ext=$3
    on "$port" -d postgres -c "CREATE DATABASE $db"
    if [ "$ext" = auth_sessions_gotrue ]; then on "$port" -d "$db" -f pg_test/fixtures/gotrue_like.sql >/dev/null; fi
    on "$port" -d "$db" -c "CREATE EXTENSION $ext" -f pg_test/fixtures/populate.sql -f pg_test/upgrade/fill.sql >/dev/null
    on "$port" -d "$db" >/dev/null <<'SQL'
DO $$ BEGIN CREATE ROLE authenticated NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT SELECT ON public.notes TO authenticated;
SELECT auth.enforce_session_check('public.notes');
SQL
    on "$port" -d postgres -c "ALTER DATABASE $db SET auth_sessions.max_per_user = 2" \
        -c "ALTER DATABASE $db SET auth_sessions.limit_strategy = 'reject'"
}

# facts PORT DB EXTENSION FILE: what must survive, at a fixed time: the rows,
# the answers, the database's settings.
facts() {
    local port=$1 db=$2 ext=$3 file=$4
    {
        PGHOST=$sock PGPORT=$port table_fingerprints "$db" auth public
        # (The probe's sign-ins are not about the limit, checked on its own.)
        PGOPTIONS="$PGOPTIONS -c auth_sessions.max_per_user=0" on "$port" -d "$db" -f pg_test/upgrade/probe.sql
        on "$port" -d postgres -c "SELECT 'setting ' || unnest(s.setconfig) FROM pg_db_role_setting s
                                    JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '$db' ORDER BY 1"
    } >"$file"
}

# describe PORT DB EXTENSION FILE: the installation, fact by fact.
describe() { on "$1" -d "$2" -v ext="$3" -f pg_test/upgrade/describe.sql >"$4"; }

# verify PORT WAY DB EXTENSION: the checks on the new major.
verify() {
    local port=$1 way=$2 db=$3 ext=$4 f=$out/$2-$3
    facts "$port" "$db" "$ext" "$f.after"
    if diff -u "$out/$db.before" "$f.after" >"$f.diff"; then
        echo "ok: $way, $ext: every row, the answers and the database's settings as before ($(wc -l <"$f.after") facts)"
    else
        cat "$f.diff" >&2; echo "FAILED: $way, $ext: rows, answers or settings differ (- before, + after)" >&2; failed=1
    fi
    describe "$port" "$db" "$ext" "$f.describe"
    if diff -u "$out/$to-fresh-$ext.describe" "$f.describe" >"$f.describe.diff"; then
        echo "ok: $way, $ext: the installation equals a fresh install on PostgreSQL $to ($(wc -l <"$f.describe") facts)"
    else
        cat "$f.describe.diff" >&2
        echo "FAILED: $way, $ext: the installation differs from a fresh install on $to (- fresh, + upgraded)" >&2; failed=1
    fi
    check "$way, $ext: the limit trigger is there once" 1 \
        "$(on "$port" -d "$db" -c "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'auth.sessions'::regclass
                                    AND tgname = 'enforce_session_limit' AND tgenabled = 'O'")"
    check "$ext: the limit (2, refusing, set on the database) holds: the third session is refused (53400)" 53400 \
        "$(on "$port" -d "$db" -v VERBOSITY=sqlstate 2>&1 <<'SQL' | sqlstate
BEGIN;
INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-0000000000ff');
INSERT INTO auth.sessions (id, user_id, created_at)
SELECT gen_random_uuid(), '00000000-0000-4000-8000-0000000000ff', now() FROM generate_series(1, 3);
ROLLBACK;
SQL
)"
    if [ "$ext" = auth_sessions ]; then
        check "$way: the standalone install's tables refuse a new column (0A000)" 0A000 \
            "$(on "$port" -d "$db" -v VERBOSITY=sqlstate -c "ALTER TABLE auth.sessions ADD COLUMN note text" 2>&1 | sqlstate)"
    else
        check "$way: attached, the standalone extension is refused (42710)" 42710 \
            "$(on "$port" -d "$db" -v VERBOSITY=sqlstate -c "CREATE EXTENSION auth_sessions" 2>&1 | sqlstate)"
    fi
}

# fresh_installs PORT: a fresh install of each mode on the new major, filled
# the same way, described.
fresh_installs() {
    local port=$1 db ext
    for m in "${modes[@]}"; do
        set -- $m; ext=$2; db=major_fresh_${ext}
        fill "$port" "$db" "$ext" >/dev/null
        describe "$port" "$db" "$ext" "$out/$to-fresh-$ext.describe"
        on "$port" -d postgres -c "DROP DATABASE $db"
    done
}

# worker_prunes PORT WAY: the worker prunes what expires in its database.
worker_prunes() {
    local port=$1 way=$2
    on "$port" -d "$worker" -c "INSERT INTO auth.users (id) VALUES (gen_random_uuid())" \
        -c "INSERT INTO auth.sessions (id, user_id, created_at, not_after)
            SELECT gen_random_uuid(), (SELECT id FROM auth.users LIMIT 1), now() - interval '1 day', now() - interval '1 hour'
              FROM generate_series(1, 50)"
    for _ in $(seq 1 300); do
        if [ "$(on "$port" -d "$worker" -c "SELECT count(*) FROM auth.sessions WHERE not_after < now()")" = 0 ]; then
            echo "ok: $way: the worker prunes on PostgreSQL $to"; return 0
        fi
        sleep 0.1
    done
    echo "FAILED: $way: the worker did not prune on PostgreSQL $to" >&2; failed=1
}

# Control: whether this machine's packages of the two majors can upgrade a
# database holding one plain table at all (pg_upgrade; pg_dump of the new
# major restored on it). Where they cannot, nothing of the extension's is
# at stake: that way is skipped, saying why (the dump then uses the old
# major's pg_dump).
control() {
    local c=$work/control
    rm -rf "$c"; mkdir -p "$c"; chown postgres: "$c"
    initdb_in "$c/old" "$old_bin" postgres
    initdb_in "$c/new" "$new_bin" postgres
    start "$c/old" "$old_port" "$old_bin"
    on "$old_port" -d postgres -c "CREATE TABLE plain (id integer, name text)"
    PGHOST=$sock PGPORT=$old_port "$new_bin/pg_dump" -Fc -d postgres -f "$c/plain.dump"
    stop "$c/old" "$old_bin"
    start "$c/new" "$new_port" "$new_bin"
    on "$new_port" -d postgres -c "CREATE DATABASE plain"
    if ! restore_error=$(PGHOST=$sock PGPORT=$new_port "$new_bin/pg_restore" -d plain --exit-on-error "$c/plain.dump" 2>&1); then
        dump_bin=$old_bin
        echo "note: PostgreSQL $to's pg_dump of a one-table database on $from does not restore on $to here" \
             "($(echo "$restore_error" | grep -m1 ERROR)); the dumps below use PostgreSQL $from's pg_dump"
    fi
    stop "$c/new" "$new_bin"
    initdb_in "$c/new" "$new_bin" postgres
    if ! pg_upgrade_into "$c/old" "$c/new" postgres "$c/upgrade.log"; then
        upgrade_broken=$(grep -rh "ERROR:" "$c/new/pg_upgrade_output.d" 2>/dev/null | head -1 | sed 's/^.*ERROR: */ERROR: /' || true)
        upgrade_broken=${upgrade_broken:-$(tail -3 "$c/upgrade.log" | tr '\n' ' ')}
        # Debian's 17.12 gives every column an option `pg_attver`, which its
        # pg_dump leaves out and 18's writes, and 18 refuses: pg_upgrade
        # fails on any table. With those options taken out of the old
        # cluster's catalogs first (a step of this test, not a recipe), it
        # goes through: then the ways run so, saying so.
        if [[ $upgrade_broken == *pg_attver* ]]; then
            start "$c/old" "$old_port" "$old_bin"; clear_attver "$old_port"; stop "$c/old" "$old_bin"
            initdb_in "$c/new" "$new_bin" postgres
            if pg_upgrade_into "$c/old" "$c/new" postgres "$c/upgrade.log"; then
                attver="$upgrade_broken"; upgrade_broken=
            fi
        fi
    fi
}
# clear_attver PORT: the `pg_attver` column options out of every database's
# catalogs (the control's note above), as a superuser may edit catalogs.
clear_attver() {
    local db
    for db in $(on "$1" -d postgres -c "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1"); do
        PGOPTIONS="$PGOPTIONS -c allow_system_table_mods=on" on "$1" -d "$db" -c "
            UPDATE pg_catalog.pg_attribute
               SET attoptions = NULLIF(ARRAY(SELECT o FROM unnest(attoptions) o WHERE o NOT LIKE 'pg_attver=%'), '{}')
             WHERE attoptions IS NOT NULL AND attrelid >= 16384" >/dev/null
    done
}
dump_bin=$new_bin upgrade_broken= attver=
control

log "PostgreSQL $from: a cluster with both modes filled, settings at database level, the worker"
initdb_at "$old" "$old_bin"
start "$old" "$old_port" "$old_bin"
for m in "${modes[@]}"; do
    set -- $m
    fill "$old_port" "$1" "$2"
    facts "$old_port" "$1" "$2" "$out/$1.before"
done
on "$old_port" -d postgres -c "CREATE DATABASE $worker"
on "$old_port" -d "$worker" -c "CREATE EXTENSION auth_sessions"
stop "$old" "$old_bin"

# upgrade WAY DATADIR [--link]: pg_upgrade from the old cluster into a new one
# made there, then the checks.
upgrade() {
    local way=$1 data=$2; shift 2
    if [ -n "$upgrade_broken" ]; then
        echo "SKIPPED: $way: pg_upgrade from this machine's PostgreSQL $from to its $to fails for any database," \
             "one plain table already ($upgrade_broken): a matter of those packages, not of the extension"
        return 0
    fi
    initdb_at "$data" "$new_bin"
    pg_upgrade_into "$old" "$data" postgres "$out/$way.check.log" --check ||
        { cat "$out/$way.check.log" >&2; die "$way: pg_upgrade --check failed"; }
    echo "ok: $way: pg_upgrade --check passes"
    pg_upgrade_into "$old" "$data" postgres "$out/$way.log" "$@" ||
        { cat "$out/$way.log" >&2; die "$way: pg_upgrade failed"; }
    echo "ok: $way: pg_upgrade ${*:-(copying)} passes"
    start "$data" "$new_port" "$new_bin"
    [ -f "$out/$to-fresh-auth_sessions.describe" ] || fresh_installs "$new_port"
    for m in "${modes[@]}"; do
        set -- $m
        verify "$new_port" "$way" "$1" "$2"
    done
    worker_prunes "$new_port" "$way"
}

if [ -n "$attver" ]; then
    echo "note: pg_upgrade $from->$to fails here for any database ($attver);" \
         "the ways below take the pg_attver column options out of the old cluster's catalogs first"
    start "$old" "$old_port" "$old_bin"; clear_attver "$old_port"; stop "$old" "$old_bin"
fi
upgrade "pg_upgrade $from->$to" "$new"

# pg_dump on the old major (with the new major's pg_dump, as PostgreSQL
# advises, unless the control found it unusable here), pg_restore on the new
# one, into the cluster just upgraded (its roles are the old cluster's), or,
# where pg_upgrade was skipped, into a new cluster given the old one's roles
# (pg_dumpall --globals-only, as a dump-and-restore upgrade does).
if [ ! -f "$new/PG_VERSION" ]; then
    initdb_at "$new" "$new_bin"
    start "$new" "$new_port" "$new_bin"
    start "$old" "$old_port" "$old_bin"
    PGHOST=$sock PGPORT=$old_port "$dump_bin/pg_dumpall" --globals-only -f "$out/globals.sql"
    # (Its role postgres exists already: that one error is expected.)
    on "$new_port" -d postgres -v ON_ERROR_STOP=0 -f "$out/globals.sql" >/dev/null 2>"$out/globals.log"
    on "$new_port" -d postgres -c "CREATE DATABASE $worker"
    on "$new_port" -d "$worker" -c "CREATE EXTENSION auth_sessions"
    # The worker finds its database when the server starts.
    stop "$new" "$new_bin"; start "$new" "$new_port" "$new_bin"
    fresh_installs "$new_port"
else
    start "$old" "$old_port" "$old_bin"
fi
for m in "${modes[@]}"; do
    set -- $m
    db=$1 ext=$2
    # --create: the dump carries the database itself, its settings included.
    PGHOST=$sock PGPORT=$old_port "$dump_bin/pg_dump" -Fc --create -d "$db" -f "$out/$db.dump"
    on "$new_port" -d postgres -c "DROP DATABASE IF EXISTS $db"
    PGHOST=$sock PGPORT=$new_port "$new_bin/pg_restore" --create -d postgres --exit-on-error "$out/$db.dump"
    verify "$new_port" "pg_dump $from, pg_restore $to" "$db" "$ext"
done
worker_prunes "$new_port" "pg_dump $from, pg_restore $to"
stop "$old" "$old_bin"
stop "$new" "$new_bin"

upgrade "pg_upgrade --link $from->$to" "$work/new-link" --link
stop_all; started=()

# A database as Supabase builds it (../shared: Supabase's bootstrap and
# GoTrue's migrations; skipped, saying so, without them), upgraded with
# pg_upgrade the way Supabase upgrades projects: its bootstrap superuser
# supabase_admin; auth_sessions_gotrue created as the README's quickstart
# does, before GoTrue's migrations; GoTrue's sign-ins; the session check on
# storage.objects; the limit on the database.
supabase=${SUPABASE:-../shared/supabase} gotrue=${GOTRUE:-../shared/gotrue}
if [ ! -x "$supabase/bootstrap" ] || [ ! -d "$gotrue/migrations" ]; then
    echo "SKIPPED: pg_upgrade of a Supabase database: needs Supabase's bootstrap at $supabase and GoTrue's migrations at $gotrue"
    exit $failed
fi
supabase=$(cd "$supabase" && pwd); gotrue=$(cd "$gotrue" && pwd)
sb_old=$work/supabase-old sb_new=$work/supabase-new
as_sb() { PGUSER=$1 on "$2" -d postgres "${@:3}"; }
sb_initdb() { # sb_initdb DATADIR BINDIR: as Supabase's image makes a cluster
    initdb_in "$1" "$2" supabase_admin
    printf "shared_preload_libraries = 'auth_sessions'\nauth_sessions.prune_interval = 0\nfsync = off\n" >>"$1/postgresql.conf"
}
sb_facts() { # sb_facts PORT: GoTrue's rows, the answers at a fixed time, the policies, the settings
    PGUSER=supabase_admin PGHOST=$sock PGPORT=$1 table_fingerprints postgres auth
    as_sb supabase_admin "$1" -c "SELECT 'validity ' || id || ' ' || auth.session_validity(id, timestamptz '2028-06-01 00:00:00+00')
                                    FROM auth.sessions ORDER BY id"
    as_sb supabase_admin "$1" -c "SELECT 'policy ' || polname || ' ' || auth.policy_checks_session(oid)
                                    FROM pg_policy WHERE polrelid = 'storage.objects'::regclass ORDER BY 1"
    as_sb supabase_admin "$1" -c "SELECT 'setting ' || unnest(setconfig) FROM pg_db_role_setting s
                                    JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'postgres' ORDER BY 1"
    as_sb supabase_admin "$1" -c "SELECT 'extension ' || extname || ' ' || extversion || ' owner ' || extowner::regrole
                                    FROM pg_extension WHERE extname LIKE 'auth_sessions%'"
}
log "PostgreSQL $from: a database as Supabase builds it, with the extension, GoTrue's sign-ins, the session check"
sb_initdb "$sb_old" "$old_bin"
start "$sb_old" "$old_port" "$old_bin"
PGUSER=supabase_admin PGHOST=$sock PGPORT=$old_port "$supabase/bootstrap" postgres >"$out/supabase-bootstrap.log" 2>&1 ||
    { cat "$out/supabase-bootstrap.log" >&2; die "Supabase's bootstrap failed"; }
as_sb supabase_admin "$old_port" -c "CREATE EXTENSION auth_sessions_gotrue"
PGUSER=supabase_admin PGHOST=$sock PGPORT=$old_port GOTRUE="$gotrue/migrations" "$supabase/bootstrap" postgres \
    >"$out/supabase-gotrue.log" 2>&1 || { cat "$out/supabase-gotrue.log" >&2; die "GoTrue's migrations failed"; }
for n in 1 2; do
    as_sb supabase_auth_admin "$old_port" -c "INSERT INTO auth.users (instance_id, id, aud, role, email, created_at, updated_at)
        VALUES ('00000000-0000-0000-0000-000000000000', 'e000000$n-0000-4000-8000-000000000000', 'authenticated',
                'authenticated', 'user$n@example.com', now(), now())" >/dev/null
    for k in 1 2 3; do
        as_sb supabase_auth_admin "$old_port" -c "SET search_path = auth" -f pg_test/scenarios/gotrue/signin.sql -c "
            EXECUTE signin('aal1', now() - interval '$k days', NULL, 'f000000$n-0000-4000-8000-00000000000$k', NULL,
                           now() + interval '$((k * 365)) days', NULL, NULL, NULL, NULL, NULL, NULL, now(), 'agent $k',
                           'e000000$n-0000-4000-8000-000000000000')" >/dev/null
    done
done
as_sb postgres "$old_port" -c "SELECT auth.enforce_session_check('storage.objects')" >/dev/null
as_sb supabase_admin "$old_port" -c "ALTER DATABASE postgres SET auth_sessions.max_per_user = 2"
sb_facts "$old_port" >"$out/supabase.before"
# As Supabase's own upgrade scripts do: postgres owns Supabase's event
# triggers, which only a superuser may own when they are restored, so it is
# a superuser for the upgrade and demoted again afterwards.
as_sb supabase_admin "$old_port" -c "ALTER ROLE postgres SUPERUSER"
stop "$sb_old" "$old_bin"
if [ -n "$attver" ]; then
    start "$sb_old" "$old_port" "$old_bin"; PGUSER=supabase_admin clear_attver "$old_port"; stop "$sb_old" "$old_bin"
fi
if [ -n "$upgrade_broken" ]; then
    echo "SKIPPED: pg_upgrade of a Supabase database $from->$to: $upgrade_broken (see the control above)"
    exit $failed
fi
sb_initdb "$sb_new" "$new_bin"
pg_upgrade_into "$sb_old" "$sb_new" supabase_admin "$out/supabase-check.log" --check ||
    { cat "$out/supabase-check.log" >&2; die "Supabase database: pg_upgrade --check failed"; }
pg_upgrade_into "$sb_old" "$sb_new" supabase_admin "$out/supabase-upgrade.log" ||
    { cat "$out/supabase-upgrade.log" >&2; die "Supabase database: pg_upgrade failed"; }
echo "ok: Supabase database: pg_upgrade --check and pg_upgrade $from->$to pass"
start "$sb_new" "$new_port" "$new_bin"
as_sb supabase_admin "$new_port" -c "ALTER ROLE postgres NOSUPERUSER"
sb_facts "$new_port" >"$out/supabase.after"
if diff -u "$out/supabase.before" "$out/supabase.after" >"$out/supabase.diff"; then
    echo "ok: Supabase database on $to: GoTrue's rows, the answers, the session check on storage.objects, the settings and the extension as before ($(wc -l <"$out/supabase.after") facts)"
else
    cat "$out/supabase.diff" >&2; echo "FAILED: Supabase database on $to: differs from before (- before, + after)" >&2; failed=1
fi
check "Supabase database on $to: the limit trigger on GoTrue's auth.sessions, once" 1 \
    "$(as_sb supabase_admin "$new_port" -c "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'auth.sessions'::regclass AND tgname = 'enforce_session_limit'")"
as_sb supabase_auth_admin "$new_port" -c "SET search_path = auth" -f pg_test/scenarios/gotrue/signin.sql -c "
    EXECUTE signin('aal1', now(), NULL, 'f0000001-0000-4000-8000-0000000000ff', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                   NULL, now(), 'after the upgrade', 'e0000001-0000-4000-8000-000000000000')" >/dev/null
check "Supabase database on $to: GoTrue's sign-in keeps the user at the limit (2: the oldest evicted)" 2 \
    "$(as_sb supabase_admin "$new_port" -c "SELECT count(*) FROM auth.sessions WHERE user_id = 'e0000001-0000-4000-8000-000000000000'")"
check "Supabase database on $to: storage.objects is covered" "t|covered by a restrictive policy" \
    "$(as_sb postgres "$new_port" -F'|' -c "SELECT covered, reason FROM auth.session_check_coverage() WHERE object = 'storage.objects'")"
exit $failed
