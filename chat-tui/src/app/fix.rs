//! Fixing messages: which message is picked, what the input is composing
//! (a reply or an edit of a given message), who may change which message,
//! and the edits, deletions and reactions that arrived for a message not
//! loaded yet, kept until it is.

use chat_proto::{Entry as StreamEntry, Message, Role};

use crate::app::{Entry, InputLine, Room};

/// Edits, deletions and reactions of messages not loaded, kept per room;
/// past this the oldest are dropped (their messages are long gone by then,
/// and a page brings a message in its page state anyway).
pub const UNPLACED_FIXES_MAX: usize = 500;

/// What Enter does with the input besides sending a plain line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposeKind {
    /// A message with `reply_to` the target.
    Reply,
    /// An `edit` of the target (one of ours).
    Edit,
}

/// The input is a reply to, or the new text of, message `target` of
/// `room`; Esc cancels it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compose {
    pub room: String,
    pub target: u64,
    pub kind: ComposeKind,
}

/// The reaction prompt for message `target`: a digit picks from the quick
/// set, or an emoji is typed and Enter sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactPrompt {
    pub target: u64,
    pub line: InputLine,
}

impl Room {
    /// The loaded message with this id.
    pub fn message(&self, id: u64) -> Option<&Message> {
        self.entries.iter().rev().find_map(|e| match e {
            Entry::Message(m) if m.id == id => Some(m),
            _ => None,
        })
    }

    pub fn message_mut(&mut self, id: u64) -> Option<&mut Message> {
        self.entries.iter_mut().rev().find_map(|e| match e {
            Entry::Message(m) if m.id == id => Some(m),
            _ => None,
        })
    }

    /// Where the message with this id is among the entries.
    pub fn message_index(&self, id: u64) -> Option<usize> {
        self.entries
            .iter()
            .rposition(|e| e.message_id() == Some(id))
    }

    /// The newest message shown in the pane (after any `/clear`).
    pub fn newest_message_id(&self) -> Option<u64> {
        self.shown().iter().rev().find_map(Entry::message_id)
    }

    /// The message shown above (`older`) or below the one with id `from`.
    pub fn neighbour_message_id(&self, from: u64, older: bool) -> Option<u64> {
        let shown = self.shown();
        let at = shown.iter().position(|e| e.message_id() == Some(from))?;
        if older {
            shown[..at].iter().rev().find_map(Entry::message_id)
        } else {
            shown[at + 1..].iter().find_map(Entry::message_id)
        }
    }

    /// Our newest message here that is not deleted: what Up on an empty
    /// input edits.
    pub fn last_own_message(&self, me: &str) -> Option<&Message> {
        self.shown().iter().rev().find_map(|e| match e {
            Entry::Message(m) if m.user == me && !m.deleted => Some(m),
            _ => None,
        })
    }

    /// Whether `me` (a server admin when `admin`) may delete `message`
    /// here: the author, admins, the owner (not an admin's, which the
    /// server alone knows), ops (members' messages only).
    pub fn may_delete(&self, message: &Message, me: &str, admin: bool) -> bool {
        if message.user == me || admin {
            return true;
        }
        let Some(details) = &self.details else {
            return false;
        };
        let author_rank = if details.owner.as_deref() == Some(message.user.as_str()) {
            Role::Owner
        } else if details.ops.contains(&message.user) {
            Role::Op
        } else {
            Role::Member
        };
        match details.role {
            Role::Owner => true,
            Role::Op => author_rank == Role::Member,
            Role::Member => false,
        }
    }

    /// Keeps an edit, deletion or reaction whose message is not loaded,
    /// to apply if the message is fetched later.
    pub fn keep_unplaced(&mut self, fix: StreamEntry) {
        if self.unplaced_fixes.len() >= UNPLACED_FIXES_MAX {
            self.unplaced_fixes.remove(0);
        }
        self.unplaced_fixes.push(fix);
    }

    /// The entries the pane shows: those after a `/clear`.
    fn shown(&self) -> &[Entry] {
        &self.entries[self.cleared.min(self.entries.len())..]
    }
}

/// Applies an edit, deletion or reaction to its message. Applying one
/// twice, or over a page state that already holds it, changes nothing;
/// entries for one message applied in id order leave it as the server has
/// it. Other kinds of entry are not fixes and change nothing.
pub fn apply_fix(message: &mut Message, fix: &StreamEntry) {
    match fix {
        StreamEntry::Edit(edit)
            if !message.deleted && message.edited.is_none_or(|ts| ts <= edit.ts) =>
        {
            message.text = edit.text.clone();
            message.edited = Some(edit.ts);
        }
        StreamEntry::Delete(_) => {
            message.deleted = true;
            message.text.clear();
            message.reactions.clear();
        }
        StreamEntry::React(reaction) | StreamEntry::Unreact(reaction) if !message.deleted => {
            let add = matches!(fix, StreamEntry::React(_));
            let users = message.reactions.entry(reaction.emoji.clone()).or_default();
            let at = users.iter().position(|u| *u == reaction.user);
            match (add, at) {
                (true, None) => users.push(reaction.user.clone()),
                (false, Some(at)) => {
                    users.remove(at);
                }
                _ => {}
            }
            if users.is_empty() {
                message.reactions.remove(&reaction.emoji);
            }
        }
        _ => {}
    }
}
