//! Numeric limits of protocol version 1, named once so server, client and
//! tests agree on them.

/// The protocol version announced in `welcome`.
pub const PROTOCOL_VERSION: u32 = 1;
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

/// Clamps a client's requested page size into `1..=MAX_HISTORY_LIMIT`.
pub fn clamp_history_limit(requested: Option<u32>) -> u32 {
    requested
        .unwrap_or(DEFAULT_HISTORY_LIMIT)
        .clamp(1, MAX_HISTORY_LIMIT)
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
}
