//! `delete`: deletes a message and erases its text from the store (its
//! author, or someone who outranks the author in the room: ops on
//! members, the owner on anyone but an admin, admins on anyone).

use super::entry::Request;
use super::reply::Refusal;
use crate::store::Change;

pub(super) fn parse(
    room: &str,
    target: u64,
    reference: Option<String>,
    echoed: Option<&str>,
) -> Result<Request, Refusal> {
    Request::new(room, Change::Delete { target }, reference, echoed)
}
