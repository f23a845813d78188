//! The receive fast path: recognising server frames by cheap byte checks
//! instead of a JSON parse, and the bench's message text that carries its
//! own send timestamp.
//!
//! A full `decode_server` per delivered frame caps one client near 200k
//! frames/s, and the bench shares its cores with the server it measures.
//! `chat-proto` encodes frames with serde, which writes an internally tagged
//! enum's `type` first, so a `message` frame always starts with
//! [`MESSAGE_PREFIX`]. Anything the fast path does not recognise goes to the
//! full decoder, so a server that encodes differently is still measured
//! correctly, only more slowly.

use std::sync::LazyLock;

use memchr::memmem::Finder;

/// Every `message` frame `chat-proto` encodes starts with these bytes.
const MESSAGE_PREFIX: &str = r#"{"type":"message","#;
const JOIN_PREFIX: &str = r#"{"type":"join","#;
const LEAVE_PREFIX: &str = r#"{"type":"leave","#;
const JOINED_PREFIX: &str = r#"{"type":"joined","#;
/// Inside a JSON string a quote is escaped, so these bytes can only be the
/// `ref` field itself, which the server puts on the sender's copy alone.
const REF_FIELD: &str = r#""ref":""#;
/// The start of a bench text inside a frame (see [`bench_text`]).
const STAMP_FIELD: &str = r#""text":"b:"#;

// Searchers built once: building one per frame shows in a profile.
static REF_FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(REF_FIELD));
static STAMP_FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(STAMP_FIELD));

/// What a server frame is, as far as the hot path needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A chat `message`: a delivery.
    Message,
    /// A `join` or `leave` presence notice.
    Presence,
    /// A `joined` reply.
    Joined,
    /// Anything else (`error`, `welcome`, `history`, `rooms`, or a frame
    /// the fast path cannot place): worth a full decode.
    Other,
}

/// Places a frame by its first bytes.
pub fn classify(frame: &str) -> FrameKind {
    if frame.starts_with(MESSAGE_PREFIX) {
        FrameKind::Message
    } else if frame.starts_with(JOINED_PREFIX) {
        FrameKind::Joined
    } else if frame.starts_with(JOIN_PREFIX) || frame.starts_with(LEAVE_PREFIX) {
        FrameKind::Presence
    } else {
        FrameKind::Other
    }
}

/// Whether a `message` frame is the sender's own copy (its acknowledgement).
pub fn is_own_copy(frame: &str) -> bool {
    REF_FINDER.find(frame.as_bytes()).is_some()
}

/// What a bench message says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The sending connection's index in the run.
    pub sender: u32,
    /// The sender's sequence number, also used as the message `ref`.
    pub seq: u64,
    /// When it was sent, in nanoseconds since the run's start.
    pub sent_nanos: u64,
}

/// The text of a bench message: `b:<sender>:<seq>:<nanos>`, then `:` and
/// `pad` filler bytes when a larger message is wanted.
pub fn bench_text(stamp: Stamp, pad: usize) -> String {
    let mut text = format!("b:{}:{}:{}", stamp.sender, stamp.seq, stamp.sent_nanos);
    if pad > 0 {
        text.push(':');
        text.extend(std::iter::repeat_n('x', pad));
    }
    text
}

/// Finds the bench stamp in an encoded `message` frame without parsing it.
pub fn find_stamp(frame: &str) -> Option<Stamp> {
    let start = STAMP_FINDER.find(frame.as_bytes())? + STAMP_FIELD.len();
    let mut rest = &frame.as_bytes()[start..];
    let sender = take_number(&mut rest, b':')?;
    let seq = take_number(&mut rest, b':')?;
    let sent_nanos = take_number_end(&mut rest)?;
    Some(Stamp {
        sender: u32::try_from(sender).ok()?,
        seq,
        sent_nanos,
    })
}

