-- auth_sessions: the schema GoTrue (Supabase Auth) keeps its login sessions in.
--
-- One install script serves two extensions over the same library (see README,
-- "Modes"); which one is being created is the mode, and pg_dump records it:
--
-- - `auth_sessions` (standalone) creates GoTrue's type and tables itself, as
--   members of the extension, each registered with pg_extension_config_dump
--   so that pg_dump keeps their rows;
-- - `auth_sessions_gotrue` (attach) creates none of them: GoTrue's migrations
--   own them. It can be created at any point of GoTrue's migrations (or
--   before them, or in an empty database, which is what a restore of a dump
--   looks like when it runs CREATE EXTENSION): until they have made what it
--   reads, it waits (src/attach/), and it completes itself when they have.
--
-- No function of either depends on these objects by type (their signatures
-- use text, uuid and record), so both offer one identical API.
--
-- This script runs inside CREATE EXTENSION, with search_path set to the
-- extension's schema (`auth`, from the control file; PostgreSQL creates it when
-- missing).
--
-- `auth.sessions` must describe (`\d+ auth.sessions`) exactly as the seed,
-- shared/seed/auth.sessions.describe.md: same columns in the same order,
-- types, nullability, no defaults, storage, comment, index names and
-- definitions, foreign keys and row security.

-- Which extension is being created. Both cannot be installed at once: the
-- second to be created sees both rows, and stops here.
DO $mode$
DECLARE
    names text[];
BEGIN
    SELECT pg_catalog.array_agg(e.extname::text ORDER BY e.extname) INTO names
      FROM pg_catalog.pg_extension e
     WHERE e.extname OPERATOR(pg_catalog.=) ANY (ARRAY['auth_sessions', 'auth_sessions_gotrue']::name[]);
    IF pg_catalog.cardinality(names) OPERATOR(pg_catalog.>) 1 THEN
        RAISE EXCEPTION 'auth_sessions and auth_sessions_gotrue cannot both be installed in one database'
            USING ERRCODE = 'duplicate_object',
                  DETAIL = 'They are two modes of one extension: auth_sessions creates GoTrue''s tables itself, '
                        OPERATOR(pg_catalog.||) 'auth_sessions_gotrue attaches to the tables GoTrue''s migrations created.',
                  HINT = 'Keep the one already installed, or DROP EXTENSION it first.';
    END IF;
END
$mode$;

