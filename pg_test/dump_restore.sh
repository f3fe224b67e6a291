#!/usr/bin/env bash
# pg_dump of a populated database, restored into a new one, keeps every row of
# the extension's four tables and the refresh_tokens sequence position, in
# both the custom (pg_restore) and the plain (psql) formats. Then the same for
# attach mode (auth_sessions_gotrue on GoTrue-shaped tables it does not own,
# pg_test/fixtures/gotrue_like.sql), in three formats (attach_dump.sh).
# Uses the server named by PGHOST/PGPORT/PGUSER; WORKDIR holds the dumps.
set -euo pipefail
workdir=$1
mkdir -p "$workdir"
. "$(dirname "$0")/common.sh"

fresh_db dump_src
psql -d dump_src <<'SQL'
CREATE EXTENSION auth_sessions;
INSERT INTO auth.users (id)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(u), 12, '0'))::uuid FROM generate_series(1, 50) u;
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, factor_id, aal, not_after,
                           refreshed_at, user_agent, ip, tag)
SELECT ('10000000-0000-4000-8000-' || lpad(to_hex(s), 12, '0'))::uuid,
       ('00000000-0000-4000-8000-' || lpad(to_hex(1 + s % 50), 12, '0'))::uuid,
       timestamptz '2026-01-01 00:00:00+00' + s * interval '1 minute',
       timestamptz '2026-01-01 00:00:00+00' + s * interval '2 minute',
       CASE WHEN s % 3 = 0 THEN gen_random_uuid() END,
       (ARRAY['aal1', 'aal2', 'aal3', NULL])[1 + s % 4]::auth.aal_level,
       CASE WHEN s % 5 = 0 THEN timestamptz '2026-02-01 00:00:00+00' END,
       CASE WHEN s % 2 = 0 THEN timestamp '2026-01-02 03:04:05.678901' + s * interval '1 second' END,
       'agent ' || s || E' with \\ backslash, tab\t and ''quote''',
       CASE WHEN s % 7 <> 0 THEN ('10.0.' || s % 256 || '.1')::inet END,
       CASE WHEN s % 4 = 0 THEN 'tag-' || s END
  FROM generate_series(1, 300) s;
INSERT INTO auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
SELECT '00000000-0000-0000-0000-000000000000', 'token-' || n, user_id::text, n % 2 = 0,
       created_at, updated_at, CASE WHEN n > 1 THEN 'token-' || (n - 1) END, id
  FROM (SELECT s.*, row_number() OVER (ORDER BY s.id) AS n FROM auth.sessions s) s;
INSERT INTO auth.mfa_amr_claims (session_id, created_at, updated_at, authentication_method, id)
SELECT id, created_at, updated_at, (ARRAY['password', 'totp', 'otp'])[1 + m], gen_random_uuid()
  FROM auth.sessions, generate_series(0, 1) m;
-- Make the sequence's position differ from its row count.
DO $$ BEGIN PERFORM setval('auth.refresh_tokens_id_seq', 1000); END $$;
SQL

fingerprint() {
    psql -d "$1" <<'SQL'
SELECT 'users ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM auth.users t;
SELECT 'sessions ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM auth.sessions t;
SELECT 'refresh_tokens ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM auth.refresh_tokens t;
SELECT 'mfa_amr_claims ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM auth.mfa_amr_claims t;
SELECT 'refresh_tokens_id_seq ' || last_value || ' ' || is_called FROM auth.refresh_tokens_id_seq;
SQL
}

export PGTZ=UTC
fingerprint dump_src >"$workdir/src.txt"
grep -q '^sessions 300 ' "$workdir/src.txt" || { cat "$workdir/src.txt"; echo "source not populated" >&2; exit 1; }

failed=0
for format in custom plain; do
    db=dump_dst_$format
    fresh_db "$db"
    if [ $format = custom ]; then
        "$bin/pg_dump" -Fc -d dump_src -f "$workdir/dump.custom"
        "$bin/pg_restore" --exit-on-error -d "$db" "$workdir/dump.custom"
    else
        "$bin/pg_dump" -Fp -d dump_src -f "$workdir/dump.sql"
        psql -d "$db" -f "$workdir/dump.sql" >/dev/null
    fi
    fingerprint "$db" >"$workdir/$format.txt"
    if diff -u "$workdir/src.txt" "$workdir/$format.txt"; then
        echo "ok: $format dump restored every row ($(tr '\n' ';' <"$workdir/$format.txt" | sed 's/ [0-9a-f]\{32\}//g'))"
    else
        echo "FAILED: $format dump lost or changed rows" >&2; failed=1
    fi
    # The restored sequence continues after the dumped position.
    next=$(psql -d "$db" -c "INSERT INTO auth.refresh_tokens (token) VALUES ('after-restore') RETURNING id")
    if [ "$next" != 1001 ]; then echo "FAILED: next refresh_tokens id after $format restore is $next, want 1001" >&2; failed=1; fi
done

here=$(cd "$(dirname "$0")" && pwd)
fresh_db attach_src
psql -d attach_src -f "$here/fixtures/gotrue_like.sql" >/dev/null
psql -d attach_src -c "CREATE EXTENSION auth_sessions_gotrue" -f "$here/fixtures/populate_attached.sql" >/dev/null
"$here/attach_dump.sh" attach_src "$workdir/attach" 10000000-0000-4000-8000-000000000001 \
    00000000-0000-4000-8000-000000000001 || failed=1
exit $failed
