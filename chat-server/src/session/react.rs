//! `react` and `unreact`: adds or takes back the session's reaction with
//! one emoji on a message (the store says `unchanged` when that would
//! change nothing, and caps the distinct emoji per message).

use chat_proto::validate_emoji;

use super::entry::{Request, text_rule};
use super::reply::Refusal;
use crate::store::Change;

/// `adding`: a `react`; otherwise an `unreact`.
pub(super) fn parse(
    room: &str,
    target: u64,
    emoji: String,
    adding: bool,
    reference: Option<String>,
    echoed: Option<&str>,
) -> Result<Request, Refusal> {
    // The ref and the room are answered first, then the emoji.
    let emoji_checked = validate_emoji(&emoji);
    let change = if adding {
        Change::React { target, emoji }
    } else {
        Change::Unreact { target, emoji }
    };
    let request = Request::new(room, change, reference, echoed)?;
    text_rule(emoji_checked)?;
    Ok(request)
}
