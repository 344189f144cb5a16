-- Signing in with a passkey alone (issue 13): the discoverable-credential challenge handed to
-- a browser, as the SHA-256 of its passkey_token, with webauthn-rs's state; good once, for
-- five minutes. The user is known only from the passkey's answer.
CREATE TABLE passkey_logins (
    token_hash  TEXT    PRIMARY KEY,
    state       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX passkey_logins_expires_idx ON passkey_logins (expires_at);
