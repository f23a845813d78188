//! Numeric limits of the protocol (versions 1 and 2), named once so server,
//! client and tests agree on them.

/// The protocol version the server announces in `welcome` today: protocol
/// 2, served in parts (`docs/protocol.md` says which requests so far).
pub const PROTOCOL_VERSION: u32 = PROTOCOL_2;
/// Protocol 2: the room stream, owned rooms, fixable messages,
/// conversations, search. Its wire types are all in this crate.
pub const PROTOCOL_2: u32 = 2;
/// The largest frame the server accepts; larger ones close with 1009.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Message text, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 4000;
/// User names, in characters.
pub const MAX_USER_CHARS: usize = 32;
/// Room names, in characters.
pub const MAX_ROOM_CHARS: usize = 64;
/// A client's `ref`, in characters.
pub const MAX_REF_CHARS: usize = 64;
/// Messages in `joined` and `history` when the client gives no `limit`.
pub const DEFAULT_HISTORY_LIMIT: u32 = 50;
/// The most messages one `joined` or `history` frame carries; larger
/// requested limits are clamped to it.
pub const MAX_HISTORY_LIMIT: u32 = 500;

/// A reaction's `emoji`, in bytes of UTF-8 (at least one).
pub const MAX_EMOJI_BYTES: usize = 32;
/// Edits one message may have; the next is `forbidden` (delete and post
/// again instead). Bounds what one author can make every reader re-apply.
pub const MAX_EDITS_PER_MESSAGE: u32 = 100;
/// Distinct emoji one message may carry; a `react` with a new emoji past
/// this is `forbidden` (more users on an emoji already there are fine).
pub const MAX_EMOJI_PER_MESSAGE: u32 = 20;
/// A room's topic, in bytes of UTF-8 (`""` clears it).
pub const MAX_TOPIC_BYTES: usize = 500;
/// The optional `reason` of a kick or ban, in bytes of UTF-8.
pub const MAX_REASON_BYTES: usize = 500;
/// Search results in one answer when the client gives no `limit`.
pub const DEFAULT_SEARCH_LIMIT: u32 = 50;
/// The most search results one answer carries.
pub const MAX_SEARCH_LIMIT: u32 = 200;
/// Rooms in one `rooms` page when the client gives no `limit`.
pub const DEFAULT_ROOMS_LIMIT: u32 = 100;
/// The most rooms one `rooms` page carries.
pub const MAX_ROOMS_LIMIT: u32 = 500;
/// The server relays at most one `typing` per user and room this often.
pub const TYPING_RELAY_INTERVAL_MS: u64 = 2_000;
/// How long a client shows "is typing" unless it is renewed.
pub const TYPING_SHOWN_MS: u64 = 6_000;

/// Clamps a client's requested page size into `1..=MAX_HISTORY_LIMIT`.
pub fn clamp_history_limit(requested: Option<u32>) -> u32 {
    clamp_limit(requested, DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT)
}

/// Clamps a `search` request's `limit` into `1..=MAX_SEARCH_LIMIT`.
pub fn clamp_search_limit(requested: Option<u32>) -> u32 {
    clamp_limit(requested, DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT)
}

/// Clamps a `rooms` request's `limit` into `1..=MAX_ROOMS_LIMIT`.
pub fn clamp_rooms_limit(requested: Option<u32>) -> u32 {
    clamp_limit(requested, DEFAULT_ROOMS_LIMIT, MAX_ROOMS_LIMIT)
}

fn clamp_limit(requested: Option<u32>, default: u32, max: u32) -> u32 {
    requested.unwrap_or(default).clamp(1, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_limit_defaults_and_clamps() {
        assert_eq!(clamp_history_limit(None), 50);
        assert_eq!(clamp_history_limit(Some(0)), 1);
        assert_eq!(clamp_history_limit(Some(20)), 20);
        assert_eq!(clamp_history_limit(Some(10_000)), 500);
    }

    #[test]
    fn search_and_rooms_limits_default_and_clamp() {
        assert_eq!(clamp_search_limit(None), 50);
        assert_eq!(clamp_search_limit(Some(0)), 1);
        assert_eq!(clamp_search_limit(Some(150)), 150);
        assert_eq!(clamp_search_limit(Some(201)), 200);
        assert_eq!(clamp_rooms_limit(None), 100);
        assert_eq!(clamp_rooms_limit(Some(0)), 1);
        assert_eq!(clamp_rooms_limit(Some(499)), 499);
        assert_eq!(clamp_rooms_limit(Some(u32::MAX)), 500);
    }
}
