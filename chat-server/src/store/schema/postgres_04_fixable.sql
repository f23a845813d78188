-- Fixable messages (issue 12): a message's row keeps its page state, so a
-- page never scans the room for edits, deletes or reactions. Columns with a
-- constant default rewrite no rows (PostgreSQL 11 and later).
ALTER TABLE entries ADD COLUMN target BIGINT,
    ADD COLUMN edited_ts BIGINT,
    ADD COLUMN edits BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT FALSE;
-- Finds a deleted message's edits, to erase their text too.
CREATE INDEX entries_target ON entries (room_id, target) WHERE target IS NOT NULL;
CREATE TABLE reactions (
    room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    target BIGINT NOT NULL,
    emoji TEXT NOT NULL,
    user_folded TEXT NOT NULL,
    user_name TEXT NOT NULL,
    id BIGINT NOT NULL,  -- the react entry: users are listed in this order
    PRIMARY KEY (room_id, target, emoji, user_folded)
);
