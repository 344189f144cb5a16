-- Mail (issue 14): verified addresses, the tokens mails carry, and the outbox.

-- When the current address was proved (a mailed link, the bootstrap, an administrator);
-- any other change of the address clears it.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;

-- A mailed token: only its SHA-256. Good once, until expires_at; a newer token of the same
-- user and purpose marks older unused ones used. email is where it was sent (for an email
-- change: the new address).
CREATE TABLE mail_tokens (
    token_hash  TEXT    PRIMARY KEY,
    purpose     TEXT    NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX mail_tokens_user_idx ON mail_tokens (user_id, purpose);
CREATE INDEX mail_tokens_expires_idx ON mail_tokens (expires_at);

-- The outbox: written in the transaction that made the token a mail carries. status is
-- queued, sending (claimed until lease_until), sent or failed; bodies are dropped once a
-- mail is sent or has failed (they hold tokens), and are sealed at rest when a
-- key-encryption key is configured.
CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    recipient_key   TEXT    NOT NULL,
    user_id         INTEGER REFERENCES users (id) ON DELETE SET NULL,
    subject         TEXT    NOT NULL,
    text_body       TEXT,
    html_body       TEXT,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (status, next_attempt_at);
CREATE INDEX mail_outbox_recipient_idx ON mail_outbox (recipient_key, created_at);
CREATE INDEX mail_outbox_created_idx ON mail_outbox (created_at);