-- Standalone: refuse a database that already has any of these objects (a
-- GoTrue-managed one, say) before creating anything. The whole CREATE
-- EXTENSION runs in one transaction, so raising here leaves the database
-- exactly as it was.
DO $standalone$
DECLARE
    existing text;
    tables integer;
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'auth_sessions_gotrue') THEN
        RETURN;
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.format('%s %s', kind, name), ', ' ORDER BY ord),
           pg_catalog.count(*) FILTER (WHERE kind OPERATOR(pg_catalog.=) 'table')
      INTO existing, tables
      FROM (VALUES (1, 'type',  'auth.aal_level',      pg_catalog.to_regtype('auth.aal_level')::oid),
                   (2, 'table', 'auth.users',          pg_catalog.to_regclass('auth.users')::oid),
                   (3, 'table', 'auth.sessions',       pg_catalog.to_regclass('auth.sessions')::oid),
                   (4, 'table', 'auth.refresh_tokens', pg_catalog.to_regclass('auth.refresh_tokens')::oid),
                   (5, 'table', 'auth.mfa_amr_claims', pg_catalog.to_regclass('auth.mfa_amr_claims')::oid))
           AS objects(ord, kind, name, object_oid)
     WHERE object_oid IS NOT NULL;

    IF existing IS NOT NULL THEN
        RAISE EXCEPTION 'auth_sessions cannot be installed: the database already has %', existing
            USING ERRCODE = CASE WHEN tables OPERATOR(pg_catalog.>) 0 THEN 'duplicate_table' ELSE 'duplicate_object' END,
                  DETAIL = 'The standalone extension auth_sessions creates and owns auth.aal_level, auth.users, auth.sessions, '
                        OPERATOR(pg_catalog.||) 'auth.refresh_tokens and auth.mfa_amr_claims.',
                  HINT = 'Where GoTrue (Supabase Auth) manages these tables, use CREATE EXTENSION auth_sessions_gotrue, '
                      OPERATOR(pg_catalog.||) 'which attaches to them. Otherwise install auth_sessions into a database '
                      OPERATOR(pg_catalog.||) 'without these objects (an empty "auth" schema is fine).';
    END IF;

    CREATE TYPE auth.aal_level AS ENUM ('aal1', 'aal2', 'aal3');

    -- GoTrue's users table has many more columns; sessions only need its key.
    CREATE TABLE auth.users (
        id uuid NOT NULL,
        CONSTRAINT users_pkey PRIMARY KEY (id)
    );
    ALTER TABLE auth.users ENABLE ROW LEVEL SECURITY;

    CREATE TABLE auth.sessions (
        id uuid NOT NULL,
        user_id uuid NOT NULL,
        created_at timestamp with time zone,
        updated_at timestamp with time zone,
        factor_id uuid,
        aal auth.aal_level,
        not_after timestamp with time zone,
        -- UTC wall-clock time, as GoTrue writes it (`refreshed_at AT TIME ZONE 'UTC'`).
        refreshed_at timestamp without time zone,
        user_agent text,
        ip inet,
        tag text,
        CONSTRAINT sessions_pkey PRIMARY KEY (id),
        CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE CASCADE
    );
    COMMENT ON COLUMN auth.sessions.not_after IS
        'Auth: Not after is a nullable column that contains a timestamp after which the session should be regarded as expired.';
    CREATE INDEX sessions_not_after_idx ON auth.sessions USING btree (not_after DESC);
    CREATE INDEX sessions_user_id_idx ON auth.sessions USING btree (user_id);
    CREATE INDEX user_id_created_at_idx ON auth.sessions USING btree (user_id, created_at);
    ALTER TABLE auth.sessions ENABLE ROW LEVEL SECURITY;

    CREATE TABLE auth.refresh_tokens (
        instance_id uuid,
        id bigserial NOT NULL,
        token character varying(255),
        user_id character varying(255),
        revoked boolean,
        created_at timestamp with time zone,
        updated_at timestamp with time zone,
        parent character varying(255),
        session_id uuid,
        CONSTRAINT refresh_tokens_pkey PRIMARY KEY (id),
        CONSTRAINT refresh_tokens_token_unique UNIQUE (token),
        CONSTRAINT refresh_tokens_session_id_fkey FOREIGN KEY (session_id) REFERENCES auth.sessions(id) ON DELETE CASCADE
    );
    CREATE INDEX refresh_tokens_instance_id_idx ON auth.refresh_tokens USING btree (instance_id);
    CREATE INDEX refresh_tokens_instance_id_user_id_idx ON auth.refresh_tokens USING btree (instance_id, user_id);
    CREATE INDEX refresh_tokens_parent_idx ON auth.refresh_tokens USING btree (parent);
    CREATE INDEX refresh_tokens_session_id_revoked_idx ON auth.refresh_tokens USING btree (session_id, revoked);
    CREATE INDEX refresh_tokens_updated_at_idx ON auth.refresh_tokens USING btree (updated_at DESC);
    ALTER TABLE auth.refresh_tokens ENABLE ROW LEVEL SECURITY;

    CREATE TABLE auth.mfa_amr_claims (
        session_id uuid NOT NULL,
        created_at timestamp with time zone NOT NULL,
        updated_at timestamp with time zone NOT NULL,
        authentication_method text NOT NULL,
        id uuid NOT NULL,
        CONSTRAINT amr_id_pk PRIMARY KEY (id),
        -- A UNIQUE constraint despite its name, as in GoTrue.
        CONSTRAINT mfa_amr_claims_session_id_authentication_method_pkey UNIQUE (session_id, authentication_method),
        CONSTRAINT mfa_amr_claims_session_id_fkey FOREIGN KEY (session_id) REFERENCES auth.sessions(id) ON DELETE CASCADE
    );
    ALTER TABLE auth.mfa_amr_claims ENABLE ROW LEVEL SECURITY;

    -- pg_dump dumps an extension's objects as one CREATE EXTENSION and leaves
    -- their rows out, unless the tables are registered here. Restoring runs
    -- CREATE EXTENSION first and then loads these rows (parents before children).
    PERFORM pg_catalog.pg_extension_config_dump('auth.users', '');
    PERFORM pg_catalog.pg_extension_config_dump('auth.sessions', '');
    PERFORM pg_catalog.pg_extension_config_dump('auth.refresh_tokens', '');
    PERFORM pg_catalog.pg_extension_config_dump('auth.refresh_tokens_id_seq', '');
    PERFORM pg_catalog.pg_extension_config_dump('auth.mfa_amr_claims', '');

    -- No privilege on these tables goes to PUBLIC: tables start with none, and
    -- this revokes anything a default-privileges rule might have added.
    REVOKE ALL ON TABLE auth.users, auth.sessions, auth.refresh_tokens, auth.mfa_amr_claims FROM PUBLIC;
    REVOKE ALL ON SEQUENCE auth.refresh_tokens_id_seq FROM PUBLIC;
END
$standalone$;
