-- Nothing to do on SQLite: migrations/postgres/0017_bucketed_grams.sql adds PostgreSQL's
-- bucketed 4-gram index; SQLite's FTS5 index (0005) already yields a term's matches in id
-- order and stops at the bound. Kept so both databases' migrations number alike.
SELECT 1;
