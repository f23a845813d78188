//! `kick`: puts a user's every connection out of the room (owner and ops,
//! on those they outrank); they may come back unless banned or the room
//! is private.

use chat_proto::validate_reason;

use super::entry::{Request, subject_name, text_rule};
use super::reply::Refusal;
use crate::store::Change;

pub(super) fn parse(
    room: &str,
    subject: &str,
    reason: Option<String>,
    reference: Option<String>,
    echoed: Option<&str>,
) -> Result<Request, Refusal> {
    let subject = subject_name(subject)?;
    if let Some(reason) = &reason {
        text_rule(validate_reason(reason))?;
    }
    Request::new(room, Change::Kick { subject, reason }, reference, echoed)
}
