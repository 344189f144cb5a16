-- Registered OAuth 2.1 / OpenID Connect clients. List-valued fields are JSON arrays of
-- strings; the secret is stored as the SHA-256 digest of 256 random bits (NULL for a public
-- client).
CREATE TABLE oauth_clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    public INTEGER NOT NULL,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    scopes TEXT NOT NULL,
    first_party INTEGER NOT NULL,
    id_token_alg TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE INDEX oauth_clients_created_idx ON oauth_clients (created_at, id);
