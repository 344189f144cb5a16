-- Authorization codes, remembered consent, and sessions that belong to an OAuth client.
--
-- A session with a client_id was opened by the token endpoint for that client: its access
-- tokens carry the client and the granted scope, and its refresh tokens are only good at the
-- token endpoint for that client. Sessions without one are the native API's, the dialects'
-- and the hosted pages' (the browser session).
ALTER TABLE sessions ADD COLUMN client_id TEXT;
ALTER TABLE sessions ADD COLUMN scope TEXT;
CREATE INDEX sessions_client_idx ON sessions (client_id) WHERE client_id IS NOT NULL;

-- Codes are stored as the SHA-256 of 256 random bits, used once: used_at is set by the
-- redemption that wins, and session_id names what it issued (ended if the code is replayed).
CREATE TABLE oauth_codes (
    code_hash       TEXT    PRIMARY KEY,
    client_id       TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri    TEXT    NOT NULL,
    scope           TEXT    NOT NULL,
    nonce           TEXT,
    code_challenge  TEXT,
    auth_time       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER,
    session_id      TEXT
);
CREATE INDEX oauth_codes_expires_idx ON oauth_codes (expires_at);

-- What a user consented to, per client, until they revoke it.
CREATE TABLE oauth_grants (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
