//! `ban`: a kick that also refuses the name's later joins until `unban`.
//! Bans are by name and need no account.

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
    Request::new(room, Change::Ban { subject, reason }, reference, echoed)
}
