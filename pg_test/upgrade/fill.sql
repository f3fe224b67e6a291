-- What a database using the extension holds besides the rows
-- (pg_test/fixtures/populate.sql): roles with privileges on the extension's
-- objects, and tables whose row-level-security policies, a view and a check
-- constraint call its functions. pg_test/upgrade/upgrade.sh runs this on a released
-- version before ALTER EXTENSION ... UPDATE, and on a fresh install of the
-- current version, and compares the two.
SET client_min_messages = warning;
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'upgrade_user') THEN
        CREATE ROLE upgrade_user NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'upgrade_admin') THEN
        CREATE ROLE upgrade_admin NOLOGIN;
    END IF;
END $$;
RESET client_min_messages;
-- As Supabase grants it to its API roles on GoTrue's schema (the standalone install grants
-- it to PUBLIC).
GRANT USAGE ON SCHEMA auth TO upgrade_user, upgrade_admin;
GRANT SELECT, DELETE ON auth.sessions TO upgrade_admin;
GRANT EXECUTE ON FUNCTION auth.session_is_valid(uuid, timestamptz), auth.revoke_session(uuid),
    auth.session_row_validity(record, timestamptz) TO upgrade_admin;

CREATE TABLE public.notes (
    id int PRIMARY KEY,
    owner_id uuid NOT NULL,
    mfa_only boolean NOT NULL DEFAULT false);
INSERT INTO public.notes
SELECT n, ('00000000-0000-4000-8000-' || lpad(to_hex(1 + n % 50), 12, '0'))::uuid, n % 10 = 0
  FROM generate_series(1, 500) n;
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY live_session ON public.notes AS RESTRICTIVE FOR ALL TO upgrade_user
    USING (auth.current_session_is_valid()) WITH CHECK (auth.current_session_is_valid());
CREATE POLICY own_notes ON public.notes FOR SELECT TO upgrade_user
    USING (owner_id = (pg_catalog.current_setting('request.jwt.claims', true)::jsonb ->> 'sub')::uuid
           AND (NOT mfa_only OR auth.current_session_aal() >= 'aal2'));
GRANT SELECT ON public.notes TO upgrade_user;

-- A view over the sessions with their validity, for the admin role.
CREATE VIEW public.session_report AS
SELECT s.id, s.user_id, auth.session_row_validity(s, timestamptz '2026-03-01 00:00:00+00') AS validity
  FROM auth.sessions s;
GRANT SELECT ON public.session_report TO upgrade_admin;

-- A table whose check constraint calls one of the functions.
CREATE TABLE public.audit (
    session_id uuid NOT NULL,
    note text,
    CHECK (auth.session_validity(session_id, timestamptz '2026-01-15 00:00:00+00') IN ('valid', 'not_found')));
INSERT INTO public.audit VALUES ('10000000-0000-4000-8000-000000000001', 'first');
