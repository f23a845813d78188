//! How an entry is kept in a row of `entries`, for both stores: `kind`
//! (fixed forever: 0 message, 1 edit, 2 delete, 3 react, 4 unreact, 5
//! topic, 6 role, 7 kick, 8 ban, 9 unban, 10 invite, 11 settings), `text`
//! (a message's text, a topic, a reason; `''` when none), `subject`, `arg`
//! (a role) and `flags` (1 action, 2 private, 4 has a reason). Protocol-1
//! rows are messages: kind 0, no subject, no flags.

use chat_proto::{
    Admittance, Entry, Message, Removal, Role, RoleChange, SettingsChange, TopicChange,
};

use super::Change;

const MESSAGE: i64 = 0;
const TOPIC: i64 = 5;
const ROLE: i64 = 6;
const KICK: i64 = 7;
const BAN: i64 = 8;
const UNBAN: i64 = 9;
const INVITE: i64 = 10;
const SETTINGS: i64 = 11;

const PRIVATE: i64 = 2;
const HAS_REASON: i64 = 4;

/// An entry's own columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryRow {
    pub kind: i64,
    pub text: String,
    pub subject: Option<String>,
    pub arg: Option<String>,
    pub flags: i64,
}

impl EntryRow {
    fn new(kind: i64) -> Self {
        Self {
            kind,
            text: String::new(),
            subject: None,
            arg: None,
            flags: 0,
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
            Change::Message { text } => Self {
                text: text.clone(),
                ..Self::new(MESSAGE)
            },
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
            MESSAGE => Entry::Message(Message {
                room,
                id,
                user,
                text: self.text,
                ts,
                ..Message::default()
            }),
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
}
