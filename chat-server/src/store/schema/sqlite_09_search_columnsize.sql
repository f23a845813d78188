-- 9: the search index keeps no column sizes. FTS5 stores each document's
-- token count in `search_docsize` only for ranking (bm25), and searches
-- here list matches newest first, never by rank; writing that row was a
-- quarter of the cost of indexing a message. The index is made again with
-- `columnsize=0` from the messages themselves, so the marks move to each
-- room's newest id: every message is in the new index.
DROP TABLE search;
CREATE VIRTUAL TABLE search USING fts5(
    text, content = 'search_source', content_rowid = 'key',
    tokenize = 'unicode61 remove_diacritics 2', columnsize = 0
);
INSERT INTO search (search, rank) VALUES ('secure-delete', 1);
-- Segments are merged eight at a time, not four: each token is written
-- again fewer times as the index grows, and a search reads a few more
-- segments (docs/benchmarks.md, "Session 10").
INSERT INTO search (search, rank) VALUES ('automerge', 8);
INSERT INTO search (search) VALUES ('rebuild');
UPDATE rooms SET indexed_through = last_id;
