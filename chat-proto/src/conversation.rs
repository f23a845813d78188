//! Direct conversations: a room named `@` and its two users' folded names,
//! sorted and joined by `+` (`@alice+bob`), and how a room field given by a
//! client becomes a [`RoomName`] (plain, or such a conversation).

use std::fmt;

use crate::frame::ErrorCode;
use crate::names::{FoldedName, NameError, RoomName, UserName};

/// Why a conversation's name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversationError {
    #[error("a conversation is @NAME or @NAME+NAME")]
    Shape,
    #[error("conversation user name: {0}")]
    User(NameError),
    #[error("a conversation is between two different users")]
    WithYourself,
}

impl ConversationError {
    /// A malformed name is `invalid_name`; a conversation with oneself is
    /// `forbidden`.
    pub fn code(&self) -> ErrorCode {
        match self {
            ConversationError::Shape | ConversationError::User(_) => ErrorCode::InvalidName,
            ConversationError::WithYourself => ErrorCode::Forbidden,
        }
    }
}

/// Why a room field was refused: a plain room name outside the rules, or a
/// bad conversation name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("{0}")]
    Name(NameError),
    #[error("{0}")]
    Conversation(ConversationError),
}

impl RoomError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RoomError::Name(e) => e.code(),
            RoomError::Conversation(e) => e.code(),
        }
    }
}

/// The canonical name of a conversation between two different users, who
/// are held folded and sorted. Whether both accounts exist, and whether the
/// session is one of them, are the server's to check ([`Self::includes`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConversationName {
    /// `@first+second`.
    canonical: String,
    /// The byte index of the `+` in `canonical`.
    plus: usize,
}

impl ConversationName {
    /// The conversation between `a` and `b`, in either order.
    pub fn between(a: &UserName, b: &UserName) -> Result<Self, ConversationError> {
        Self::of_folded(a.folded(), b.folded())
    }

    /// Parses a room field that starts with `@`: `@alice+bob` in any order
    /// and case, or `@bob`, the session `me`'s conversation with bob.
    pub fn parse(raw: &str, me: &UserName) -> Result<Self, ConversationError> {
        let rest = raw.strip_prefix('@').ok_or(ConversationError::Shape)?;
        let (first, second) = match rest.split_once('+') {
            Some((first, second)) => {
                if second.contains('+') {
                    return Err(ConversationError::Shape);
                }
                (parse_user(first)?, parse_user(second)?)
            }
            None => (me.clone(), parse_user(rest)?),
        };
        Self::between(&first, &second)
    }

    /// Parses a conversation's full name, `@alice+bob` in any order and
    /// case (no shorthand: that needs the session's user, see
    /// [`Self::parse`]).
    pub fn parse_pair(raw: &str) -> Result<Self, ConversationError> {
        let rest = raw.strip_prefix('@').ok_or(ConversationError::Shape)?;
        match rest.split_once('+') {
            Some((first, second)) if !second.contains('+') => {
                Self::between(&parse_user(first)?, &parse_user(second)?)
            }
            _ => Err(ConversationError::Shape),
        }
    }

    fn of_folded(a: FoldedName, b: FoldedName) -> Result<Self, ConversationError> {
        if a == b {
            return Err(ConversationError::WithYourself);
        }
        let (first, second) = if a < b { (a, b) } else { (b, a) };
        let canonical = format!("@{first}+{second}");
        Ok(Self {
            plus: 1 + first.as_str().len(),
            canonical,
        })
    }

    /// `@alice+bob`.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The two users' folded names, sorted.
    pub fn users(&self) -> (&str, &str) {
        (
            &self.canonical[1..self.plus],
            &self.canonical[self.plus + 1..],
        )
    }

    /// Whether `user` (in any case) is one of the two.
    pub fn includes(&self, user: &UserName) -> bool {
        let (first, second) = self.users();
        let user = user.as_str();
        user.eq_ignore_ascii_case(first) || user.eq_ignore_ascii_case(second)
    }

    /// The other user's folded name, when `me` is one of the two.
    pub fn partner(&self, me: &UserName) -> Option<&str> {
        let (first, second) = self.users();
        if me.as_str().eq_ignore_ascii_case(first) {
            Some(second)
        } else if me.as_str().eq_ignore_ascii_case(second) {
            Some(first)
        } else {
            None
        }
    }

    /// The conversation as a room, for everything keyed by room.
    pub fn room_name(&self) -> RoomName {
        RoomName::from_conversation(self.canonical.clone())
    }
}

impl From<ConversationName> for RoomName {
    fn from(conversation: ConversationName) -> Self {
        RoomName::from_conversation(conversation.canonical)
    }
}

impl fmt::Display for ConversationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

fn parse_user(raw: &str) -> Result<UserName, ConversationError> {
    UserName::parse(raw).map_err(ConversationError::User)
}

impl RoomName {
    /// Validates a protocol-2 room field sent by the session `me`: a plain
    /// room name (folded to lower case), or a conversation (`@alice+bob`,
    /// `@bob+Alice`, or `@bob` for me's own), answered by its canonical name.
    pub fn parse_for(raw: &str, me: &UserName) -> Result<RoomName, RoomError> {
        if raw.starts_with('@') {
            ConversationName::parse(raw, me)
                .map(RoomName::from)
                .map_err(RoomError::Conversation)
        } else {
            RoomName::parse(raw).map_err(RoomError::Name)
        }
    }

