-- An index for search terms of one or two characters, which the trigram index (0005) cannot
-- answer. Keep in step with migrations/sqlite/0016_short_terms.sql.
--
-- Every distinct substring of one and of two characters of search_text, as an array, in a
-- GIN index: "is 'zz' a substring" is then `latchkey_short_grams(search_text) @> '{zz}'`,
-- answered from the index.
CREATE FUNCTION latchkey_short_grams(t text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ARRAY(
        SELECT substr(t, i, 1) FROM generate_series(1, length(t)) AS i
        UNION
        SELECT substr(t, i, 2) FROM generate_series(1, length(t) - 1) AS i)
$$;
CREATE INDEX users_short_grams_idx ON users USING gin (latchkey_short_grams(search_text));
