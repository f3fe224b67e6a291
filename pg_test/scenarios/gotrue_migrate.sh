# Applies GoTrue's (Supabase Auth's) SQL migrations as GoTrue does (its
# gobuffalo/pop migrator): files in name order, each rendered with the
# namespace `auth` and run as one transaction together with recording its
# version in auth.schema_migrations; versions already recorded are skipped;
# search_path = auth. Sourced by pg_test/scenarios/gotrue.sh (needs testlib.sh and
# $fixture, the directory holding migrations/).

# The roles Supabase's database image creates before GoTrue's first run
# (the cluster's superuser is already called postgres).
gotrue_roles() {
    psql -d postgres <<'SQL'
SET client_min_messages = warning;
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supabase_auth_admin') THEN
        CREATE ROLE supabase_auth_admin NOINHERIT CREATEROLE LOGIN NOREPLICATION;
    END IF;
END $$;
ALTER ROLE supabase_auth_admin SET search_path = auth;
SQL
}

# gotrue_db DB: a fresh database with Supabase's schema `auth`, owned by
# supabase_auth_admin, who may create in the database.
gotrue_db() {
    fresh_db "$1"
    psql -d "$1" -c "CREATE SCHEMA auth AUTHORIZATION supabase_auth_admin" \
        -c "GRANT CREATE ON DATABASE $1 TO supabase_auth_admin"
}

# gotrue_migrate DB ROLE FROM TO: applies the migrations whose versions lie
# in [FROM, TO] (compared as text, as their names sort), as ROLE. Stops at
# the first that fails, printing the server's error, and returns non-zero.
gotrue_migrate() {
    local db=$1 role=$2 from=$3 to=$4 file name version sql
    PGUSER=$role psql -d "$db" -c "SET client_min_messages = warning" \
        -c "CREATE TABLE IF NOT EXISTS auth.schema_migrations (version character varying(14) NOT NULL)" \
        -c "CREATE UNIQUE INDEX IF NOT EXISTS schema_migrations_version_idx ON auth.schema_migrations (version)" || return 1
    for file in "$fixture"/migrations/*.up.sql; do
        name=$(basename "$file")
        version=${name%%_*}
        [[ "$version" < "$from" || "$version" > "$to" ]] && continue
        [ "$(PGUSER=$role psql -d "$db" -c "SELECT count(*) FROM auth.schema_migrations WHERE version = '$version'")" = 0 ] || continue
        sql=$(sed -E 's/\{\{ *index \.Options "Namespace" *\}\}/auth/g' "$file")
        # One simple query: one transaction, as pop runs a migration.
        PGUSER=$role PGOPTIONS="-c search_path=auth -c client_min_messages=warning" \
            "$bin/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" \
            -c "$sql
;
INSERT INTO auth.schema_migrations (version) VALUES ('$version');" >/dev/null || { echo "migration $name failed" >&2; return 1; }
    done
}