    /// The conversation this room is, when it is one.
    pub fn conversation(&self) -> Option<ConversationName> {
        let rest = self.as_str().strip_prefix('@')?;
        let plus = 1 + rest.find('+')?;
        Some(ConversationName {
            canonical: self.as_str().to_owned(),
            plus,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserName {
        UserName::parse(name).unwrap()
    }

    #[test]
    fn conversation_names_are_canonical_whatever_the_order_and_case() {
        let alice = user("Alice");
        for raw in ["@alice+bob", "@bob+alice", "@Bob+ALICE", "@bob"] {
            let conversation = ConversationName::parse(raw, &alice).unwrap();
            assert_eq!(conversation.as_str(), "@alice+bob", "{raw}");
            assert_eq!(conversation.users(), ("alice", "bob"));
        }
        let between = ConversationName::between(&user("Bob"), &alice).unwrap();
        assert_eq!(between.to_string(), "@alice+bob");
        let long = "x".repeat(32);
        let widest = ConversationName::parse(&format!("@{long}+y{}", &long[1..]), &alice);
        assert_eq!(widest.unwrap().as_str().len(), 66);
    }

    #[test]
    fn the_shorthand_names_the_sessions_own_conversation() {
        let carol = user("carol");
        let conversation = ConversationName::parse("@Dave", &carol).unwrap();
        assert_eq!(conversation.as_str(), "@carol+dave");
        assert_eq!(conversation.partner(&carol), Some("dave"));
        assert_eq!(conversation.partner(&user("DAVE")), Some("carol"));
        assert_eq!(conversation.partner(&user("erin")), None);
        assert!(conversation.includes(&user("Carol")));
        assert!(!conversation.includes(&user("erin")));
    }

    #[test]
    fn a_conversation_with_yourself_is_forbidden() {
        let alice = user("alice");
        for raw in ["@alice", "@ALICE", "@alice+Alice"] {
            let e = ConversationName::parse(raw, &alice).unwrap_err();
            assert_eq!(e, ConversationError::WithYourself, "{raw}");
            assert_eq!(e.code(), ErrorCode::Forbidden);
        }
        assert_eq!(
            ConversationName::between(&alice, &user("Alice")),
            Err(ConversationError::WithYourself)
        );
    }

    #[test]
    fn malformed_conversation_names_are_invalid_names() {
        let alice = user("alice");
        for (raw, expected) in [
            ("alice+bob", ConversationError::Shape),
            ("@a+b+c", ConversationError::Shape),
            ("@", ConversationError::User(NameError::Empty)),
            ("@+bob", ConversationError::User(NameError::Empty)),
            ("@bob+", ConversationError::User(NameError::Empty)),
            ("@.bob", ConversationError::User(NameError::BadFirst('.'))),
            ("@bo b", ConversationError::User(NameError::BadChar(' '))),
        ] {
            let e = ConversationName::parse(raw, &alice).unwrap_err();
            assert_eq!(e, expected, "{raw}");
            assert_eq!(e.code(), ErrorCode::InvalidName);
        }
        let long = "x".repeat(33);
        assert_eq!(
            ConversationName::parse(&format!("@{long}"), &alice),
            Err(ConversationError::User(NameError::TooLong { max: 32 }))
        );
    }

    #[test]
    fn room_fields_are_plain_rooms_or_conversations() {
        let bob = user("Bob");
        let plain = RoomName::parse_for("Lobby", &bob).unwrap();
        assert_eq!(plain.as_str(), "lobby");
        assert!(!plain.is_conversation());
        assert_eq!(plain.conversation(), None);

        let conversation = RoomName::parse_for("@alice", &bob).unwrap();
        assert_eq!(conversation.as_str(), "@alice+bob");
        assert!(conversation.is_conversation());
        assert_eq!(
            conversation.conversation(),
            ConversationName::parse("@bob+alice", &bob).ok()
        );
        assert_eq!(
            RoomName::from(ConversationName::parse("@alice", &bob).unwrap()),
            conversation
        );

        let e = RoomName::parse_for("a b", &bob).unwrap_err();
        assert_eq!(e, RoomError::Name(NameError::BadChar(' ')));
        assert_eq!(e.code(), ErrorCode::InvalidName);
        let e = RoomName::parse_for("@bob", &bob).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Forbidden);
    }

    #[test]
    fn a_full_name_parses_without_knowing_the_session() {
        let pair = ConversationName::parse_pair("@Bob+alice").unwrap();
        assert_eq!(pair.as_str(), "@alice+bob");
        assert_eq!(
            ConversationName::parse_pair("@bob"),
            Err(ConversationError::Shape)
        );
        assert_eq!(
            ConversationName::parse_pair("@a+b+c"),
            Err(ConversationError::Shape)
        );
        assert_eq!(
            ConversationName::parse_pair("@ann+ANN"),
            Err(ConversationError::WithYourself)
        );
    }
}
