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
