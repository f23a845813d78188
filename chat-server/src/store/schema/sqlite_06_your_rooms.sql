-- 6: your rooms and read markers (protocol 2, "Your rooms, read markers,
-- typing"). One row per account and room it joined or read: `listed` says
-- the room is in `rooms mine` (a leave, kick or ban clears it and keeps
-- the marker); `read_id` only moves forward. Rows go with their account
-- or room. A new table: no existing row is touched.
CREATE TABLE memberships (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    read_id INTEGER NOT NULL DEFAULT 0,
    listed INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (account_id, room_id)
) WITHOUT ROWID;
CREATE INDEX memberships_by_room ON memberships (room_id);
