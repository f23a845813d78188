//! The rules for user names, room names, message text and client `ref`s,
//! and the folding that makes user names unique regardless of case.
//!
//! [`UserName`] and [`RoomName`] can only be built through their `parse`
//! functions (or, for a conversation's room, from a
//! [`crate::ConversationName`]), so holding one proves it follows the rules
//! (and, for rooms, that it is already folded to lower case).

use std::borrow::Borrow;
use std::fmt;

use crate::frame::ErrorCode;
use crate::limits::{MAX_REF_CHARS, MAX_ROOM_CHARS, MAX_TEXT_BYTES, MAX_USER_CHARS};

/// Why a user or room name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is empty")]
    Empty,
    #[error("name is longer than {max} characters")]
    TooLong { max: usize },
    #[error("name may not start with {0:?}")]
    BadFirst(char),
    #[error("name may not contain {0:?}")]
    BadChar(char),
}

/// Why a message text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("text is empty or only whitespace")]
    Blank,
    #[error("text is {len} bytes, more than the {max} allowed")]
    TooLong { len: usize, max: usize },
}

impl NameError {
    /// A name outside the rules is answered with `invalid_name`.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidName
    }
}

impl TextError {
    /// Text (message, topic, reason) outside its rules is `invalid_text`.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidText
    }
}

/// A valid user name: 1–32 chars of `A-Z a-z 0-9 _ . -`, first a letter, digit or `_`.
///
/// Equality, ordering and hashing follow the spelling (`Alice` ≠ `alice`),
/// so a name shows as it was written. Protocol 2 makes names unique
/// regardless of case: compare and key by [`UserName::folded`] wherever
/// "the same name" is meant (accounts, guests, bans, conversations).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

/// A user name folded to lower case: the key under which `Alice`, `ALICE`
/// and `alice` are one name. It keeps no spelling; keep the [`UserName`]
/// beside it to show the name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FoldedName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let mut chars = raw.chars();
        let first = chars.next().ok_or(NameError::Empty)?;
        if !(first.is_ascii_alphanumeric() || first == '_') {
            return Err(NameError::BadFirst(first));
        }
        if let Some(bad) =
            chars.find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(NameError::BadChar(bad));
        }
        // All characters are ASCII by now, so bytes equal characters.
        if raw.len() > MAX_USER_CHARS {
            return Err(NameError::TooLong {
                max: MAX_USER_CHARS,
            });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The case-insensitive key of this name.
    pub fn folded(&self) -> FoldedName {
        // User names are ASCII, so ASCII folding is complete.
        FoldedName(self.0.to_ascii_lowercase())
    }

    /// Whether both are the same name regardless of case.
    pub fn same_name(&self, other: &UserName) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl FoldedName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl From<&UserName> for FoldedName {
    fn from(name: &UserName) -> Self {
        name.folded()
    }
}

/// A valid room name, folded to lower case: 1–64 chars of `a-z 0-9 _ . -`,
/// or (protocol 2) a conversation's canonical name such as `@alice+bob`,
/// built only from a [`crate::ConversationName`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(String);

impl RoomName {
    /// Validates a room name as a client sent it, folding ASCII upper case
    /// to lower case first.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        if raw.is_empty() {
            return Err(NameError::Empty);
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(NameError::BadChar(bad));
        }
        if raw.len() > MAX_ROOM_CHARS {
            return Err(NameError::TooLong {
                max: MAX_ROOM_CHARS,
            });
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// Whether this is a conversation's room (`@alice+bob`).
    pub fn is_conversation(&self) -> bool {
        self.0.starts_with('@')
    }

    /// Wraps a conversation's canonical name, checked by its builder.
    pub(crate) fn from_conversation(canonical: String) -> Self {
        Self(canonical)
    }
}

// The names hash and compare as their inner string, so maps keyed by them
// can be probed with a plain `&str`.
impl Borrow<str> for FoldedName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FoldedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// Both names hash and compare as their inner string, so maps keyed by them
// can be probed with a plain `&str`.
impl Borrow<str> for UserName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for RoomName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Message text: 1–4000 bytes of UTF-8, not all whitespace.
pub fn validate_text(text: &str) -> Result<(), TextError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(TextError::TooLong {
            len: text.len(),
            max: MAX_TEXT_BYTES,
        });
    }
    if text.trim().is_empty() {
        return Err(TextError::Blank);
    }
    Ok(())
}

