-- A merchant signed in on the platform's own pages (sign-in or signup):
-- which stores this browser may manage there (their name and custom
-- domains). The cookie holds a random token; only its SHA-256 is kept, so
-- a copy of this table opens no session. Not a tenant table: the platform's
-- own, in the control plane's database, never moved.
CREATE TABLE merchant_sessions (
    token_hash  bytea PRIMARY KEY,
    email       text NOT NULL,
    store_ids   uuid[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX merchant_sessions_expiry ON merchant_sessions (expires_at);
