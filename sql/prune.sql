-- auth_sessions: pruning (src/prune.rs) — its state, the procedure that runs
-- batches until done, and the statistics.

-- The sweeps' cursors and the background worker's record. One row.
CREATE TABLE auth.prune_state (
    singleton boolean NOT NULL DEFAULT true,
    session_cursor uuid,
    token_cursor timestamp with time zone,
    session_sweeps bigint NOT NULL DEFAULT 0,
    token_sweeps bigint NOT NULL DEFAULT 0,
    worker_runs bigint NOT NULL DEFAULT 0,
    worker_last_run_at timestamp with time zone,
    worker_last_duration interval,
    worker_last_sessions bigint,
    worker_last_tokens bigint,
    worker_total_sessions bigint NOT NULL DEFAULT 0,
    worker_total_tokens bigint NOT NULL DEFAULT 0,
    worker_last_error text,
    worker_last_error_at timestamp with time zone,
    CONSTRAINT prune_state_pkey PRIMARY KEY (singleton),
    CONSTRAINT prune_state_singleton CHECK (singleton)
);
COMMENT ON TABLE auth.prune_state IS
    'auth_sessions: the pruning sweeps'' cursors and the background worker''s last run and totals (one row)';
INSERT INTO auth.prune_state DEFAULT VALUES;
ALTER TABLE auth.prune_state ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE auth.prune_state FROM PUBLIC;

-- Runs batches of auth.prune_step, committing after each, until a batch finds
-- nothing and both sweeps have gone round once since the call began, or the
-- time budget runs out. After a batch during which other sessions ran
-- queries, it pauses (auth.prune_pause, auth_sessions.prune_busy_share), in
-- a transaction of its own. (No SET clause: a procedure with one cannot
-- COMMIT; every name is schema-qualified instead.)
CREATE PROCEDURE auth.prune_expired_sessions(
    batch_size integer DEFAULT 1000,
    grace interval DEFAULT '0',
    token_grace interval DEFAULT '24 hours',
    time_budget interval DEFAULT '1 minute',
    INOUT sessions_deleted bigint DEFAULT NULL,
    INOUT tokens_deleted bigint DEFAULT NULL,
    INOUT batches integer DEFAULT NULL,
    INOUT longest_batch interval DEFAULT NULL,
    INOUT paused interval DEFAULT NULL)
LANGUAGE plpgsql
AS $procedure$
DECLARE
    deadline timestamptz;
    step record;
    batch_started timestamptz;
    sessions_done boolean := false;
    tokens_done boolean := false;
BEGIN
    IF time_budget IS NULL THEN
        RAISE EXCEPTION 'time_budget must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF time_budget < interval '0' THEN
        RAISE EXCEPTION 'time_budget must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    deadline := pg_catalog.clock_timestamp() + time_budget;
    sessions_deleted := 0;
    tokens_deleted := 0;
    batches := 0;
    longest_batch := interval '0';
    paused := interval '0';
    -- Start both sweeps over, so that going round once means every row was
    -- looked at (unless another pruner holds the cursors right now).
    PERFORM FROM auth.prune_state p FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
        UPDATE auth.prune_state SET session_cursor = NULL, token_cursor = NULL;
    END IF;
    COMMIT;
    LOOP
        batch_started := pg_catalog.clock_timestamp();
        SELECT * INTO step FROM auth.prune_step(batch_size, grace, token_grace);
        COMMIT;
        longest_batch := greatest(longest_batch, pg_catalog.clock_timestamp() - batch_started);
        batches := batches + 1;
        sessions_deleted := sessions_deleted + step.sessions_deleted;
        tokens_deleted := tokens_deleted + step.tokens_deleted;
        sessions_done := sessions_done OR step.sessions_swept;
        tokens_done := tokens_done OR step.tokens_swept;
        EXIT WHEN step.sessions_deleted = 0 AND step.tokens_deleted = 0 AND sessions_done AND tokens_done;
        paused := paused + auth.prune_pause(batch_started, deadline);
        COMMIT;
        EXIT WHEN pg_catalog.clock_timestamp() >= deadline;
    END LOOP;
