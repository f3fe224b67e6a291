-- Pruning throughput, against the baselines the issue names, on the 1M-session
-- dataset. Only not_after applies here (no timebox or inactivity), and the
-- refresh-token sweep is kept out of it (token_grace of a century) so that all
-- variants do the same work: delete 100k expired sessions and their tokens.
--
-- This machine's timings vary by 20-40% from one minute to the next, so one
-- DELETE and one CALL are measured back to back in each of several rounds
-- (bench/prune_round.sql, run by bench.sh); the report gives every round's
-- ratio and their median. GoTrue-style batches run once, at the end.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP TABLE IF EXISTS public.prune_results;
CREATE TABLE public.prune_results (round int, ord int, variant text, rows bigint, ms numeric, longest_ms numeric);
-- The dataset's own expired sessions are cleared first, untimed.
DELETE FROM auth.sessions WHERE not_after < now();
VACUUM ANALYZE auth.sessions, auth.refresh_tokens;
