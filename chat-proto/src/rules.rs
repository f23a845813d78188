//! The protocol-2 content rules (topic, reason, emoji) and
//! [`ClientFrame::check_fields`], which applies every field rule of a
//! decoded frame and says which error code answers a breach.
//!
//! Which error: text, topic, reason or emoji outside its rules is
//! `invalid_text`; a room, user or subject name outside the name rules is
//! `invalid_name`; a `ref` over its length, a role outside the three or a
//! field of the wrong type is `bad_frame` (the last two fail in decoding).

use crate::conversation::RoomError;
use crate::frame::{ClientFrame, ErrorCode};
use crate::limits::{MAX_EMOJI_BYTES, MAX_REASON_BYTES, MAX_REF_CHARS, MAX_TOPIC_BYTES};
use crate::names::{NameError, RoomName, TextError, UserName, validate_ref, validate_text};
use crate::role::RoleError;

/// Why a reaction's emoji was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmojiError {
    #[error("emoji is empty")]
    Empty,
    #[error("emoji is {len} bytes, more than the {max} allowed")]
    TooLong { len: usize, max: usize },
    #[error("emoji may not contain {0:?}")]
    BadChar(char),
}

impl RoleError {
    /// A role outside the three is a malformed frame, not a bad name (and
    /// a frame's `role` field fails in decoding, as `bad_frame`).
    pub fn code(&self) -> ErrorCode {
        ErrorCode::BadFrame
    }
}

impl EmojiError {
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidText
    }
}

/// A topic: 0–500 bytes of UTF-8 (`""` clears it).
pub fn validate_topic(topic: &str) -> Result<(), TextError> {
    at_most(topic, MAX_TOPIC_BYTES)
}

/// A kick's or ban's reason: at most 500 bytes of UTF-8.
pub fn validate_reason(reason: &str) -> Result<(), TextError> {
    at_most(reason, MAX_REASON_BYTES)
}

fn at_most(text: &str, max: usize) -> Result<(), TextError> {
    if text.len() > max {
        return Err(TextError::TooLong {
            len: text.len(),
            max,
        });
    }
    Ok(())
}

/// A reaction: 1–32 bytes of UTF-8 with no whitespace or control
/// characters. Joiners and variation selectors (format characters) are
/// allowed, so skin tones, flags and ZWJ sequences fit.
pub fn validate_emoji(emoji: &str) -> Result<(), EmojiError> {
    if emoji.is_empty() {
        return Err(EmojiError::Empty);
    }
    if emoji.len() > MAX_EMOJI_BYTES {
        return Err(EmojiError::TooLong {
            len: emoji.len(),
            max: MAX_EMOJI_BYTES,
        });
    }
    match emoji.chars().find(|c| c.is_whitespace() || c.is_control()) {
        Some(bad) => Err(EmojiError::BadChar(bad)),
        None => Ok(()),
    }
}

/// A field of a well-formed frame that breaks its rule, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("ref is longer than {MAX_REF_CHARS} characters")]
    Ref,
    #[error("user name: {0}")]
    User(NameError),
    #[error("room name: {0}")]
    Room(RoomError),
    #[error("subject: {0}")]
    Subject(NameError),
    #[error("text: {0}")]
    Text(TextError),
    #[error("topic: {0}")]
    Topic(TextError),
    #[error("reason: {0}")]
    Reason(TextError),
    #[error("emoji: {0}")]
    Emoji(EmojiError),
}

impl FieldError {
    /// The error code that answers the frame.
    pub fn code(&self) -> ErrorCode {
        match self {
            FieldError::Ref => ErrorCode::BadFrame,
            FieldError::User(e) | FieldError::Subject(e) => e.code(),
            FieldError::Room(e) => e.code(),
            FieldError::Text(e) | FieldError::Topic(e) | FieldError::Reason(e) => e.code(),
            FieldError::Emoji(e) => e.code(),
        }
    }
}

