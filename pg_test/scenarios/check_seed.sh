#!/usr/bin/env bash
# Compares psql's `\d+ auth.sessions` output, as captured by pg_regress in the
# given results file, with the seed's (pg_test/scenarios/expected/seed_sessions.describe,
# the code block of the seed the project was created from), byte for byte, but
# for the one accepted difference: a "Triggers:" section listing exactly the
# extension's own trigger (the per-user session limit), where psql puts it
# (and, from psql 18 on, the "Not-null constraints:" section it adds).
# When the seed itself is at hand (../shared/seed, or SEED=path), it also
# checks that the copy kept here still equals it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
copy=$here/expected/seed_sessions.describe
results=$1

seed=${SEED:-$here/../../../shared/seed/auth.sessions.describe.md}
if [ -f "$seed" ]; then
    if ! diff <(sed -n '/^```sql$/,/^```$/p' "$seed" | sed '1d;$d') "$copy" >&2; then
        echo "pg_test/scenarios/expected/seed_sessions.describe differs from the seed ($seed)" >&2
        exit 1
    fi
    echo "ok: pg_test/scenarios/expected/seed_sessions.describe is the seed's \\d+ ($seed)"
else
    echo "skipped: comparing pg_test/scenarios/expected/seed_sessions.describe with the seed (not found at $seed; set SEED=path)"
fi

# The seed's description, with the extension's trigger section inserted
# before "Access method:".
triggers='Triggers:
    enforce_session_limit AFTER INSERT OR UPDATE OF user_id ON auth.sessions FOR EACH ROW EXECUTE FUNCTION auth.enforce_session_limit()'
# psql 18 and later also list the NOT NULL constraints PostgreSQL 18 keeps in
# the catalog (named TABLE_COLUMN_not_null): the seed's not-null columns.
if [ "${PG_MAJOR:-15}" -ge 18 ]; then
    notnull=$(awk -F'|' 'NR > 2 && $4 ~ /not null/ { gsub(/ /, "", $1);
        printf "    \"sessions_%s_not_null\" NOT NULL \"%s\"\n", $1, $1 }' "$copy")
    triggers="Not-null constraints:
$notnull
$triggers"
fi
want=$(awk -v t="$triggers" '/^Access method: / { print t } { print }' "$copy")
# The results: the lines after the `\d+ auth.sessions` command up to the first
# blank line (psql ends a description with one), blank line included.
got=$(sed -n '/^\\d+ auth\.sessions$/,/^$/p' "$results" | sed '1d')

if [ "$want" != "$got" ]; then
    echo "\\d+ auth.sessions differs from the seed's:" >&2
    diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") >&2 || true
    exit 1
fi
echo "ok: \\d+ auth.sessions matches the seed line for line (plus the extension's trigger)"
