#!/usr/bin/env bash
# A primary and a streaming hot standby (pg_basebackup, both on unix sockets,
# run as the postgres OS user): the standby gives the same answers as the
# primary after replay, its policies work read-only (no transaction id), and a
# revocation on the primary reaches the standby's policy once replayed.
# Usage: standby.sh WORKDIR (an existing directory the postgres user can use)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../testlib.sh"
work=$1
P_PORT=$(alloc_port 2); S_PORT=$((P_PORT + 1))
P_SOCK=/tmp/auth_sessions_primary.$P_PORT; S_SOCK=/tmp/auth_sessions_standby.$S_PORT
primary=$work/primary; standby=$work/standby
db=auth_sessions_standby

cluster_start "$primary" "$P_SOCK" "$P_PORT"
trap 'cluster_stop "$standby"; cluster_stop "$primary"' EXIT
on_primary() { PGHOST=$P_SOCK PGPORT=$P_PORT psql -d "$db" "$@"; }
on_standby() { PGHOST=$S_SOCK PGPORT=$S_PORT psql -d "$db" "$@"; }

PGHOST=$P_SOCK PGPORT=$P_PORT fresh_db "$db"
on_primary <<'SQL'
CREATE EXTENSION auth_sessions;
DO $$ BEGIN CREATE ROLE authenticated NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001');
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, not_after, refreshed_at, aal) VALUES
    ('a0000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-000000000001', now(), now(), NULL, NULL, 'aal2'),
    ('b0000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-000000000001',
     now() - interval '3 hours', now(), NULL, (now() - interval '2 hours') AT TIME ZONE 'UTC', 'aal1'),
    ('c0000000-0000-4000-8000-00000000000c', '00000000-0000-4000-8000-000000000001',
     now() - interval '1 hour', now(), now() - interval '1 minute', NULL, 'aal1');
CREATE TABLE public.notes (id int PRIMARY KEY);
INSERT INTO public.notes SELECT generate_series(1, 100);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_valid_session ON public.notes FOR SELECT USING (auth.current_session_is_valid());
GRANT SELECT ON public.notes TO authenticated;
SQL

start_standby "$P_SOCK" "$P_PORT" "$standby" "$S_SOCK" "$S_PORT"

# Wait (a bounded number of polls) until the standby has replayed what the
# primary has written so far. This waits for a condition; it measures nothing.
caught_up() {
    local lsn; lsn=$(on_primary -c 'SELECT pg_current_wal_lsn()')
    for _ in $(seq 1 600); do
        [ "$(on_standby -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] && return 0
        sleep 0.1
    done
    echo "FAILED: the standby did not replay up to $lsn" >&2; exit 1
}

answers() { # the validity of each session and what the policy lets a request see
    "$@" <<'SQL'
SET auth_sessions.inactivity_timeout = '1h';
SELECT string_agg(id || '=' || auth.session_validity(id), ' ' ORDER BY id) FROM auth.sessions;
BEGIN;
SET LOCAL ROLE authenticated;
SET LOCAL request.jwt.claims = '{"session_id":"a0000000-0000-4000-8000-00000000000a"}';
SELECT 'visible=' || count(*) || ' aal=' || coalesce(auth.current_session_aal()::text, '-') FROM public.notes;
COMMIT;
SQL
}


caught_up
check "the standby is in recovery" t "$(on_standby -c 'SELECT pg_is_in_recovery()')"
primary_answers=$(answers on_primary); standby_answers=$(answers on_standby)
check "the standby gives the primary's answers ($(echo "$standby_answers" | tr '\n' ' '))" \
    "$primary_answers" "$standby_answers"
check "a valid session sees the rows on the standby" "visible=100 aal=aal2" "$(echo "$standby_answers" | tail -n 1)"
# Writes are refused read-only (25006), not with an internal error.
if out=$(on_standby -c "SELECT auth.create_session('00000000-0000-4000-8000-000000000001')" 2>&1); then
    check "create_session on the standby fails" "an error" "$out"
else
    check "create_session on the standby fails read-only" 25006 \
        "$(PGHOST=$S_SOCK PGPORT=$S_PORT "$bin/psql" -X -q -d "$db" -v VERBOSITY=sqlstate \
            -c "SELECT auth.create_session('00000000-0000-4000-8000-000000000001')" 2>&1 | grep -o '25006')"
fi

# Pruning writes: on a standby it fails with the read-only error (25006).
check "prune_sessions on the standby fails read-only" 25006 \
    "$(PGHOST=$S_SOCK PGPORT=$S_PORT "$bin/psql" -X -q -d "$db" -v VERBOSITY=sqlstate \
        -c "SELECT auth.prune_sessions()" 2>&1 | grep -o '25006')"
check "so does the procedure" 25006 \
    "$(PGHOST=$S_SOCK PGPORT=$S_PORT "$bin/psql" -X -q -d "$db" -v VERBOSITY=sqlstate \
        -c "CALL auth.prune_expired_sessions()" 2>&1 | grep -o '25006' | head -n 1)"

# The devices page: listing works on the standby, as on the primary;
# revoking is refused there read-only (25006), valid session or not.
devices() {
    "$@" <<'SQL'
BEGIN;
SET LOCAL ROLE authenticated;
SET LOCAL request.jwt.claims = '{"session_id":"a0000000-0000-4000-8000-00000000000a"}';
SELECT count(*) || ' ' || string_agg(id || ' ' || validity || ' ' || is_current, ', ' ORDER BY id) FROM auth.my_sessions();
COMMIT;
SQL
}
standby_devices=$(devices on_standby)
check "my_sessions lists on the standby what it lists on the primary ($standby_devices)" \
    "$(devices on_primary)" "$standby_devices"
check "my_sessions lists the user's three sessions on the standby" 3 "${standby_devices%% *}"
for call in "auth.revoke_my_session('b0000000-0000-4000-8000-00000000000b')" "auth.revoke_my_other_sessions()"; do
    for claims in '{"session_id":"a0000000-0000-4000-8000-00000000000a"}' '{}'; do
        check "$call on the standby fails read-only (claims $claims)" 25006 \
            "$(PGHOST=$S_SOCK PGPORT=$S_PORT "$bin/psql" -X -q -d "$db" -v VERBOSITY=sqlstate 2>&1 <<SQL | grep -o '25006' | head -n 1
BEGIN;
SET LOCAL ROLE authenticated;
SET LOCAL request.jwt.claims = '$claims';
SELECT $call;
SQL
)"
    done
done

on_primary -c "SELECT auth.revoke_session('a0000000-0000-4000-8000-00000000000a')" >/dev/null
caught_up
check "a revocation on the primary reaches the standby's policy" "visible=0 aal=-" \
    "$(answers on_standby | tail -n 1)"
check "and the standby still agrees with the primary" "$(answers on_primary)" "$(answers on_standby)"
exit $failed