END
$procedure$;
COMMENT ON PROCEDURE auth.prune_expired_sessions(integer, interval, interval, interval, bigint, bigint, integer, interval, interval) IS
    'auth_sessions: prunes invalid sessions and revoked refresh tokens in batches, committing after each, until nothing is left or time_budget runs out, pausing while other sessions are busy (auth_sessions.prune_busy_share); reports what it removed, its longest batch and how long it paused';

-- Sessions by validity and aal, the prune backlog, and the worker's record.
-- Reads every session (a full scan): for monitoring, not for hot paths.
CREATE FUNCTION auth.session_stats() RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH s AS (
        SELECT auth.session_row_validity(s.id, s.created_at, s.not_after, s.refreshed_at, now()) AS validity,
               coalesce(s.aal::text, 'null') AS aal
          FROM auth.sessions s),
    by_aal AS (SELECT validity, aal, count(*) AS n FROM s GROUP BY validity, aal),
    by_reason AS (
        SELECT validity, sum(n) AS total, jsonb_object_agg(aal, n ORDER BY aal) AS aal
          FROM by_aal GROUP BY validity)
    SELECT jsonb_build_object(
        'sessions', coalesce((SELECT jsonb_object_agg(validity, jsonb_build_object('total', total, 'by_aal', aal))
                                FROM by_reason), '{}'::jsonb),
        'total_sessions', (SELECT count(*) FROM s),
        'prune_backlog', jsonb_build_object(
            'invalid_sessions', (SELECT count(*) FROM s WHERE validity <> 'valid'),
            'revoked_refresh_tokens', (SELECT count(*) FROM auth.refresh_tokens r WHERE r.revoked)),
        'worker', (SELECT jsonb_build_object(
                       'runs', p.worker_runs,
                       'last_run_at', p.worker_last_run_at,
                       'last_duration', p.worker_last_duration,
                       'last_sessions_deleted', p.worker_last_sessions,
                       'last_tokens_deleted', p.worker_last_tokens,
                       'total_sessions_deleted', p.worker_total_sessions,
                       'total_tokens_deleted', p.worker_total_tokens,
                       'last_error', p.worker_last_error,
                       'last_error_at', p.worker_last_error_at,
                       'session_sweeps', p.session_sweeps,
                       'token_sweeps', p.token_sweeps)
                     FROM auth.prune_state p))
$function$;
COMMENT ON FUNCTION auth.session_stats() IS
    'auth_sessions: sessions by validity and aal, the prune backlog and the pruning worker''s last run and totals, as jsonb (reads every session)';

COMMENT ON FUNCTION auth.prune_sessions(integer, interval) IS
    'auth_sessions: deletes at most batch_size sessions invalid for longer than grace, without waiting on row locks; returns how many';
COMMENT ON FUNCTION auth.prune_refresh_tokens(integer, interval) IS
    'auth_sessions: deletes at most batch_size revoked refresh tokens whose updated_at is older than grace; returns how many';
COMMENT ON FUNCTION auth.prune_step(integer, interval, interval) IS
    'auth_sessions: one batch of prune_sessions and of prune_refresh_tokens, with whether each sweep went round';
COMMENT ON FUNCTION auth.prune_pause(timestamptz, timestamptz) IS
    'auth_sessions: after a batch that started at batch_started, pauses while other sessions ran queries meanwhile, as auth_sessions.prune_busy_share says (never past deadline); returns the pause';

REVOKE EXECUTE ON FUNCTION
    auth.prune_sessions(integer, interval),
    auth.prune_refresh_tokens(integer, interval),
    auth.prune_step(integer, interval, interval),
    auth.prune_pause(timestamptz, timestamptz),
    auth.session_stats()
FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE auth.prune_expired_sessions(integer, interval, interval, interval, bigint, bigint, integer, interval, interval) FROM PUBLIC;
