#!/usr/bin/env bash
# Every SQL block of README.md runs as written, so that no example can rot.
# Each block is preceded by a line "<!-- test: WHERE -->":
#
#   standalone  run here, in README order, in database postgres of a cluster
#               of its own, as a superuser (the install block creates the
#               extension first); a user's tables the recipes name
#               (public.notes as the quickstart makes it, public.payouts) and
#               PostgREST's roles exist, as in the databases the README
#               speaks of;
#   attach      run here, in README order, in a database whose auth tables
#               another role manages (pg_test/fixtures/gotrue_like.sql);
#   NAME        run by a scenario script with `readme_block NAME`
#               (pg_test/scenarios/supabase.sh: the Supabase quickstart and recipes,
#               on Supabase's own bootstrap); this checks that one does.
#
# A block without such a line, or with a NAME no script runs, fails.
# Usage: readme.sh WORKDIR (a directory the postgres OS user can use)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../testlib.sh"
work=$1
rm -rf "$work"; mkdir -p "$work/blocks"
if is_root; then chown -R postgres: "$work"; fi
port=$(alloc_port)
sock=/tmp/auth_sessions_readme.$port
bin=$(pg_bindir)

# The blocks, numbered in README order, each with where it runs.
awk -v dir="$work/blocks" '
    { line = $0; sub(/^[ \t]+/, "", line) }
    match(line, /^<!-- test: [a-z0-9-]+ -->$/) { where = substr(line, 12, length(line) - 15); next }
    !inside && line ~ /^```sql/ { n++; inside = 1; match($0, /^[ \t]*/); indent = RLENGTH
                                  file = sprintf("%s/%03d.%s.sql", dir, n, where == "" ? "UNMARKED" : where); where = ""; next }
    inside && line ~ /^```/ { inside = 0; close(file); next }
    inside { print substr($0, indent + 1) > file }
    line != "" && !inside { where = (line ~ /^<!-- test:/) ? where : "" }' "$here/../../README.md"
total=$(ls "$work/blocks" | wc -l)
check "the README has SQL blocks" yes "$([ "$total" -gt 10 ] && echo yes || echo no)"
check "every SQL block of the README says where it runs" "" \
    "$(ls "$work/blocks" | grep UNMARKED | sed 's/^0*\([0-9]*\)\..*/block \1/' | tr '\n' ' ' | sed 's/ $//')"
for f in "$work"/blocks/*.sql; do
    where=$(basename "$f" .sql); where=${where#*.}
    case $where in standalone|attach|UNMARKED) continue ;; esac
    grep -Eq "readme_block $where( |\)|\$)" "$here"/*.sh ||
        { echo "FAILED: the README block $(basename "$f") is marked '$where', which no test runs" >&2; failed=1; }
done

cluster_start "$work/data" "$sock" "$port"
trap 'cluster_stop "$work/data"' EXIT
export PGHOST=$sock PGPORT=$port PGUSER=postgres
# What the README's databases have before its blocks run: PostgREST's roles,
# and the user's tables its recipes put policies on.
psql -d postgres <<'SQL'
CREATE ROLE anon NOLOGIN;
CREATE ROLE authenticated NOLOGIN;
CREATE TABLE public.notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id uuid NOT NULL, body text);
CREATE TABLE public.payouts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id uuid NOT NULL, amount numeric);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.payouts ENABLE ROW LEVEL SECURITY;
SQL
fresh_db attach_example
psql -d attach_example -f "$here/../fixtures/gotrue_like.sql" >/dev/null

ran=0
for f in "$work"/blocks/*.sql; do
    where=$(basename "$f" .sql); where=${where#*.}
    case $where in standalone) db=postgres ;; attach) db=attach_example ;; *) continue ;; esac
    if out=$("$bin/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$f" 2>&1); then
        ran=$((ran + 1))
    else
        echo "FAILED: README block $(basename "$f") ($where) fails as written:" >&2
        sed 's/^/    /' "$f" >&2; echo "$out" | sed 's/^/  > /' >&2; failed=1
    fi
done
echo "ok: $ran README blocks ran as written here; the other $((total - ran)) are run by the scenario scripts named in them"
check "and the examples say what they return" "valid|t|1" \
    "$(psql -d postgres -c "SELECT auth.session_validity('5b3d9f1e-8a2c-4e6b-b7d0-1c9e3a5f7b2d') || '|' ||
        auth.session_is_valid('5b3d9f1e-8a2c-4e6b-b7d0-1c9e3a5f7b2d') || '|' ||
        (SELECT count(*) FROM auth.sessions WHERE user_id = '0b1c7e2a-5d4f-4c1e-9a3b-2f6d8e0a1b2c')" | sed 's/true/t/')"
exit $failed
