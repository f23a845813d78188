//! `delete_room`: erases a room's entries and state (owner and admins);
//! everyone in it gets `room_deleted` and is out of it.

use super::entry::Request;
use super::reply::Refusal;
use crate::store::Change;

pub(super) fn parse(
    room: &str,
    reference: Option<String>,
    echoed: Option<&str>,
) -> Result<Request, Refusal> {
    Request::new(room, Change::DeleteRoom, reference, echoed)
}
