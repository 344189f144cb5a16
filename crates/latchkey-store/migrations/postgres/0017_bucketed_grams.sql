-- An index for search terms of four or more characters that can be read a part at a time.
-- Keep the numbering in step with migrations/sqlite/0017_bucketed_grams.sql (which has
-- nothing to do: SQLite's FTS5 index already yields matches in id order and stops early).
--
-- A GIN index hands over every match of a lookup at once, as a bitmap: for a surname held by
-- one user in fifty that is 20,000 entries at 1M users and 200,000 at 10M, though the page
-- and its bounded total need 1,001. So each user's distinct 4-character substrings are
-- tagged with the user's bucket of 65,536 ids (`id >> 16`; GramLookup::BUCKET_SHIFT in
-- backend/postgres.rs): "users in buckets 0 to 2 with 'yusu' and 'usuf'" is then three
-- short posting lists per gram, and a common term is settled from its first bucket.
-- Candidates are confirmed with LIKE (four grams in a text do not make the term).
CREATE FUNCTION latchkey_grams(id bigint, t text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ARRAY(
        SELECT DISTINCT (id >> 16) || ':' || substr(t, i, 4)
        FROM generate_series(1, length(t) - 3) AS i)
$$;
CREATE INDEX users_grams_idx ON users USING gin (latchkey_grams(id, search_text));
