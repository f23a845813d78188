//! How an entry is kept in a row of `entries`, for both stores: `kind`
//! (fixed forever: 0 message, 1 edit, 2 delete, 3 react, 4 unreact, 5
//! topic, 6 role, 7 kick, 8 ban, 9 unban, 10 invite, 11 settings), `text`
//! (a message's or an edit's text, a topic, a reason; `''` when none or
//! erased), `target` (the message an edit, delete, react or unreact acts
//! on; a message's `reply_to`), `subject`, `arg` (a role, an emoji) and
//! `flags` (1 action, 2 private, 4 has a reason). A message's row also
//! keeps its page state: its current text, `edited_ts`, `deleted` (and
//! its reactions sit in `reactions`). Protocol-1 rows are messages: kind
//! 0, no subject, no flags.

use std::collections::BTreeMap;

use chat_proto::{
    Admittance, Delete, Edit, Entry, Message, Reaction, Removal, Role, RoleChange, SettingsChange,
    TopicChange,
};

use super::Change;

pub(crate) const MESSAGE: i64 = 0;
pub(crate) const EDIT: i64 = 1;
const DELETE: i64 = 2;
const REACT: i64 = 3;
const UNREACT: i64 = 4;
const TOPIC: i64 = 5;
const ROLE: i64 = 6;
const KICK: i64 = 7;
const BAN: i64 = 8;
const UNBAN: i64 = 9;
const INVITE: i64 = 10;
const SETTINGS: i64 = 11;

const ACTION: i64 = 1;
const PRIVATE: i64 = 2;
const HAS_REASON: i64 = 4;

/// An entry's own columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryRow {
    pub kind: i64,
    pub text: String,
    pub target: Option<u64>,
    pub subject: Option<String>,
    pub arg: Option<String>,
    pub flags: i64,
    /// Page state of a message: the `ts` of its latest edit.
    pub edited: Option<i64>,
    /// Page state of a message: deleted, its text erased.
    pub deleted: bool,
}

impl EntryRow {
    fn new(kind: i64) -> Self {
        Self {
            kind,
            text: String::new(),
            target: None,
            subject: None,
            arg: None,
            flags: 0,
            edited: None,
            deleted: false,
        }
    }

    fn targeting(kind: i64, target: u64) -> Self {
        Self {
            target: Some(target),
            ..Self::new(kind)
        }
    }

    fn reaction(kind: i64, target: u64, emoji: &str) -> Self {
        Self {
            arg: Some(emoji.to_owned()),
            ..Self::targeting(kind, target)
        }
    }

    fn subject(kind: i64, subject: &str) -> Self {
        Self {
            subject: Some(subject.to_owned()),
            ..Self::new(kind)
        }
    }

    fn removal(kind: i64, subject: &str, reason: &Option<String>) -> Self {
        Self {
            text: reason.clone().unwrap_or_default(),
            flags: if reason.is_some() { HAS_REASON } else { 0 },
            ..Self::subject(kind, subject)
        }
    }

    /// The row a change is stored as; `None` for a change that leaves no
    /// entry (deleting the room).
    pub(crate) fn of(change: &Change) -> Option<Self> {
        Some(match change {
            Change::Message {
                text,
                reply_to,
                action,
            } => Self {
                text: text.clone(),
                target: *reply_to,
                flags: if *action { ACTION } else { 0 },
                ..Self::new(MESSAGE)
            },
            Change::Edit { target, text } => Self {
                text: text.clone(),
                ..Self::targeting(EDIT, *target)
            },
            Change::Delete { target } => Self::targeting(DELETE, *target),
            Change::React { target, emoji } => Self::reaction(REACT, *target, emoji),
            Change::Unreact { target, emoji } => Self::reaction(UNREACT, *target, emoji),
            Change::Topic { topic } => Self {
                text: topic.clone(),
                ..Self::new(TOPIC)
            },
            Change::Role { subject, role } => Self {
                arg: Some(role.as_str().to_owned()),
                ..Self::subject(ROLE, subject.as_str())
            },
            Change::Kick { subject, reason } => Self::removal(KICK, subject.as_str(), reason),
            Change::Ban { subject, reason } => Self::removal(BAN, subject.as_str(), reason),
            Change::Unban { subject } => Self::subject(UNBAN, subject.as_str()),
            Change::Invite { subject } => Self::subject(INVITE, subject.as_str()),
            Change::Settings { private } => Self {
                flags: if *private { PRIVATE } else { 0 },
                ..Self::new(SETTINGS)
            },
            Change::DeleteRoom => return None,
        })
    }

