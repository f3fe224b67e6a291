-- pgbench: the application's stream during pruning: a validity lookup, a
-- refresh of a live session, and what GoTrue's refresh-token exchange does
-- first for a doomed session: lock its refresh token row.
\set r random(1, 200000)
SELECT auth.session_is_valid(id) FROM public.lookup_n WHERE n = :r;
\set r2 random(1, 200000)
SELECT auth.refresh_session(id) FROM public.lookup_n WHERE n = :r2;
\set d random(1, 100000)
SELECT r.id FROM public.doomed_n d JOIN auth.refresh_tokens r ON r.session_id = d.id WHERE d.n = :d FOR UPDATE OF r;
