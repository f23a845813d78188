-- Search (issue 16): an FTS5 index of message text, kept in step with the
-- message rows by the triggers below, so every insert, edit, delete and
-- room deletion changes it in the same transaction. External content: the
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
CREATE TRIGGER search_insert AFTER INSERT ON entries
    WHEN new.kind = 0 AND new.deleted = 0 AND new.id < 68719476736
        AND new.room_id < 134217728
BEGIN
    INSERT INTO search (rowid, text) VALUES ((new.room_id << 36) | new.id, new.text);
END;
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
