-- Append-only record of security events. Never holds a secret (no password, hash or token).
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    actor_id    INTEGER,
    actor       TEXT,
    target_type TEXT,
    target_id   TEXT,
    client_ip   TEXT,
    user_agent  TEXT,
    detail      TEXT
);
CREATE INDEX audit_events_at_idx ON audit_events (at, id);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id);
CREATE INDEX audit_events_target_idx ON audit_events (target_type, target_id, id);
