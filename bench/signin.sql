-- One sign-in as GoTrue makes it (its INSERT, the seed's columns), for a
-- random user among the dataset's 100k.
\set u random(1, 100000)
INSERT INTO auth.sessions (aal, created_at, factor_id, id, ip, not_after, refreshed_at, tag, updated_at, user_agent, user_id)
VALUES ('aal1', now(), NULL, gen_random_uuid(), '198.51.100.1', NULL, NULL, NULL, now(), 'bench',
        ('00000000-0000-4000-8000-' || lpad(to_hex(:u), 12, '0'))::uuid);
