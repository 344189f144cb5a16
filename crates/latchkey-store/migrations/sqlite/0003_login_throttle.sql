-- Failed-login counters, per identifier ('id:<folded identifier>') and per client address
-- ('ip:<address>'). In the database so that every instance shares them.
CREATE TABLE login_throttle (
    key          TEXT    PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    locked_until INTEGER
);
CREATE INDEX login_throttle_window_idx ON login_throttle (window_start);
