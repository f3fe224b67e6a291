-- auth_sessions: pruning (src/prune/) — its state, the procedure that runs
-- batches until done, and the statistics.

-- The sweeps' cursors and the background worker's record. One row.
CREATE TABLE auth.prune_state (
    singleton boolean NOT NULL DEFAULT true,
    session_cursor tid,
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

-- pg_dump keeps its row (the cursors and the worker's totals). A restore runs
-- CREATE EXTENSION first, which makes the row, then copies the dumped one:
-- this trigger turns that second row into an update of the first, so the
-- restore neither fails on the key nor starts the record over.
SELECT pg_catalog.pg_extension_config_dump('auth.prune_state', '');
CREATE FUNCTION auth.prune_state_restore() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    UPDATE ONLY auth.prune_state AS p
       SET session_cursor = NEW.session_cursor, token_cursor = NEW.token_cursor,
           session_sweeps = NEW.session_sweeps, token_sweeps = NEW.token_sweeps,
           worker_runs = NEW.worker_runs, worker_last_run_at = NEW.worker_last_run_at,
           worker_last_duration = NEW.worker_last_duration, worker_last_sessions = NEW.worker_last_sessions,
           worker_last_tokens = NEW.worker_last_tokens, worker_total_sessions = NEW.worker_total_sessions,
           worker_total_tokens = NEW.worker_total_tokens, worker_last_error = NEW.worker_last_error,
           worker_last_error_at = NEW.worker_last_error_at
     WHERE p.singleton OPERATOR(pg_catalog.=) NEW.singleton;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$function$;
COMMENT ON FUNCTION auth.prune_state_restore() IS
    'auth_sessions: trigger on auth.prune_state: a second copy of its one row (a restore loading the dumped row after CREATE EXTENSION made one) updates the existing row instead';
REVOKE EXECUTE ON FUNCTION auth.prune_state_restore() FROM PUBLIC;
CREATE TRIGGER restore_dumped_row BEFORE INSERT ON auth.prune_state
    FOR EACH ROW EXECUTE FUNCTION auth.prune_state_restore();

-- Runs batches of auth.prune_step, committing after each, until a batch finds
-- nothing and both sweeps have gone round once since the call began, or the
-- time budget runs out. After a batch during which other sessions ran
-- queries, it pauses (auth.prune_pause, auth_sessions.prune_busy_share), in
-- a transaction of its own. (No SET clause: a procedure with one cannot
-- COMMIT; every name is schema-qualified instead, operators included, so
-- the caller's search_path is never consulted.)
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
    IF time_budget OPERATOR(pg_catalog.<) '0'::pg_catalog.interval THEN
        RAISE EXCEPTION 'time_budget must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    deadline := pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) time_budget;
    sessions_deleted := 0;
    tokens_deleted := 0;
    batches := 0;
    longest_batch := '0'::pg_catalog.interval;
    paused := '0'::pg_catalog.interval;
    -- Start both sweeps over, so that going round once means every row was
    -- looked at (unless another pruner holds the cursors right now).
    PERFORM auth.prune_restart();
    COMMIT;
    LOOP
        batch_started := pg_catalog.clock_timestamp();
        SELECT * INTO step FROM auth.prune_step(batch_size, grace, token_grace);
        COMMIT;
        longest_batch := greatest(longest_batch, pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) batch_started);
        batches := batches OPERATOR(pg_catalog.+) 1;
        sessions_deleted := sessions_deleted OPERATOR(pg_catalog.+) step.sessions_deleted;
        tokens_deleted := tokens_deleted OPERATOR(pg_catalog.+) step.tokens_deleted;
        sessions_done := sessions_done OR step.sessions_swept;
        tokens_done := tokens_done OR step.tokens_swept;
        EXIT WHEN step.sessions_deleted OPERATOR(pg_catalog.=) 0 AND step.tokens_deleted OPERATOR(pg_catalog.=) 0
              AND sessions_done AND tokens_done;
        paused := paused OPERATOR(pg_catalog.+) auth.prune_pause(batch_started, deadline);
        COMMIT;
        EXIT WHEN pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) deadline;
    END LOOP;
END
$procedure$;
COMMENT ON PROCEDURE auth.prune_expired_sessions(integer, interval, interval, interval, bigint, bigint, integer, interval, interval) IS
    'auth_sessions: prunes invalid sessions and revoked refresh tokens in batches, committing after each, until nothing is left or time_budget runs out, pausing while other sessions are busy (auth_sessions.prune_busy_share); reports what it removed, its longest batch and how long it paused';

-- Sessions by validity and aal, the prune backlog, and the worker's record.
-- Reads every session (a full scan): for monitoring, not for hot paths.
-- "status" is "ready", or "waiting" (attach mode, before GoTrue's migrations
-- have made what the extension reads, listed in "waiting_for").
CREATE FUNCTION auth.session_stats() RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    missing text[] := auth.session_tables_missing();
    worker jsonb;
BEGIN
    SELECT pg_catalog.jsonb_build_object(
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
      INTO worker
      FROM ONLY auth.prune_state p;
    IF pg_catalog.cardinality(missing) OPERATOR(pg_catalog.>) 0 THEN
        RETURN pg_catalog.jsonb_build_object('status', 'waiting', 'waiting_for', pg_catalog.to_jsonb(missing),
                                             'worker', worker);
    END IF;
    RETURN (
    WITH s AS (
        SELECT auth.session_row_validity(s, pg_catalog.now()) AS validity,
               coalesce(s.aal::pg_catalog.text, 'null') AS aal
          FROM ONLY auth.sessions s),
    by_aal AS (SELECT s.validity, s.aal, pg_catalog.count(*) AS n FROM s GROUP BY s.validity, s.aal),
    by_reason AS (
        SELECT b.validity, pg_catalog.sum(b.n) AS total, pg_catalog.jsonb_object_agg(b.aal, b.n ORDER BY b.aal) AS aal
          FROM by_aal b GROUP BY b.validity)
    SELECT pg_catalog.jsonb_build_object(
        'status', 'ready',
        'sessions', coalesce((SELECT pg_catalog.jsonb_object_agg(r.validity, pg_catalog.jsonb_build_object('total', r.total, 'by_aal', r.aal))
                                FROM by_reason r), '{}'::pg_catalog.jsonb),
        'total_sessions', (SELECT pg_catalog.count(*) FROM s),
        'prune_backlog', pg_catalog.jsonb_build_object(
            -- low_aal sessions are invalid but never pruned (they become
            -- valid again when the user's factor goes).
            'invalid_sessions', (SELECT pg_catalog.count(*) FROM s
                                  WHERE s.validity OPERATOR(pg_catalog.<>) ALL (ARRAY['valid', 'low_aal'])),
            'revoked_refresh_tokens', (SELECT pg_catalog.count(*) FROM ONLY auth.refresh_tokens r WHERE r.revoked)),
        'worker', worker));
END
$function$;
COMMENT ON FUNCTION auth.session_stats() IS
    'auth_sessions: status (ready, or waiting with what GoTrue has yet to create), sessions by validity and aal, the prune backlog and the pruning worker''s last run and totals, as jsonb (reads every session)';

COMMENT ON FUNCTION auth.prune_sessions(integer, interval) IS
    'auth_sessions: deletes at most batch_size sessions invalid for longer than grace, without waiting on row locks; returns how many';
COMMENT ON FUNCTION auth.prune_refresh_tokens(integer, interval) IS
    'auth_sessions: deletes at most batch_size revoked refresh tokens whose updated_at is older than grace; returns how many';
COMMENT ON FUNCTION auth.prune_step(integer, interval, interval) IS
    'auth_sessions: one batch of prune_sessions and of prune_refresh_tokens, with whether each sweep went round';
COMMENT ON FUNCTION auth.prune_restart() IS
    'auth_sessions: starts both pruning sweeps over (unless another pruner holds their cursors: then false), as auth.prune_expired_sessions does first';
COMMENT ON FUNCTION auth.prune_pause(timestamptz, timestamptz) IS
    'auth_sessions: after a batch that started at batch_started, pauses while other sessions ran queries meanwhile, as auth_sessions.prune_busy_share says (never past deadline); returns the pause';

REVOKE EXECUTE ON FUNCTION
    auth.prune_sessions(integer, interval),
    auth.prune_refresh_tokens(integer, interval),
    auth.prune_step(integer, interval, interval),
    auth.prune_pause(timestamptz, timestamptz),
    auth.prune_restart(),
    auth.session_stats()
FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE auth.prune_expired_sessions(integer, interval, interval, interval, bigint, bigint, integer, interval, interval) FROM PUBLIC;
