//! `invite`: puts a registered user on a room's access list (owner and
//! ops); in a public room it is a notice.

use super::entry::{Request, subject_name};
use super::reply::Refusal;
use crate::store::Change;

pub(super) fn parse(
    room: &str,
    subject: &str,
    reference: Option<String>,
    echoed: Option<&str>,
) -> Result<Request, Refusal> {
    let subject = subject_name(subject)?;
    Request::new(room, Change::Invite { subject }, reference, echoed)
}
