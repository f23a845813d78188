-- Search (issue 16): an FTS5 index of message text, kept in step with the
-- message rows in the same transaction as every insert (the writer's own
-- statement), edit, delete and room deletion (the triggers below). External content: the
-- index keeps no copy of the text; its rowid is the message's key,
-- room_id * 2^36 + id (entries has no rowid of its own), so one room's
-- messages are one rowid range, read newest first without sorting.
-- Messages beyond the key's range (ids from 2^36, rooms from 2^27) are not
-- indexed. The view is read only by 'rebuild', here, once.
CREATE VIEW search_source AS
    SELECT (room_id << 36) | id AS key, text FROM entries
    WHERE kind = 0 AND deleted = 0 AND id < 68719476736 AND room_id < 134217728;
CREATE VIRTUAL TABLE search USING fts5(
    text, content = 'search_source', content_rowid = 'key',
    tokenize = 'unicode61 remove_diacritics 2'
);
-- A removed text leaves no token behind in the index (as secure_delete
-- leaves no freed bytes in the file).
INSERT INTO search (search, rank) VALUES ('secure-delete', 1);
INSERT INTO search (search) VALUES ('rebuild');
-- A new message is indexed by the writer's own statement in the same
-- transaction (store/sqlite_search.rs, `index_message`), not by a trigger:
-- FTS5 flushes its pending terms at every savepoint, and each trigger's
-- statement is one, so a trigger wrote one index segment per message.
CREATE TRIGGER search_update AFTER UPDATE OF text, deleted ON entries
    WHEN old.kind = 0 AND old.id < 68719476736 AND old.room_id < 134217728
BEGIN
    INSERT INTO search (search, rowid, text)
        SELECT 'delete', (old.room_id << 36) | old.id, old.text WHERE old.deleted = 0;
    INSERT INTO search (rowid, text)
        SELECT (new.room_id << 36) | new.id, new.text WHERE new.deleted = 0;
END;
CREATE TRIGGER search_delete AFTER DELETE ON entries
    WHEN old.kind = 0 AND old.deleted = 0 AND old.id < 68719476736
        AND old.room_id < 134217728
BEGIN
    INSERT INTO search (search, rowid, text)
        VALUES ('delete', (old.room_id << 36) | old.id, old.text);
END;
