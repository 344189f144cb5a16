-- Passkeys (WebAuthn) as a second factor (issue 13). A passkey is webauthn-rs's credential
-- record as JSON (its public key, counter and flags: no secret); credential_id, base64url,
-- is unique across users, as WebAuthn requires.
CREATE TABLE mfa_passkeys (
    id            TEXT    PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    credential_id TEXT    NOT NULL UNIQUE,
    passkey       TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX mfa_passkeys_user_idx ON mfa_passkeys (user_id);

-- A registration under way: one per user, five minutes, the ceremony's state as JSON.
CREATE TABLE mfa_passkey_registrations (
    user_id     INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- The assertion a login's second step waits for, once asked for.
ALTER TABLE mfa_challenges ADD COLUMN webauthn_state TEXT;