impl ClientFrame {
    /// Checks every field rule of the frame as sent by the session `me`
    /// (whose name expands a `@bob` conversation), in the order the server
    /// answers them: `ref`, room, subject, then the content fields. Rules
    /// that need the server's state (membership, roles, accounts) are not
    /// here.
    pub fn check_fields(&self, me: &UserName) -> Result<(), FieldError> {
        if self.reference().is_some_and(|r| !validate_ref(r)) {
            return Err(FieldError::Ref);
        }
        if let Some(room) = self.room_field() {
            RoomName::parse_for(room, me).map_err(FieldError::Room)?;
        }
        if let Some(subject) = self.subject_field() {
            UserName::parse(subject).map_err(FieldError::Subject)?;
        }
        self.check_content()
    }

    fn check_content(&self) -> Result<(), FieldError> {
        match self {
            ClientFrame::Hello { user, .. } => {
                UserName::parse(user).map(drop).map_err(FieldError::User)
            }
            ClientFrame::Message { text, .. } | ClientFrame::Edit { text, .. } => {
                validate_text(text).map_err(FieldError::Text)
            }
            ClientFrame::React { emoji, .. } | ClientFrame::Unreact { emoji, .. } => {
                validate_emoji(emoji).map_err(FieldError::Emoji)
            }
            ClientFrame::Topic { topic, .. } => validate_topic(topic).map_err(FieldError::Topic),
            ClientFrame::Kick { reason, .. } | ClientFrame::Ban { reason, .. } => reason
                .as_deref()
                .map_or(Ok(()), validate_reason)
                .map_err(FieldError::Reason),
            _ => Ok(()),
        }
    }

    /// The room the frame is about, when it names one.
    pub fn room_field(&self) -> Option<&str> {
        match self {
            ClientFrame::Hello { .. } | ClientFrame::Rooms { .. } => None,
            ClientFrame::Search { room, .. } => room.as_deref(),
            ClientFrame::Join { room, .. }
            | ClientFrame::Message { room, .. }
            | ClientFrame::Leave { room }
            | ClientFrame::History { room, .. }
            | ClientFrame::Edit { room, .. }
            | ClientFrame::Delete { room, .. }
            | ClientFrame::React { room, .. }
            | ClientFrame::Unreact { room, .. }
            | ClientFrame::Topic { room, .. }
            | ClientFrame::Role { room, .. }
            | ClientFrame::Kick { room, .. }
            | ClientFrame::Ban { room, .. }
            | ClientFrame::Unban { room, .. }
            | ClientFrame::Invite { room, .. }
            | ClientFrame::Settings { room, .. }
            | ClientFrame::DeleteRoom { room, .. }
            | ClientFrame::Read { room, .. }
            | ClientFrame::Typing { room, .. } => Some(room),
        }
    }

