-- Rank anchors for page-numbered lists. Keep in step with migrations/sqlite/0015_rank_blocks.sql.
--
-- The dialects' `?page=` must skip `offset` users in id order, and a walk over a million index
-- entries cannot answer page 50,000 quickly. This table counts the users in each block of
-- 4,096 consecutive ids, kept exact by triggers in the same transaction as the insert or
-- delete. "The id at rank N" is then a running sum over the blocks (a few hundred rows per
-- million users) to the block holding rank N, and a walk of at most 4,096 ids inside it.
-- A block whose users are all gone keeps its row at 0 (harmless, and never re-filled:
-- ids are not reused).
CREATE TABLE user_blocks (
    block BIGINT PRIMARY KEY,
    n     BIGINT NOT NULL
);
INSERT INTO user_blocks (block, n) SELECT id / 4096, COUNT(*) FROM users GROUP BY id / 4096;

-- Statement-level, as row_counts' triggers: a bulk insert touches each block once. Blocks are
-- locked in block order, so two bulk writes cannot deadlock on them.
CREATE FUNCTION user_blocks_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_blocks (block, n)
        SELECT id / 4096, COUNT(*) FROM new_rows GROUP BY id / 4096 ORDER BY 1
        ON CONFLICT (block) DO UPDATE SET n = user_blocks.n + EXCLUDED.n;
    RETURN NULL;
END;
$$;
CREATE FUNCTION user_blocks_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM user_blocks WHERE block IN (SELECT id / 4096 FROM old_rows)
        ORDER BY block FOR UPDATE;
    UPDATE user_blocks b SET n = b.n - d.c
        FROM (SELECT id / 4096 AS block, COUNT(*) AS c FROM old_rows GROUP BY id / 4096) d
        WHERE b.block = d.block;
    RETURN NULL;
END;
$$;
CREATE TRIGGER user_blocks_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_blocks_insert();
CREATE TRIGGER user_blocks_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION user_blocks_delete();
