//! `settings`: makes a room private or public (owner and admins). Making
//! it private puts the registered users in it on its access list.

use super::entry::Request;
use super::reply::Refusal;
use crate::store::Change;

pub(super) fn parse(
    room: &str,
    private: bool,
    reference: Option<String>,
    echoed: Option<&str>,
) -> Result<Request, Refusal> {
    Request::new(room, Change::Settings { private }, reference, echoed)
}
