-- Latchkey schema, SQLite flavour. Keep in step with migrations/postgres/0001_initial.sql:
-- same tables, columns and constraint names; only the type spellings differ.
-- Times are integer milliseconds since the Unix epoch (UTC) on both backends. Booleans are
-- INTEGER 0/1 here (sqlx's Any driver cannot decode SQLite's BOOLEAN), BOOLEAN on PostgreSQL.

CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    name_key    TEXT    NOT NULL,
    description TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CONSTRAINT organizations_uuid_key UNIQUE (uuid),
    CONSTRAINT organizations_name_key_key UNIQUE (name_key)
);

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid            TEXT    NOT NULL,
    username        TEXT    NOT NULL,
    username_key    TEXT    NOT NULL,
    email           TEXT    NOT NULL,
    email_key       TEXT    NOT NULL,
    password_hash   TEXT    NOT NULL,
    first_name      TEXT,
    middle_name     TEXT,
    last_name       TEXT,
    name_extension  TEXT,
    display_name    TEXT,
    contact_number  TEXT,
    address         TEXT,
    organization_id INTEGER REFERENCES organizations (id) ON DELETE SET NULL,
    is_active       INTEGER NOT NULL DEFAULT TRUE,
    search_text     TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CONSTRAINT users_uuid_key UNIQUE (uuid),
    CONSTRAINT users_username_key_key UNIQUE (username_key),
    CONSTRAINT users_email_key_key UNIQUE (email_key)
);
CREATE INDEX users_organization_idx ON users (organization_id, id);
CREATE INDEX users_created_at_idx ON users (created_at, id);

CREATE TABLE roles (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    description TEXT,
    builtin     INTEGER NOT NULL DEFAULT FALSE,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CONSTRAINT roles_name_key UNIQUE (name)
);

CREATE TABLE role_assignments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id    INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    is_active  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT,
    updated_at INTEGER,
    updated_by TEXT,
    version    INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT role_assignments_user_role_key UNIQUE (user_id, role_id)
);
CREATE INDEX role_assignments_role_idx ON role_assignments (role_id, user_id);

CREATE TABLE sessions (
    id            TEXT    PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    revoke_reason TEXT,
    user_agent    TEXT,
    client_ip     TEXT
);
CREATE INDEX sessions_user_idx ON sessions (user_id, created_at);

CREATE TABLE refresh_tokens (
    token_hash TEXT    PRIMARY KEY,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid          TEXT    PRIMARY KEY,
    private_der  TEXT    NOT NULL,
    public_x     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    retired_at   INTEGER
);

-- Cross-instance cache invalidation: every change that a cached answer could depend on
-- (a session ended, a user changed, a role changed, keys rotated) writes a row here in the
-- same transaction. Instances poll it (and on PostgreSQL also LISTEN for a NOTIFY).
CREATE TABLE invalidations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    item       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX invalidations_created_at_idx ON invalidations (created_at);

INSERT INTO roles (name, description, builtin, created_at, updated_at) VALUES
    ('admin', 'Administrator: every right in every dialect', TRUE, 0, 0),
    ('super_admin', 'Administrator in citizen-portal', TRUE, 0, 0),
    ('pi', 'May register users in org-users', TRUE, 0, 0),
    ('user', 'Default role of user-profiles sign-up', TRUE, 0, 0),
    ('citizen', 'Default role of citizen-portal sign-up', TRUE, 0, 0);
