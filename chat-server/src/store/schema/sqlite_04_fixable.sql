-- Fixable messages (issue 12): a message's row keeps its page state, so a
-- page never scans the room for edits, deletes or reactions. Every added
-- column has a constant default, so no row is rewritten.
ALTER TABLE entries ADD COLUMN target INTEGER;     -- edit/delete/react/unreact target; a message's reply_to
ALTER TABLE entries ADD COLUMN edited_ts INTEGER;  -- a message's latest edit
ALTER TABLE entries ADD COLUMN edits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE entries ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
-- Finds a deleted message's edits, to erase their text too.
CREATE INDEX entries_target ON entries (room_id, target) WHERE target IS NOT NULL;
CREATE TABLE reactions (
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    target INTEGER NOT NULL,
    emoji TEXT NOT NULL,
    user_folded TEXT NOT NULL,
    user TEXT NOT NULL,
    id INTEGER NOT NULL,  -- the react entry: users are listed in this order
    PRIMARY KEY (room_id, target, emoji, user_folded)
) WITHOUT ROWID;
