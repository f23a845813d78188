-- 8: search indexed off the commit path. A message is no longer indexed
-- in the transaction that stores it: the writer indexes a room's new
-- messages in batches (store/sqlite_search.rs, `SearchBacklog`), and each
-- room records the newest id whose messages the index holds. Every
-- message at or below the mark is in the index; those above it are
-- indexed, as they read then, by the next batch. The triggers that keep
-- edits and deletes in step touch only messages at or below the mark:
-- one above it is not in the index yet, and takes its current text there.
ALTER TABLE rooms ADD COLUMN indexed_through INTEGER NOT NULL DEFAULT 0;
-- Schema 7 indexed every message as it was stored.
UPDATE rooms SET indexed_through = last_id;
DROP TRIGGER search_update;
DROP TRIGGER search_delete;
CREATE TRIGGER search_update AFTER UPDATE OF text, deleted ON entries
    WHEN old.kind = 0 AND old.id < 68719476736 AND old.room_id < 134217728
        AND old.id <= (SELECT indexed_through FROM rooms WHERE id = old.room_id)
BEGIN
    INSERT INTO search (search, rowid, text)
        SELECT 'delete', (old.room_id << 36) | old.id, old.text WHERE old.deleted = 0;
    INSERT INTO search (rowid, text)
        SELECT (new.room_id << 36) | new.id, new.text WHERE new.deleted = 0;
END;
CREATE TRIGGER search_delete AFTER DELETE ON entries
    WHEN old.kind = 0 AND old.deleted = 0 AND old.id < 68719476736
        AND old.room_id < 134217728
        AND old.id <= (SELECT indexed_through FROM rooms WHERE id = old.room_id)
BEGIN
    INSERT INTO search (search, rowid, text)
        VALUES ('delete', (old.room_id << 36) | old.id, old.text);
END;
