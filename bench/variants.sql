-- The lookup variants the issue names, each with GoTrue's rules (not_after,
-- timebox, inactivity from refreshed_at read as UTC).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE FUNCTION public.valid_sql(sid uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM auth.sessions s WHERE s.id = sid
       AND (s.not_after IS NULL OR now() <= s.not_after)
       AND now() <= s.created_at + current_setting('auth_sessions.timebox')::interval
       AND now() <= coalesce(s.refreshed_at AT TIME ZONE 'UTC', s.created_at)
                    + current_setting('auth_sessions.inactivity_timeout')::interval)
$$;
CREATE FUNCTION public.valid_plpgsql(sid uuid) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM auth.sessions s WHERE s.id = sid
       AND (s.not_after IS NULL OR now() <= s.not_after)
       AND now() <= s.created_at + current_setting('auth_sessions.timebox')::interval
       AND now() <= coalesce(s.refreshed_at AT TIME ZONE 'UTC', s.created_at)
                    + current_setting('auth_sessions.inactivity_timeout')::interval);
END
$$;
CREATE FUNCTION public.valid_sql_definer(sid uuid) RETURNS boolean LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM auth.sessions s WHERE s.id = sid
       AND (s.not_after IS NULL OR now() <= s.not_after)
       AND now() <= s.created_at + current_setting('auth_sessions.timebox')::interval
       AND now() <= coalesce(s.refreshed_at AT TIME ZONE 'UTC', s.created_at)
                    + current_setting('auth_sessions.inactivity_timeout')::interval)
$$;
DO $$ BEGIN CREATE ROLE authenticated NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT SELECT ON public.items TO authenticated;
