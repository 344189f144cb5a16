-- An index for search terms of one or two characters, which the trigram index (0005) cannot
-- answer. Keep in step with migrations/postgres/0016_short_terms.sql.
--
-- For each user, every distinct substring of one and of two characters of search_text, each
-- written as the hex of its UTF-8 bytes (so any character is one ASCII token), in a
-- contentless FTS5 table without positions: "is 'zz' a substring" is then one token lookup,
-- answered from the index, and the matches come in id order. Kept by triggers; the text
-- positions are a table because a trigger cannot use WITH RECURSIVE. search_text is at most
-- 1,604 characters before folding (the field limits in latchkey-core/src/validate.rs).
CREATE TABLE text_positions (n INTEGER PRIMARY KEY);
INSERT INTO text_positions (n)
    WITH RECURSIVE p(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM p WHERE n < 4096)
    SELECT n FROM p;

CREATE VIRTUAL TABLE users_short USING fts5(
    grams,
    content = '',
    contentless_delete = 1,
    detail = none,
    tokenize = 'ascii'
);

-- One user's document: the distinct substrings, hex-encoded, space-separated.
CREATE VIEW users_short_doc AS
    SELECT u.id, (SELECT group_concat(g, ' ') FROM (
        SELECT hex(substr(u.search_text, n, 1)) AS g FROM text_positions
            WHERE n <= length(u.search_text)
        UNION SELECT hex(substr(u.search_text, n, 2)) FROM text_positions
            WHERE n < length(u.search_text))) AS grams
    FROM users u;

INSERT INTO users_short (rowid, grams) SELECT id, grams FROM users_short_doc;

CREATE TRIGGER users_short_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_short (rowid, grams) SELECT id, grams FROM users_short_doc WHERE id = new.id;
END;
CREATE TRIGGER users_short_delete AFTER DELETE ON users BEGIN
    DELETE FROM users_short WHERE rowid = old.id;
END;
CREATE TRIGGER users_short_update AFTER UPDATE OF search_text ON users BEGIN
    DELETE FROM users_short WHERE rowid = old.id;
    INSERT INTO users_short (rowid, grams) SELECT id, grams FROM users_short_doc WHERE id = new.id;
END;
