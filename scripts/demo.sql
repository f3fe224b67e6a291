-- What auth_sessions gives you so far: GoTrue's session schema, exactly, as
-- an extension (type, tables, indexes, foreign keys, row security, pg_dump).
\pset footer off
\echo '--- auth.sessions, as GoTrue (Supabase Auth) defines it:'
\d+ auth.sessions
\echo '--- the extension owns these objects:'
SELECT pg_describe_object(classid, objid, objsubid) AS member
  FROM pg_depend
 WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'auth_sessions') AND deptype = 'e'
 ORDER BY 1;
\echo '--- a user signs in twice; each session gets a refresh token:'
INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001');
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal)
VALUES ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-000000000001', now(), now(), 'aal1'),
       ('00000000-0000-4000-8000-0000000000a2', '00000000-0000-4000-8000-000000000001', now(), now(), 'aal2');
INSERT INTO auth.refresh_tokens (token, user_id, revoked, created_at, updated_at, session_id)
SELECT 'demo-token-' || right(id::text, 2), user_id::text, false, now(), now(), id FROM auth.sessions;
SELECT s.id, s.aal, count(r.id) AS refresh_tokens
  FROM auth.sessions s LEFT JOIN auth.refresh_tokens r ON r.session_id = s.id
 GROUP BY s.id, s.aal ORDER BY s.id;
\echo '--- GoTrue drops low-assurance sessions after MFA with aal < ''aal2'': the enum order makes that work'
SELECT id, aal, aal < 'aal2' AS below_aal2 FROM auth.sessions ORDER BY id;
\echo '--- logging out is a DELETE; refresh tokens go with it by cascade:'
DELETE FROM auth.sessions WHERE id = '00000000-0000-4000-8000-0000000000a1';
SELECT (SELECT count(*) FROM auth.sessions) AS sessions, (SELECT count(*) FROM auth.refresh_tokens) AS refresh_tokens;
