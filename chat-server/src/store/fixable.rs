//! The rules of fixable messages, written once for every store: given what
//! the store holds about the message a change targets ([`TargetFacts`],
//! read in the writer's transaction), refuse an edit, delete, react,
//! unreact or reply, or say what storing it changes on the message's row
//! ([`Fix`]). Who outranks whom is the caller's (`store/rules.rs`) to say.

use chat_proto::limits::{MAX_EDITS_PER_MESSAGE, MAX_EMOJI_PER_MESSAGE};

use super::Refusal;

/// What the store holds about the message a change targets, in its
/// current state. `None` in its place: no message of that id in the room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TargetFacts {
    /// The author's name as stored.
    pub author: String,
    /// The author is an op of the room.
    pub author_op: bool,
    /// The author owns the room.
    pub author_owner: bool,
    /// The operator named the author a server admin.
    pub author_admin: bool,
    /// The current text (after the latest edit).
    pub text: String,
    pub deleted: bool,
    /// Edits made so far.
    pub edits: u32,
    /// For a react or unreact: the actor's reaction with that emoji is there.
    pub reacted: bool,
    /// For a react: someone reacted with that emoji already.
    pub emoji_present: bool,
    /// For a react with an emoji not there yet: distinct emoji on it now.
    pub emoji_count: u32,
}

/// What an allowed change does to its target message's row, in the
/// transaction that appends its entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fix {
    /// The message's text becomes `text`, marked edited at the entry's `ts`.
    EditText {
        target: u64,
        text: String,
    },
    /// The message's text, its edits' texts and its reactions are erased.
    Erase {
        target: u64,
    },
    /// The actor's reaction is added, listed after those before it.
    React {
        target: u64,
        emoji: String,
    },
    Unreact {
        target: u64,
        emoji: String,
    },
}

/// The target, unless it is missing or deleted (`not_found` either way:
/// a deleted message is not there to act on).
fn live(target: Option<&TargetFacts>) -> Result<&TargetFacts, Refusal> {
    target
        .filter(|t| !t.deleted)
        .ok_or(Refusal::not_found("no such message in this room"))
}

fn is_author(actor: &str, target: &TargetFacts) -> bool {
    target.author.eq_ignore_ascii_case(actor)
}

/// A reply must answer a live message of the same room.
pub(crate) fn reply(target: Option<&TargetFacts>) -> Result<(), Refusal> {
    live(target).map(drop)
}

/// An edit: the author's, to another text, within the edit limit.
pub(crate) fn edit(
    actor: &str,
    target: Option<&TargetFacts>,
    id: u64,
    text: &str,
) -> Result<Fix, Refusal> {
    let message = live(target)?;
    if !is_author(actor, message) {
        return Err(Refusal::forbidden("only its author may edit a message"));
    }
    if message.text == text {
        return Err(Refusal::unchanged("the message has that text already"));
    }
    if message.edits >= MAX_EDITS_PER_MESSAGE {
        return Err(Refusal::forbidden(
            "the message has been edited as often as allowed",
        ));
    }
    Ok(Fix::EditText {
        target: id,
        text: text.to_owned(),
    })
}

/// A delete: the author's, or by someone who outranks the author
/// (`outranks`, decided by the caller from the room's roles).
pub(crate) fn delete(
    actor: &str,
    outranks: bool,
    target: Option<&TargetFacts>,
    id: u64,
) -> Result<Fix, Refusal> {
    let message = live(target)?;
    if !is_author(actor, message) && !outranks {
        return Err(Refusal::forbidden(
            "only its author, or someone who outranks them here, may delete a message",
        ));
    }
    Ok(Fix::Erase { target: id })
}

/// A react: not there yet, and a new emoji only below the emoji limit.
pub(crate) fn react(target: Option<&TargetFacts>, id: u64, emoji: &str) -> Result<Fix, Refusal> {
    let message = live(target)?;
    if message.reacted {
        return Err(Refusal::unchanged("you reacted so already"));
    }
    if !message.emoji_present && message.emoji_count >= MAX_EMOJI_PER_MESSAGE {
        return Err(Refusal::forbidden(
            "the message has as many different emoji as allowed",
        ));
    }
    Ok(Fix::React {
        target: id,
        emoji: emoji.to_owned(),
    })
}

