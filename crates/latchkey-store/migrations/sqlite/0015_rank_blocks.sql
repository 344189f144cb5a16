-- Rank anchors for page-numbered lists. Keep in step with migrations/postgres/0015_rank_blocks.sql.
--
-- The dialects' `?page=` must skip `offset` users in id order, and a walk over a million index
-- entries cannot answer page 50,000 quickly. This table counts the users in each block of
-- 4,096 consecutive ids, kept exact by triggers in the same transaction as the insert or
-- delete. "The id at rank N" is then a running sum over the blocks (a few hundred rows per
-- million users) to the block holding rank N, and a walk of at most 4,096 ids inside it.
-- A block whose users are all gone keeps its row at 0 (harmless, and never re-filled:
-- ids are not reused).
CREATE TABLE user_blocks (
    block INTEGER PRIMARY KEY,
    n     INTEGER NOT NULL
);
INSERT INTO user_blocks (block, n) SELECT id / 4096, COUNT(*) FROM users GROUP BY id / 4096;

CREATE TRIGGER user_blocks_insert AFTER INSERT ON users BEGIN
    INSERT INTO user_blocks (block, n) VALUES (new.id / 4096, 1)
        ON CONFLICT (block) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER user_blocks_delete AFTER DELETE ON users BEGIN
    UPDATE user_blocks SET n = n - 1 WHERE block = old.id / 4096;
END;