    /// The user a moderation frame acts on.
    pub fn subject_field(&self) -> Option<&str> {
        match self {
            ClientFrame::Role { subject, .. }
            | ClientFrame::Kick { subject, .. }
            | ClientFrame::Ban { subject, .. }
            | ClientFrame::Unban { subject, .. }
            | ClientFrame::Invite { subject, .. } => Some(subject),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_client;
    use crate::conversation::ConversationError;
    use crate::role::Role;

    fn alice() -> UserName {
        UserName::parse("alice").unwrap()
    }

    fn checked(json: &str) -> Result<(), FieldError> {
        decode_client(json)
            .unwrap_or_else(|e| panic!("{json}: {e}"))
            .check_fields(&alice())
    }

    #[test]
    fn topics_are_0_to_500_bytes() {
        assert_eq!(validate_topic(""), Ok(()), "an empty topic clears it");
        assert_eq!(validate_topic("  "), Ok(()));
        assert_eq!(validate_topic(&"é".repeat(250)), Ok(()), "500 bytes");
        assert_eq!(
            validate_topic(&"a".repeat(501)),
            Err(TextError::TooLong { len: 501, max: 500 })
        );
    }

    #[test]
    fn reasons_are_at_most_500_bytes() {
        assert_eq!(validate_reason(""), Ok(()));
        assert_eq!(validate_reason(&"x".repeat(500)), Ok(()));
        let e = validate_reason(&"€".repeat(167)).unwrap_err(); // 501 bytes
        assert_eq!(e, TextError::TooLong { len: 501, max: 500 });
        assert_eq!(e.code(), ErrorCode::InvalidText);
    }

    #[test]
    fn emoji_are_1_to_32_bytes_without_whitespace_or_controls() {
        for ok in [
            "👍",
            "+1",
            "❤\u{fe0f}",
            "👍🏽",
            "👩\u{200d}👩\u{200d}👧\u{200d}👦",
            "🇵🇱",
            "1\u{fe0f}\u{20e3}",
        ] {
            assert_eq!(validate_emoji(ok), Ok(()), "{ok:?}");
        }
        assert_eq!(validate_emoji(""), Err(EmojiError::Empty));
        assert_eq!(validate_emoji(&"a".repeat(32)), Ok(()));
        assert_eq!(
            validate_emoji(&"👍".repeat(9)),
            Err(EmojiError::TooLong { len: 36, max: 32 })
        );
        assert_eq!(validate_emoji("👍 "), Err(EmojiError::BadChar(' ')));
        assert_eq!(validate_emoji("\u{a0}"), Err(EmojiError::BadChar('\u{a0}')));
        assert_eq!(validate_emoji("a\nb"), Err(EmojiError::BadChar('\n')));
        assert_eq!(
            validate_emoji("\u{1b}[31m"),
            Err(EmojiError::BadChar('\u{1b}'))
        );
        assert_eq!(EmojiError::Empty.code(), ErrorCode::InvalidText);
    }

    #[test]
    fn a_role_outside_the_three_is_bad_frame_in_decoding() {
        assert_eq!(RoleError("admin".into()).code(), ErrorCode::BadFrame);
        let e =
            decode_client(r#"{"type":"role","room":"r","subject":"bob","role":"admin","ref":"x"}"#)
                .unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadFrame);
        assert!(e.detail.contains("admin"), "{}", e.detail);
        assert_eq!(e.reference.as_deref(), Some("x"));
        let e =
            decode_client(r#"{"type":"role","room":"r","subject":"bob","role":7}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadFrame);
        assert!(matches!(
            decode_client(r#"{"type":"role","room":"r","subject":"bob","role":"owner"}"#),
            Ok(ClientFrame::Role {
                role: Role::Owner,
                ..
            })
        ));
    }

    #[test]
    fn a_field_of_the_wrong_type_is_bad_frame_in_decoding() {
        for json in [
            r#"{"type":"edit","room":"r","target":"122","text":"x"}"#,
            r#"{"type":"delete","room":"r","target":-1}"#,
            r#"{"type":"react","room":"r","target":1,"emoji":1}"#,
            r#"{"type":"settings","room":"r","private":"yes"}"#,
            r#"{"type":"settings","room":"r"}"#,
            r#"{"type":"message","room":"r","text":"x","reply_to":"122"}"#,
            r#"{"type":"message","room":"r","text":"x","action":1}"#,
            r#"{"type":"read","room":"r","id":1.5}"#,
            r#"{"type":"search","query":"x","before_ts":"yesterday"}"#,
            r#"{"type":"rooms","mine":"yes"}"#,
            r#"{"type":"topic","room":"r","topic":null}"#,
            r#"{"type":"kick","room":"r","subject":"bob","reason":5}"#,
        ] {
            let e = decode_client(json).unwrap_err();
            assert_eq!(e.code(), ErrorCode::BadFrame, "{json}: {}", e.detail);
        }
    }

    #[test]
    fn text_topic_reason_and_emoji_outside_their_rules_are_invalid_text() {
        let long = "a".repeat(501);
        for (json, expected) in [
            (
                r#"{"type":"message","room":"r","text":"  "}"#.to_owned(),
                FieldError::Text(TextError::Blank),
            ),
            (
                r#"{"type":"edit","room":"r","target":1,"text":""}"#.to_owned(),
                FieldError::Text(TextError::Blank),
            ),
            (
                format!(r#"{{"type":"topic","room":"r","topic":"{long}"}}"#),
                FieldError::Topic(TextError::TooLong { len: 501, max: 500 }),
            ),
            (
                format!(r#"{{"type":"ban","room":"r","subject":"bob","reason":"{long}"}}"#),
                FieldError::Reason(TextError::TooLong { len: 501, max: 500 }),
            ),
            (
                r#"{"type":"unreact","room":"r","target":1,"emoji":""}"#.to_owned(),
                FieldError::Emoji(EmojiError::Empty),
            ),
        ] {
            let e = checked(&json).unwrap_err();
            assert_eq!(e, expected, "{json}");
            assert_eq!(e.code(), ErrorCode::InvalidText, "{json}");
        }
    }

    #[test]
    fn bad_rooms_and_subjects_are_invalid_name_and_self_conversation_forbidden() {
        for (json, code) in [
            (
                r#"{"type":"typing","room":"no way"}"#,
                ErrorCode::InvalidName,
            ),
            (
                r#"{"type":"kick","room":"r","subject":"-bob"}"#,
                ErrorCode::InvalidName,
            ),
            (
                r#"{"type":"invite","room":"r","subject":""}"#,
                ErrorCode::InvalidName,
            ),
            (
                r##"{"type":"search","query":"x","room":"#r"}"##,
                ErrorCode::InvalidName,
            ),
            (
                r#"{"type":"message","room":"@a+b+c","text":"hi"}"#,
                ErrorCode::InvalidName,
            ),
            (
                r#"{"type":"message","room":"@Alice","text":"hi"}"#,
                ErrorCode::Forbidden,
            ),
            (
                r#"{"type":"hello","user":"al ice"}"#,
                ErrorCode::InvalidName,
            ),
        ] {
            let e = checked(json).unwrap_err();
            assert_eq!(e.code(), code, "{json}: {e}");
        }
        assert_eq!(
            checked(r#"{"type":"read","room":"@alice+alice","id":1}"#),
            Err(FieldError::Room(RoomError::Conversation(
                ConversationError::WithYourself
            )))
        );
    }

    #[test]
    fn the_ref_is_checked_first_and_is_bad_frame() {
        let json = format!(
            r#"{{"type":"topic","room":"no way","topic":"x","ref":"{}"}}"#,
            "r".repeat(65)
        );
        let e = checked(&json).unwrap_err();
        assert_eq!(e, FieldError::Ref);
        assert_eq!(e.code(), ErrorCode::BadFrame);
        // Then the room, before the content.
        let e = checked(r#"{"type":"edit","room":"no way","target":1,"text":""}"#).unwrap_err();
        assert!(matches!(e, FieldError::Room(_)), "{e:?}");
    }

    #[test]
    fn well_formed_requests_pass() {
        for json in [
            r#"{"type":"message","room":"Lobby","text":"yes","reply_to":122,"action":true}"#,
            r#"{"type":"message","room":"@bob","text":"psst"}"#,
            r#"{"type":"edit","room":"r","target":122,"text":"fixed"}"#,
            r#"{"type":"delete","room":"r","target":122}"#,
            r#"{"type":"react","room":"r","target":122,"emoji":"👍"}"#,
            r#"{"type":"topic","room":"r","topic":""}"#,
            r#"{"type":"role","room":"r","subject":"Bob","role":"op"}"#,
            r#"{"type":"kick","room":"r","subject":"bob"}"#,
            r#"{"type":"ban","room":"r","subject":"bob","reason":"spam"}"#,
            r#"{"type":"unban","room":"r","subject":"bob"}"#,
            r#"{"type":"invite","room":"r","subject":"carol"}"#,
            r#"{"type":"settings","room":"r","private":true}"#,
            r#"{"type":"delete_room","room":"r"}"#,
            r#"{"type":"read","room":"r","id":125}"#,
            r#"{"type":"typing","room":"r"}"#,
            r#"{"type":"search","query":"release notes","limit":50,"before_ts":1}"#,
            r#"{"type":"rooms","mine":true}"#,
            r#"{"type":"rooms","query":"ru","limit":100,"after":"rust"}"#,
            r#"{"type":"hello","user":"Alice"}"#,
        ] {
            assert_eq!(checked(json), Ok(()), "{json}");
        }
    }
}
