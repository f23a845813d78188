-- 6: conversations. Each entry of a conversation remembers the room for
-- both of its users (store/rules.rs, `Effect::RememberRoom`), so it is in
-- their rooms from its first message on. One row per user and room, keyed
-- by the user's folded name; a room's rows go with the room.
CREATE TABLE remembered_rooms (
    name_folded TEXT NOT NULL,
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    PRIMARY KEY (name_folded, room_id)
) WITHOUT ROWID;