    /// The entry this row holds, as pages show it (no `ref`). A kind this
    /// version does not know reads as `None` and is left out of pages.
    pub(crate) fn entry(self, room: &str, id: u64, user: String, ts: i64) -> Option<Entry> {
        let room = room.to_owned();
        if matches!(self.kind, MESSAGE | EDIT | DELETE | REACT | UNREACT) {
            return self.message_entry(room, id, user, ts);
        }
        let subject = self.subject.unwrap_or_default();
        let reason = (self.flags & HAS_REASON != 0).then_some(self.text.clone());
        let removal = |subject| Removal {
            room: room.clone(),
            id,
            user: user.clone(),
            ts,
            reference: None,
            subject,
            reason,
        };
        let admittance = |subject| Admittance {
            room: room.clone(),
            id,
            user: user.clone(),
            ts,
            reference: None,
            subject,
        };
        Some(match self.kind {
            TOPIC => Entry::Topic(TopicChange {
                room,
                id,
                user,
                ts,
                reference: None,
                topic: self.text,
            }),
            ROLE => Entry::Role(RoleChange {
                role: Role::parse(self.arg.as_deref().unwrap_or_default()).ok()?,
                room,
                id,
                user,
                ts,
                reference: None,
                subject,
            }),
            KICK => Entry::Kick(removal(subject)),
            BAN => Entry::Ban(removal(subject)),
            UNBAN => Entry::Unban(admittance(subject)),
            INVITE => Entry::Invite(admittance(subject)),
            SETTINGS => Entry::Settings(SettingsChange {
                room,
                id,
                user,
                ts,
                reference: None,
                private: self.flags & PRIVATE != 0,
            }),
            _ => return None,
        })
    }

    /// A message, or an entry that changes one, as pages show it.
    fn message_entry(self, room: String, id: u64, user: String, ts: i64) -> Option<Entry> {
        Some(match self.kind {
            MESSAGE => Entry::Message(Message {
                room,
                id,
                user,
                text: self.text,
                ts,
                reference: None,
                reply_to: self.target,
                action: self.flags & ACTION != 0,
                edited: self.edited,
                deleted: self.deleted,
                reactions: BTreeMap::new(),
            }),
            EDIT => Entry::Edit(Edit {
                room,
                id,
                user,
                ts,
                reference: None,
                target: self.target?,
                text: self.text,
            }),
            DELETE => Entry::Delete(Delete {
                room,
                id,
                user,
                ts,
                reference: None,
                target: self.target?,
            }),
            REACT | UNREACT => {
                let reaction = Reaction {
                    room,
                    id,
                    user,
                    ts,
                    reference: None,
                    target: self.target?,
                    emoji: self.arg?,
                };
                if self.kind == REACT {
                    Entry::React(reaction)
                } else {
                    Entry::Unreact(reaction)
                }
            }
            _ => return None,
        })
    }
}

/// Puts each message's reactions on it: `reactions` holds (message id,
/// emoji, user) in emoji order and, within an emoji, in the order the
/// users reacted.
pub(crate) fn attach_reactions(entries: &mut [Entry], reactions: Vec<(u64, String, String)>) {
    let mut by_message: BTreeMap<u64, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (target, emoji, user) in reactions {
        by_message
            .entry(target)
            .or_default()
            .entry(emoji)
            .or_default()
            .push(user);
    }
    for entry in entries {
        if let Entry::Message(message) = entry
            && let Some(reactions) = by_message.remove(&message.id)
        {
            message.reactions = reactions;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(change: &Change) -> Entry {
        let row = EntryRow::of(change).expect("a change kept as a row");
        row.entry("r", 7, "alice".into(), 5)
            .expect("a kind this version reads")
    }

    #[test]
    fn fixes_read_back_as_the_entries_they_were() {
        let reply = stored(&Change::Message {
            text: "waves".into(),
            reply_to: Some(3),
            action: true,
        });
        let Entry::Message(reply) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!((reply.reply_to, reply.action), (Some(3), true));
        let edit = stored(&Change::Edit {
            target: 3,
            text: "fixed".into(),
        });
        assert!(matches!(&edit, Entry::Edit(e) if e.target == 3 && e.text == "fixed"));
        let delete = stored(&Change::Delete { target: 3 });
        assert!(matches!(delete, Entry::Delete(d) if d.target == 3));
        let react = Change::React {
            target: 3,
            emoji: "👍".into(),
        };
        assert!(matches!(stored(&react), Entry::React(r) if r.emoji == "👍"));
        let unreact = Change::Unreact {
            target: 3,
            emoji: "👍".into(),
        };
        assert!(matches!(stored(&unreact), Entry::Unreact(r) if r.target == 3));
    }

    #[test]
    fn reactions_go_on_their_messages_in_the_order_given() {
        let message = |id| {
            EntryRow::of(&Change::message("m"))
                .expect("a row")
                .entry("r", id, "u".into(), 1)
                .expect("a message")
        };
        let mut entries = vec![message(1), message(2)];
        attach_reactions(
            &mut entries,
            vec![
                (2, "👍".into(), "bob".into()),
                (2, "👍".into(), "alice".into()),
                (2, "🎉".into(), "carol".into()),
                (9, "👍".into(), "nobody".into()),
            ],
        );
        assert!(entries[0].as_message().unwrap().reactions.is_empty());
        let on_second = &entries[1].as_message().unwrap().reactions;
        assert_eq!(on_second["👍"], ["bob", "alice"]);
        assert_eq!(on_second["🎉"], ["carol"]);
        assert_eq!(on_second.len(), 2);
    }
}
