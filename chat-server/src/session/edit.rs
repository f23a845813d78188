//! `edit`: replaces the text of one's own message (the store checks the
//! author, the text changing and the edit limit); text rules as for
//! `message`.

use chat_proto::validate_text;

use super::entry::{Request, text_rule};
use super::reply::Refusal;
use crate::store::Change;

pub(super) fn parse(
    room: &str,
    target: u64,
    text: String,
    reference: Option<String>,
    echoed: Option<&str>,
) -> Result<Request, Refusal> {
    // The ref and the room are answered first, then the text.
    let text_checked = validate_text(&text);
    let request = Request::new(room, Change::Edit { target, text }, reference, echoed)?;
    text_rule(text_checked)?;
    Ok(request)
}
