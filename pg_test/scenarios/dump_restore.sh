#!/usr/bin/env bash
# pg_dump of a populated database, restored into a new one, keeps every row of
# the extension's four tables and the refresh_tokens sequence position, in
# both the custom (pg_restore) and the plain (psql) formats, into databases
# whose per-user limit is below what users had (a restore is not a sign-in).
# Then the same for
# attach mode (auth_sessions_gotrue on GoTrue-shaped tables it does not own,
# pg_test/fixtures/gotrue_like.sql), in three formats (attach_dump.sh).
# Uses the server named by PGHOST/PGPORT/PGUSER; WORKDIR holds the dumps.
set -euo pipefail
workdir=$1
mkdir -p "$workdir"
. "$(dirname "$0")/../testlib.sh"

fresh_db dump_src
here=$(cd "$(dirname "$0")" && pwd)
psql -d dump_src -c "CREATE EXTENSION auth_sessions" -f "$here/../fixtures/populate.sql" >/dev/null
psql -d dump_src <<'SQL'
-- Make the sequence's position differ from its row count.
DO $$ BEGIN PERFORM setval('auth.refresh_tokens_id_seq', 1000); END $$;
-- An application table with the session check (auth.enforce_session_check).
DO $$ BEGIN CREATE ROLE authenticated NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE TABLE public.notes (id int PRIMARY KEY, user_id uuid);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON public.notes TO authenticated USING (true);
GRANT SELECT ON public.notes TO authenticated;
SELECT auth.enforce_session_check('public.notes');
SQL

fingerprint() {
    psql -d "$1" <<'SQL'
SELECT 'users ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM auth.users t;
SELECT 'sessions ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM auth.sessions t;
SELECT 'refresh_tokens ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM auth.refresh_tokens t;
SELECT 'mfa_amr_claims ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM auth.mfa_amr_claims t;
SELECT 'refresh_tokens_id_seq ' || last_value || ' ' || is_called FROM auth.refresh_tokens_id_seq;
SELECT 'policies ' || string_agg(format('%s.%s %s', c.relname, p.polname, auth.policy_checks_session(p.oid)), ' ' ORDER BY p.polname)
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relname = 'notes';
SQL
}

export PGTZ=UTC
fingerprint dump_src >"$workdir/src.txt"
grep -q '^sessions 300 ' "$workdir/src.txt" || { cat "$workdir/src.txt"; echo "source not populated" >&2; exit 1; }

failed=0
for format in custom plain; do
    db=dump_dst_$format
    fresh_db "$db"
    # With new tables opted in to the session check there, the restore's
    # ALTER TABLE ... ENABLE ROW LEVEL SECURITY must not add the policy the
    # dump itself brings (the event trigger stands aside under row_security
    # = off, which pg_dump's scripts set).
    psql -d postgres -c "ALTER DATABASE $db SET auth_sessions.session_check_schemas = 'public'"
    # And with a per-user limit below what users had when the dump was made
    # (6 sessions each), as a restore with the database's settings first
    # (pg_dump --create, pg_dumpall) has it: a restore is not a sign-in, the
    # limit trigger (created with the extension, before the rows) neither
    # evicts (custom: evict_oldest) nor refuses (plain: reject).
    psql -d postgres -c "ALTER DATABASE $db SET auth_sessions.max_per_user = 2" \
        -c "ALTER DATABASE $db SET auth_sessions.limit_strategy = '$([ $format = custom ] && echo evict_oldest || echo reject)'"
    if [ $format = custom ]; then
        "$bin/pg_dump" -Fc -d dump_src -f "$workdir/dump.custom"
        "$bin/pg_restore" --exit-on-error -d "$db" "$workdir/dump.custom"
    else
        "$bin/pg_dump" -Fp -d dump_src -f "$workdir/dump.sql"
        psql -d "$db" -f "$workdir/dump.sql" >/dev/null
    fi
    fingerprint "$db" >"$workdir/$format.txt"
    if diff -u "$workdir/src.txt" "$workdir/$format.txt"; then
        echo "ok: $format dump restored every row and the session check ($(tr '\n' ';' <"$workdir/$format.txt" | sed 's/ [0-9a-f]\{32\}//g'))"
    else
        echo "FAILED: $format dump lost or changed rows" >&2; failed=1
    fi
    # The restored sequence continues after the dumped position.
    next=$(psql -d "$db" -c "INSERT INTO auth.refresh_tokens (token) VALUES ('after-restore') RETURNING id")
    if [ "$next" != 1001 ]; then echo "FAILED: next refresh_tokens id after $format restore is $next, want 1001" >&2; failed=1; fi
done

fresh_db attach_src
psql -d attach_src -f "$here/../fixtures/gotrue_like.sql" >/dev/null
psql -d attach_src -c "CREATE EXTENSION auth_sessions_gotrue" -f "$here/../fixtures/populate.sql" >/dev/null
"$here/attach_dump.sh" attach_src "$workdir/attach" 10000000-0000-4000-8000-000000000001 \
    00000000-0000-4000-8000-000000000001 || failed=1
exit $failed
