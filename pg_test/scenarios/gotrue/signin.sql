-- GoTrue's sign-in: pop's INSERT of all 15 columns of auth.sessions, as a
-- prepared statement (search_path = auth).
PREPARE signin(auth.aal_level, timestamptz, uuid, uuid, inet, timestamptz, uuid, bigint, text, timestamp, text, text,
               timestamptz, text, uuid) AS
INSERT INTO "sessions" ("aal", "created_at", "factor_id", "id", "ip", "not_after", "oauth_client_id",
    "refresh_token_counter", "refresh_token_hmac_key", "refreshed_at", "scopes", "tag", "updated_at", "user_agent",
    "user_id") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15);
