//! PostgreSQL's side of remembered rooms and read markers: each is one
//! statement on a pooled connection (atomic on its own, so no writer
//! queue is needed). A join reads the membership with the room's state
//! (`postgres_rooms::JOIN_STATE`).

use chat_proto::{RoomName, UserName};
use tokio_postgres::GenericClient;

use super::page::{from_sql_id, to_sql_id};
use super::sqlite_rooms::folded;
use super::{MAX_MY_ROOMS, MyRoom, StoreError, StoredRoom};

/// Lists the room for the account, adding its row when missing.
pub(super) const REMEMBER: &str = "INSERT INTO memberships (account_id, room_id, read_id, listed)
     SELECT a.id, r.id, 0, TRUE FROM accounts a, rooms r
     WHERE a.name_folded = $1 AND r.name = $2
     ON CONFLICT (account_id, room_id) DO UPDATE SET listed = TRUE";

pub(super) const FORGET: &str = "UPDATE memberships SET listed = FALSE
     WHERE account_id = (SELECT id FROM accounts WHERE name_folded = $1)
       AND room_id = (SELECT id FROM rooms WHERE name = $2)";

/// Forward only, and never past the room's newest id: no row back means
/// the marker did not move.
const MARK_READ: &str = "INSERT INTO memberships (account_id, room_id, read_id, listed)
     SELECT a.id, r.id, LEAST($3, r.last_id), FALSE FROM accounts a, rooms r
     WHERE a.name_folded = $1 AND r.name = $2
     ON CONFLICT (account_id, room_id) DO UPDATE SET read_id = excluded.read_id
     WHERE excluded.read_id > memberships.read_id
     RETURNING read_id";

const MY_ROOMS: &str = "SELECT r.name, r.last_id, m.read_id, r.topic, r.private
     FROM memberships m JOIN rooms r ON r.id = m.room_id
     WHERE m.account_id = (SELECT id FROM accounts WHERE name_folded = $1)
       AND m.listed AND r.deleted_at IS NULL
     ORDER BY r.name COLLATE \"C\" LIMIT $2";

fn db(e: tokio_postgres::Error) -> StoreError {
    StoreError::Database(super::postgres::describe(&e))
}

/// Runs [`REMEMBER`] or [`FORGET`] for the user and room.
pub(super) async fn by_name(
    client: &impl GenericClient,
    sql: &str,
    user: &UserName,
    room: &RoomName,
) -> Result<(), StoreError> {
    client
        .execute(sql, &[&user.folded().as_str(), &room.as_str()])
        .await
        .map(drop)
        .map_err(db)
}

pub(super) async fn mark_read(
    client: &impl GenericClient,
    user: &UserName,
    room: &RoomName,
    id: u64,
) -> Result<Option<u64>, StoreError> {
    let row = client
        .query_opt(
            MARK_READ,
            &[&user.folded().as_str(), &room.as_str(), &to_sql_id(id)],
        )
        .await
        .map_err(db)?;
    let Some(row) = row else { return Ok(None) };
    let read_id = from_sql_id(row.try_get(0).map_err(db)?);
    // A row made just now at 0 did not move either.
    Ok((read_id > 0).then_some(read_id))
}

pub(super) async fn my_rooms(
    client: &impl GenericClient,
    user: &UserName,
) -> Result<Vec<MyRoom>, StoreError> {
    let rows = client
        .query(
            MY_ROOMS,
            &[&user.folded().as_str(), &i64::from(MAX_MY_ROOMS)],
        )
        .await
        .map_err(db)?;
    rows.iter()
        .map(|row| {
            Ok(MyRoom {
                room: StoredRoom {
                    name: row.try_get(0).map_err(db)?,
                    last_id: from_sql_id(row.try_get(1).map_err(db)?),
                    topic: String::from_utf8_lossy(&row.try_get::<_, Vec<u8>>(3).map_err(db)?)
                        .into_owned(),
                    private: row.try_get(4).map_err(db)?,
                },
                read_id: from_sql_id(row.try_get(2).map_err(db)?),
            })
        })
        .collect()
}

/// The kick's or ban's effect: the room leaves the subject's list.
pub(super) async fn unlist(
    client: &impl GenericClient,
    room_id: i64,
    name: &str,
) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE memberships SET listed = FALSE WHERE room_id = $1
             AND account_id = (SELECT id FROM accounts WHERE name_folded = $2)",
            &[&room_id, &folded(name)],
        )
        .await
        .map(drop)
        .map_err(db)
}