/// A client `ref`: at most 64 characters. Returns false when it is too long.
pub fn validate_ref(reference: &str) -> bool {
    reference.chars().count() <= MAX_REF_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_follow_the_rules() {
        for ok in ["alice", "A", "_bot", "9lives", "a.b-c_d", &"x".repeat(32)] {
            assert_eq!(UserName::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(UserName::parse(""), Err(NameError::Empty));
        assert_eq!(UserName::parse(".alice"), Err(NameError::BadFirst('.')));
        assert_eq!(UserName::parse("-alice"), Err(NameError::BadFirst('-')));
        assert_eq!(UserName::parse("al ice"), Err(NameError::BadChar(' ')));
        assert_eq!(UserName::parse("alicé"), Err(NameError::BadChar('é')));
        assert_eq!(
            UserName::parse(&"x".repeat(33)),
            Err(NameError::TooLong { max: 32 })
        );
    }

    #[test]
    fn room_names_fold_to_lower_case() {
        assert_eq!(RoomName::parse("Lobby").unwrap().as_str(), "lobby");
        assert_eq!(
            RoomName::parse(".hidden-room_2").unwrap().as_str(),
            ".hidden-room_2"
        );
        assert_eq!(RoomName::parse(&"r".repeat(64)).unwrap().as_str().len(), 64);
        assert_eq!(RoomName::parse(""), Err(NameError::Empty));
        assert_eq!(RoomName::parse("a b"), Err(NameError::BadChar(' ')));
        assert_eq!(RoomName::parse("#room"), Err(NameError::BadChar('#')));
        assert_eq!(
            RoomName::parse(&"r".repeat(65)),
            Err(NameError::TooLong { max: 64 })
        );
    }

    #[test]
    fn text_rules() {
        assert!(validate_text("hi").is_ok());
        assert!(validate_text(" x ").is_ok());
        assert!(validate_text(&"é".repeat(2000)).is_ok()); // 4000 bytes exactly
        assert_eq!(validate_text(""), Err(TextError::Blank));
        assert_eq!(validate_text(" \n\t "), Err(TextError::Blank));
        assert_eq!(
            validate_text(&"a".repeat(4001)),
            Err(TextError::TooLong {
                len: 4001,
                max: 4000
            })
        );
    }

    #[test]
    fn folding_makes_case_variants_one_name_and_keeps_the_spelling() {
        let upper = UserName::parse("Alice").unwrap();
        let lower = UserName::parse("alice").unwrap();
        let shout = UserName::parse("ALICE").unwrap();
        assert_ne!(upper, lower, "the spelling stays distinct");
        assert_eq!(upper.as_str(), "Alice");
        assert_eq!(upper.folded(), lower.folded());
        assert_eq!(shout.folded(), lower.folded());
        assert_eq!(upper.folded().as_str(), "alice");
        assert!(upper.same_name(&shout));
        assert!(!upper.same_name(&UserName::parse("alicia").unwrap()));
        let mut seen = std::collections::HashSet::new();
        assert!(seen.insert(upper.folded()));
        assert!(!seen.insert(shout.folded()), "one key for all spellings");
        assert!(seen.contains("alice"), "probed with a plain &str");
        assert_eq!(FoldedName::from(&upper).to_string(), "alice");
        let mixed = UserName::parse("Bob_9.x-Y").unwrap();
        assert_eq!(mixed.folded().into_string(), "bob_9.x-y");
    }

    #[test]
    fn name_and_text_errors_map_to_their_codes() {
        assert_eq!(NameError::Empty.code(), ErrorCode::InvalidName);
        assert_eq!(TextError::Blank.code(), ErrorCode::InvalidText);
    }

    #[test]
    fn plain_room_names_are_not_conversations() {
        assert!(!RoomName::parse("lobby").unwrap().is_conversation());
        assert_eq!(RoomName::parse("@alice+bob"), Err(NameError::BadChar('@')));
    }

    #[test]
    fn ref_rule_counts_characters() {
        assert!(validate_ref(&"ü".repeat(64)));
        assert!(!validate_ref(&"a".repeat(65)));
    }
}
