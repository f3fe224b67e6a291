#!/usr/bin/env bash
# Compares psql's `\d+ auth.sessions` output, as captured by pg_regress in the
# given results file, with the seed's code block, byte for byte, but for the
# one accepted difference: a "Triggers:" section listing exactly the
# extension's own trigger (the per-user session limit), where psql puts it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seed=${SEED:-$here/../../shared/seed/auth.sessions.describe.md}
[ -f "$seed" ] || seed=$here/../shared/seed/auth.sessions.describe.md
[ -f "$seed" ] || { echo "seed not found (set SEED=path/to/auth.sessions.describe.md)" >&2; exit 1; }
results=$1

# The seed: everything between the ```sql fence and the closing fence, with
# the extension's trigger section inserted before "Access method:".
triggers='Triggers:
    enforce_session_limit BEFORE INSERT ON auth.sessions FOR EACH ROW EXECUTE FUNCTION auth.enforce_session_limit()'
want=$(sed -n '/^```sql$/,/^```$/p' "$seed" | sed '1d;$d' |
       awk -v t="$triggers" '/^Access method: / { print t } { print }')
# The results: the lines after the `\d+ auth.sessions` command up to the first
# blank line (psql ends a description with one), blank line included.
got=$(sed -n '/^\\d+ auth\.sessions$/,/^$/p' "$results" | sed '1d')

if [ "$want" != "$got" ]; then
    echo "\\d+ auth.sessions differs from the seed ($seed):" >&2
    diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") >&2 || true
    exit 1
fi
echo "ok: \\d+ auth.sessions matches the seed line for line (plus the extension's trigger)"