/// An unreact: only of a reaction that is there.
pub(crate) fn unreact(target: Option<&TargetFacts>, id: u64, emoji: &str) -> Result<Fix, Refusal> {
    let message = live(target)?;
    if !message.reacted {
        return Err(Refusal::unchanged("you have no such reaction there"));
    }
    Ok(Fix::Unreact {
        target: id,
        emoji: emoji.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use chat_proto::ErrorCode;

    use super::*;

    fn by(author: &str) -> TargetFacts {
        TargetFacts {
            author: author.into(),
            text: "old".into(),
            ..TargetFacts::default()
        }
    }

    fn code<T>(result: Result<T, Refusal>) -> Option<ErrorCode> {
        result.err().map(|refusal| refusal.code)
    }

    #[test]
    fn only_the_author_edits_and_only_to_another_text() {
        let message = by("Alice");
        assert_eq!(
            edit("alice", Some(&message), 3, "new"),
            Ok(Fix::EditText {
                target: 3,
                text: "new".into()
            }),
            "authorship ignores case"
        );
        assert_eq!(
            code(edit("bob", Some(&message), 3, "new")),
            Some(ErrorCode::Forbidden)
        );
        assert_eq!(
            code(edit("alice", Some(&message), 3, "old")),
            Some(ErrorCode::Unchanged)
        );
        assert_eq!(
            code(edit("alice", None, 3, "new")),
            Some(ErrorCode::NotFound)
        );
        let worn = TargetFacts {
            edits: MAX_EDITS_PER_MESSAGE,
            ..by("alice")
        };
        assert_eq!(
            code(edit("alice", Some(&worn), 3, "new")),
            Some(ErrorCode::Forbidden)
        );
    }

    #[test]
    fn a_deleted_message_is_not_found_for_everything() {
        let gone = TargetFacts {
            deleted: true,
            reacted: true,
            ..by("alice")
        };
        assert_eq!(code(reply(Some(&gone))), Some(ErrorCode::NotFound));
        assert_eq!(
            code(edit("alice", Some(&gone), 1, "x")),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(
            code(delete("alice", true, Some(&gone), 1)),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(code(react(Some(&gone), 1, "👍")), Some(ErrorCode::NotFound));
        assert_eq!(
            code(unreact(Some(&gone), 1, "👍")),
            Some(ErrorCode::NotFound)
        );
    }

    #[test]
    fn delete_needs_the_author_or_a_higher_rank() {
        let message = by("alice");
        assert!(delete("alice", false, Some(&message), 1).is_ok());
        assert!(delete("op", true, Some(&message), 1).is_ok());
        assert_eq!(
            code(delete("bob", false, Some(&message), 1)),
            Some(ErrorCode::Forbidden)
        );
    }

    #[test]
    fn reactions_change_something_or_are_unchanged_and_emoji_are_capped() {
        let message = by("alice");
        assert!(react(Some(&message), 1, "👍").is_ok());
        let reacted = TargetFacts {
            reacted: true,
            emoji_present: true,
            ..by("alice")
        };
        assert_eq!(
            code(react(Some(&reacted), 1, "👍")),
            Some(ErrorCode::Unchanged)
        );
        assert!(unreact(Some(&reacted), 1, "👍").is_ok());
        assert_eq!(
            code(unreact(Some(&message), 1, "👍")),
            Some(ErrorCode::Unchanged)
        );
        let full = TargetFacts {
            emoji_count: MAX_EMOJI_PER_MESSAGE,
            ..by("alice")
        };
        assert_eq!(
            code(react(Some(&full), 1, "🎉")),
            Some(ErrorCode::Forbidden)
        );
        let full_but_there = TargetFacts {
            emoji_present: true,
            ..full
        };
        assert!(
            react(Some(&full_but_there), 1, "🎉").is_ok(),
            "another user on an emoji already there"
        );
    }
}