/// Reads decimal digits up to `separator`, consuming both.
fn take_number(rest: &mut &[u8], separator: u8) -> Option<u64> {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || rest.get(digits) != Some(&separator) {
        return None;
    }
    let value = parse_digits(&rest[..digits])?;
    *rest = &rest[digits + 1..];
    Some(value)
}

/// Reads the last number of a stamp, which ends the text (`"`) or comes
/// before the padding (`:`).
fn take_number_end(rest: &mut &[u8]) -> Option<u64> {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || !matches!(rest.get(digits), Some(b'"' | b':')) {
        return None;
    }
    let value = parse_digits(&rest[..digits])?;
    *rest = &rest[digits..];
    Some(value)
}

fn parse_digits(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_proto::{ErrorCode, Message, ServerFrame, encode};

    fn message_frame(text: &str, reference: Option<&str>) -> String {
        encode(&ServerFrame::Message(Message {
            room: "r-1".into(),
            id: 9,
            user: "b1234-7".into(),
            text: text.into(),
            ts: 1_763_719_201_000,
            reference: reference.map(str::to_owned),
            ..Default::default()
        }))
    }

    #[test]
    fn classify_agrees_with_the_encoder() {
        let stamp = Stamp {
            sender: 7,
            seq: 3,
            sent_nanos: 123_456_789,
        };
        assert_eq!(
            classify(&message_frame(&bench_text(stamp, 0), None)),
            FrameKind::Message
        );
        let join = encode(&ServerFrame::Join {
            room: "r".into(),
            user: "u".into(),
            ts: 1,
        });
        let leave = encode(&ServerFrame::Leave {
            room: "r".into(),
            user: "u".into(),
            ts: 1,
        });
        let joined = encode(&ServerFrame::Joined {
            room: "r".into(),
            members: vec!["u".into()],
            history: vec![],
            more: false,
            last_id: 0,
            details: None,
        });
        let error = encode(&ServerFrame::error(ErrorCode::RateLimited, "slow", None));
        assert_eq!(classify(&join), FrameKind::Presence);
        assert_eq!(classify(&leave), FrameKind::Presence);
        assert_eq!(classify(&joined), FrameKind::Joined);
        assert_eq!(classify(&error), FrameKind::Other);
        // Same type, other field order: not the fast path, but never misplaced.
        assert_eq!(
            classify(r#"{"room":"r","type":"message"}"#),
            FrameKind::Other
        );
    }

    #[test]
    fn own_copy_is_told_by_its_ref() {
        let text = bench_text(
            Stamp {
                sender: 1,
                seq: 2,
                sent_nanos: 3,
            },
            0,
        );
        assert!(is_own_copy(&message_frame(&text, Some("2"))));
        assert!(!is_own_copy(&message_frame(&text, None)));
        // A text that spells the field is escaped on the wire.
        assert!(!is_own_copy(&message_frame(r#"x "ref":"y"#, None)));
    }

    #[test]
    fn stamps_roundtrip_through_an_encoded_frame() {
        for (stamp, pad) in [
            (
                Stamp {
                    sender: 0,
                    seq: 1,
                    sent_nanos: 0,
                },
                0,
            ),
            (
                Stamp {
                    sender: 4_000_000_000,
                    seq: u64::MAX,
                    sent_nanos: 987_654_321_012,
                },
                100,
            ),
        ] {
            let frame = message_frame(&bench_text(stamp, pad), Some("1"));
            assert_eq!(find_stamp(&frame), Some(stamp), "{frame}");
        }
    }

    #[test]
    fn foreign_texts_have_no_stamp() {
        for text in [
            "hello", "b:", "b:1:2", "b:1:2:", "b:x:2:3", "b:1:2:3x", "a:1:2:3",
        ] {
            assert_eq!(find_stamp(&message_frame(text, None)), None, "{text}");
        }
        assert_eq!(
            find_stamp(&message_frame("b:1:2:99999999999999999999999", None)),
            None
        );
    }
}
