-- 7: search (issue 16): a GIN index of each live message's words, as the
-- language-neutral `simple` configuration splits and folds them, so a
-- search reads `search_vector(text) @@ to_tsquery('simple', 'word:*' & …)`
-- from the index. An expression index, not a column: an edit or a delete
-- changes the row, and the index follows in the same transaction; a
-- deleted message leaves it (the index is partial). Text is BYTEA (it may
-- hold NUL, which TEXT cannot): `search_vector` reads NUL as a space. It
-- is IMMUTABLE for the index; `convert_from` to the database's own UTF8
-- only checks the bytes, which never changes its answer.
CREATE FUNCTION search_vector(body BYTEA) RETURNS tsvector
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    nul INTEGER := position('\x00'::BYTEA IN body);
BEGIN
    WHILE nul > 0 LOOP
        body := set_byte(body, nul - 1, 32);
        nul := position('\x00'::BYTEA IN body);
    END LOOP;
    RETURN to_tsvector('simple'::regconfig, convert_from(body, 'UTF8'));
END
$$;
CREATE INDEX entries_search ON entries USING GIN (search_vector(text))
    WHERE kind = 0 AND NOT deleted;
