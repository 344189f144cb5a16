-- Second factors (issue 13): TOTP, recovery codes, and the pending second step of a login.
--
-- A TOTP secret is sealed with the key-encryption key when one is configured
-- ('aead:v1:…', the user id bound as associated data), else stored as 'plain:<base32>'.
-- It counts only once confirmed_at is set (a correct code proved the app has it);
-- last_step is the last time step accepted, so no code is accepted twice, on any instance.
CREATE TABLE mfa_totp (
    user_id      INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    confirmed_at INTEGER,
    last_step    INTEGER
);

-- Recovery codes: SHA-256 of the normalized code, each used once.
CREATE TABLE mfa_recovery_codes (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

-- A login whose password was right and whose second factor is awaited: the SHA-256 of the
-- mfa_token (256 random bits), good once, for five minutes, until five wrong codes.
CREATE TABLE mfa_challenges (
    token_hash  TEXT    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    failures    INTEGER NOT NULL DEFAULT 0,
    used_at     INTEGER
);
CREATE INDEX mfa_challenges_expires_idx ON mfa_challenges (expires_at);

-- How a session's user authenticated (RFC 8176 values, space-separated: 'pwd', 'pwd otp'),
-- carried into the codes it issues and so into ID tokens' amr and acr.
ALTER TABLE sessions ADD COLUMN amr TEXT;
ALTER TABLE oauth_codes ADD COLUMN amr TEXT;
