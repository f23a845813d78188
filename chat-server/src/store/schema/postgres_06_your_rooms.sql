-- 6: your rooms and read markers (see sqlite_06_your_rooms.sql). A new
-- table: no existing row is touched.
CREATE TABLE memberships (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    read_id BIGINT NOT NULL DEFAULT 0,
    listed BOOLEAN NOT NULL DEFAULT TRUE,
    PRIMARY KEY (account_id, room_id)
);
CREATE INDEX memberships_by_room ON memberships (room_id);
