//! SQLite's side of remembered rooms and read markers: the writes the
//! writer thread runs in its batches (so a burst of `read`s shares one
//! transaction with whatever else is queued) and the reads the reader
//! thread serves. A join reads the membership with the room's state
//! (`sqlite_rooms::JOIN_STATE`).

use chat_proto::{RoomName, UserName};
use rusqlite::{Connection, OptionalExtension, params};

use super::batch::{Reply, Settle, answer};
use super::sqlite_rooms::folded;
use super::{MAX_MY_ROOMS, MyRoom, StoreError, StoredRoom};

/// Lists the room for the account, adding its row when missing.
const REMEMBER: &str = "INSERT INTO memberships (account_id, room_id, read_id, listed)
     SELECT a.id, r.id, 0, 1 FROM accounts a, rooms r
     WHERE a.name_folded = ?1 AND r.name = ?2
     ON CONFLICT (account_id, room_id) DO UPDATE SET listed = 1";

const FORGET: &str = "UPDATE memberships SET listed = 0
     WHERE account_id = (SELECT id FROM accounts WHERE name_folded = ?1)
       AND room_id = (SELECT id FROM rooms WHERE name = ?2)";

/// Forward only, and never past the room's newest id: no row back means
/// the marker did not move.
const MARK_READ: &str = "INSERT INTO memberships (account_id, room_id, read_id, listed)
     SELECT a.id, r.id, min(?3, r.last_id), 0 FROM accounts a, rooms r
     WHERE a.name_folded = ?1 AND r.name = ?2
     ON CONFLICT (account_id, room_id) DO UPDATE SET read_id = excluded.read_id
     WHERE excluded.read_id > memberships.read_id
     RETURNING read_id";

const MY_ROOMS: &str = "SELECT r.name, r.last_id, m.read_id, r.topic, r.private
     FROM memberships m JOIN rooms r ON r.id = m.room_id
     WHERE m.account_id = (SELECT id FROM accounts WHERE name_folded = ?1)
       AND m.listed = 1 AND r.deleted_at IS NULL
     ORDER BY r.name LIMIT ?2";

/// A remembered-rooms write, queued to the writer like any other.
pub(super) enum MineWrite {
    Remember(UserName, RoomName, Reply<()>),
    Forget(UserName, RoomName, Reply<()>),
    MarkRead(UserName, RoomName, u64, Reply<Option<u64>>),
}

impl MineWrite {
    /// Answers with `error` without running.
    pub(super) fn refuse(self, error: &StoreError) {
        // A caller that gave up waiting has dropped its receiver.
        match self {
            Self::Remember(_, _, reply) | Self::Forget(_, _, reply) => {
                drop(reply.send(Err(error.clone())));
            }
            Self::MarkRead(_, _, _, reply) => drop(reply.send(Err(error.clone()))),
        }
    }

    /// Runs in the batch's transaction; the answer waits for the commit.
    /// When the statement fails its caller hears why at once.
    pub(super) fn run(self, conn: &Connection) -> rusqlite::Result<Box<dyn Settle>> {
        fn held<T: Send + 'static>(
            reply: Reply<T>,
            result: rusqlite::Result<T>,
        ) -> rusqlite::Result<Box<dyn Settle>> {
            match result {
                Ok(value) => Ok(answer(reply, value)),
                Err(e) => {
                    let _ = reply.send(Err(StoreError::Database(e.to_string())));
                    Err(e)
                }
            }
        }
        let by_name = |sql: &str, user: &UserName, room: &RoomName| {
            conn.prepare_cached(sql)
                .and_then(|mut stmt| stmt.execute(params![user.folded().as_str(), room.as_str()]))
                .map(drop)
        };
        match self {
            Self::Remember(user, room, reply) => held(reply, by_name(REMEMBER, &user, &room)),
            Self::Forget(user, room, reply) => held(reply, by_name(FORGET, &user, &room)),
            Self::MarkRead(user, room, id, reply) => {
                let moved = conn.prepare_cached(MARK_READ).and_then(|mut stmt| {
                    stmt.query_row(
                        params![user.folded().as_str(), room.as_str(), clamp(id)],
                        |row| row.get::<_, u64>(0),
                    )
                    .optional()
                });
                // A row made just now at 0 did not move either.
                held(reply, moved.map(|id| id.filter(|id| *id > 0)))
            }
        }
    }
}

/// SQLite integers are signed: an id past them reads as the largest.
fn clamp(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// The kick's or ban's effect: the room leaves the subject's list.
pub(super) fn unlist(conn: &Connection, room_id: i64, name: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE memberships SET listed = 0 WHERE room_id = ?1
         AND account_id = (SELECT id FROM accounts WHERE name_folded = ?2)",
    )?
    .execute(params![room_id, folded(name)])
    .map(drop)
}

/// The user's remembered rooms (on the reader thread).
pub(super) fn my_rooms(conn: &Connection, user: &UserName) -> rusqlite::Result<Vec<MyRoom>> {
    let mut stmt = conn.prepare_cached(MY_ROOMS)?;
    let rows = stmt.query_map(params![user.folded().as_str(), MAX_MY_ROOMS], |row| {
        Ok(MyRoom {
            room: StoredRoom {
                name: row.get(0)?,
                last_id: row.get(1)?,
                topic: row.get(3)?,
                private: row.get(4)?,
            },
            read_id: row.get(2)?,
        })
    })?;
    rows.collect()
}
