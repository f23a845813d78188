//! `topic`: sets a room's topic (owner and ops; `""` clears it).

use chat_proto::validate_topic;

use super::entry::{Request, text_rule};
use super::reply::Refusal;
use crate::store::Change;

pub(super) fn parse(
    room: &str,
    topic: String,
    reference: Option<String>,
    echoed: Option<&str>,
) -> Result<Request, Refusal> {
    let request = Request::new(
        room,
        Change::Topic {
            topic: String::new(),
        },
        reference,
        echoed,
    )?;
    text_rule(validate_topic(&topic))?;
    Ok(Request {
        change: Change::Topic { topic },
        ..request
    })
}
