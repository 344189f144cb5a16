-- Indexes that keep admin lists fast at millions of users. Keep in step with
-- migrations/postgres/0005_search_index.sql.
--
-- 1. Free-text search: a trigram FTS5 index over users.search_text (already case-folded by
--    the application, so the index is case-sensitive: a phrase query for a term of 3 or more
--    characters is exactly a substring test, the same answer `LIKE '%term%'` gives, from the
--    index instead of a scan). External content: the text lives once, in users.
CREATE VIRTUAL TABLE users_search USING fts5(
    search_text,
    content = 'users',
    content_rowid = 'id',
    tokenize = 'trigram case_sensitive 1'
);
INSERT INTO users_search (users_search) VALUES ('rebuild');

CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_search (users_search, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
END;
CREATE TRIGGER users_search_update AFTER UPDATE OF search_text ON users BEGIN
    INSERT INTO users_search (users_search, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
    INSERT INTO users_search (rowid, search_text) VALUES (new.id, new.search_text);
END;

-- 2. Row counts that list totals read instead of COUNT(*) over the table, kept exact by
--    triggers in the same transaction as the change.
CREATE TABLE row_counts (
    name TEXT    PRIMARY KEY,
    n    INTEGER NOT NULL
);
INSERT INTO row_counts (name, n) SELECT 'users', COUNT(*) FROM users;

CREATE TRIGGER users_count_insert AFTER INSERT ON users BEGIN
    UPDATE row_counts SET n = n + 1 WHERE name = 'users';
END;
CREATE TRIGGER users_count_delete AFTER DELETE ON users BEGIN
    UPDATE row_counts SET n = n - 1 WHERE name = 'users';
END;

-- 3. Page-numbered lists (the dialects' `?page=`) must skip `offset` users in id order. The
--    table is itself in id order, but stepping through it reads every skipped row's page; this
--    index holds only ids, so the skip is an index-only walk. (PostgreSQL's primary key index
--    serves the same query with an index-only scan.)
CREATE INDEX users_id_idx ON users (id);
