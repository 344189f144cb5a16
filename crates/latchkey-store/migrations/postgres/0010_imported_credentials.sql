-- Imported users (latchkey import): a user may come without a password (password_hash is
-- then '', which never verifies: they need a reset or an invitation), and a weak imported
-- hash (unsalted or salted MD5/SHA-1, accepted with --accept-weak-hashes) is flagged so an
-- admin can find those users and make them reset. Any new hash clears the flag.
ALTER TABLE users ADD COLUMN weak_password_hash BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX users_weak_password_idx ON users (id) WHERE weak_password_hash;
