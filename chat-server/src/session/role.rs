//! `role`: makes a registered user an op or a member, or hands the room
//! over (`owner`; the old owner becomes an op). Owner and admins only.

use chat_proto::Role;

use super::entry::{Request, subject_name};
use super::reply::Refusal;
use crate::store::Change;

pub(super) fn parse(
    room: &str,
    subject: &str,
    role: Role,
    reference: Option<String>,
    echoed: Option<&str>,
) -> Result<Request, Refusal> {
    let subject = subject_name(subject)?;
    Request::new(room, Change::Role { subject, role }, reference, echoed)
}
