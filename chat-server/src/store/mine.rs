//! What both stores share of a user's remembered rooms and read markers
//! (protocol 2's "Your rooms"): the row `rooms mine` lists and its cap.
//! Each backend's SQL for them is in `sqlite_mine` and `postgres_mine`.

use super::StoredRoom;

/// The most rooms `rooms mine` lists for one account; the rest are left
/// out (name order), so one answer stays one frame.
pub const MAX_MY_ROOMS: u32 = 1_000;

/// One of a user's remembered rooms with where the user stopped reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyRoom {
    pub room: StoredRoom,
    pub read_id: u64,
}
