//! `unban`: lifts a ban (owner and ops).

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
    Request::new(room, Change::Unban { subject }, reference, echoed)
}
