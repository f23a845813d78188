//! The rules for user names, room names, message text and client `ref`s.
//!
//! [`UserName`] and [`RoomName`] can only be built through their `parse`
//! functions, so holding one proves it follows the rules (and, for rooms,
//! that it is already folded to lower case).

use std::borrow::Borrow;
use std::fmt;

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

/// A valid user name: 1–32 chars of `A-Z a-z 0-9 _ . -`, first a letter, digit or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

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
}

/// A valid room name, folded to lower case: 1–64 chars of `a-z 0-9 _ . -`.
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
    fn ref_rule_counts_characters() {
        assert!(validate_ref(&"ü".repeat(64)));
        assert!(!validate_ref(&"a".repeat(65)));
    }
}
