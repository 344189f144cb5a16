-- Indexes that keep admin lists fast at millions of users. Keep in step with
-- migrations/sqlite/0005_search_index.sql.
--
-- 1. Free-text search: a trigram GIN index over users.search_text, which PostgreSQL uses for
--    `LIKE '%term%'` directly (terms of 3 or more characters). pg_trgm ships with PostgreSQL
--    (contrib) and is a trusted extension: the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_search_trgm_idx ON users USING gin (search_text gin_trgm_ops);

-- 2. Row counts that list totals read instead of COUNT(*) over the table, kept exact by
--    triggers in the same transaction as the change.
CREATE TABLE row_counts (
    name TEXT   PRIMARY KEY,
    n    BIGINT NOT NULL
);
INSERT INTO row_counts (name, n) SELECT 'users', COUNT(*) FROM users;

-- Statement-level, so a bulk insert or delete updates the row once, not once per user.
CREATE FUNCTION users_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE row_counts SET n = n + (SELECT COUNT(*) FROM new_rows) WHERE name = 'users';
    RETURN NULL;
END;
$$;
CREATE FUNCTION users_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE row_counts SET n = n - (SELECT COUNT(*) FROM old_rows) WHERE name = 'users';
    RETURN NULL;
END;
$$;
CREATE TRIGGER users_count_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION users_count_insert();
CREATE TRIGGER users_count_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION users_count_delete();
