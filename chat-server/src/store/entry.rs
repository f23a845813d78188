//! The room stream's domain types at the storage seam: [`NewEntry`] (what a
//! session asks to add to a room's stream), its [`Change`], the
//! [`Outcome`] a receipt resolves to, and [`Committed`], what fan-out
//! hears once an entry is durable.
//!
//! Every kind of entry takes its id from the room's one sequence; a
//! refused request takes none, so ids stay gapless.

use chat_proto::{
    Admittance, Delete, Edit, Entry, ErrorCode, Message, Reaction, Removal, Role, RoleChange,
    RoomName, SettingsChange, TopicChange, UserName,
};
use serde::{Deserialize, Serialize};

use super::ConnId;

/// Who asks for an entry: the session's name, whether it holds an
/// account (roles, ownership and access are for accounts only), and
/// whether the operator named it a server admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: UserName,
    pub registered: bool,
    pub admin: bool,
}

impl Actor {
    /// A guest: no account, no admin.
    pub fn member(name: UserName) -> Self {
        Self {
            name,
            registered: false,
            admin: false,
        }
    }
}

/// What an entry changes in its room. Every kind but `DeleteRoom` is an
/// entry of its own type; `DeleteRoom` takes an id but leaves no entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Message {
        text: String,
        /// The message of the same room this one answers.
        reply_to: Option<u64>,
        /// An action (`/me waves`).
        action: bool,
    },
    /// The author replaces the text of message `target`.
    Edit {
        target: u64,
        text: String,
    },
    /// Message `target` is deleted and its text erased.
    Delete {
        target: u64,
    },
    React {
        target: u64,
        emoji: String,
    },
    Unreact {
        target: u64,
        emoji: String,
    },
    Topic {
        topic: String,
    },
    Role {
        subject: UserName,
        role: Role,
    },
    Kick {
        subject: UserName,
        reason: Option<String>,
    },
    Ban {
        subject: UserName,
        reason: Option<String>,
    },
    Unban {
        subject: UserName,
    },
    Invite {
        subject: UserName,
    },
    Settings {
        private: bool,
    },
    DeleteRoom,
}

impl Change {
    /// A plain message: no reply, not an action.
    pub fn message(text: impl Into<String>) -> Self {
        Change::Message {
            text: text.into(),
            reply_to: None,
            action: false,
        }
    }

    /// The message an edit, delete, react or unreact acts on, or a
    /// message's `reply_to`: the stored message its rules look at.
    pub fn target(&self) -> Option<u64> {
        match self {
            Change::Message { reply_to, .. } => *reply_to,
            Change::Edit { target, .. }
            | Change::Delete { target }
            | Change::React { target, .. }
            | Change::Unreact { target, .. } => Some(*target),
            _ => None,
        }
    }

    /// The user the change acts on, if any.
    pub fn subject(&self) -> Option<&UserName> {
        match self {
            Change::Role { subject, .. }
            | Change::Kick { subject, .. }
            | Change::Ban { subject, .. }
            | Change::Unban { subject }
            | Change::Invite { subject } => Some(subject),
            _ => None,
        }
    }
}

/// What only presence knows, filled in by the session from the room's
/// members when it queues the entry: whether a kick's subject is in the
/// room, and who is there when a room becomes private.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    pub subject_present: bool,
    /// The operator named the subject a server admin.
    pub subject_admin: bool,
    pub present: Vec<String>,
    /// The server admins' names, for a delete: whether the target's
    /// author is one decides who may delete it, and only the session
    /// knows the operator's list.
    pub admins: Vec<String>,
}

/// An entry as a session hands it to the store: no id and no timestamp
/// yet; the store checks the room's rules against what it holds, then
/// assigns both when it commits.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub room: RoomName,
    pub actor: Actor,
    pub change: Change,
    /// The client's `ref`, echoed on the actor's own copy.
    pub reference: Option<String>,
    pub origin: ConnId,
    pub seen: Seen,
}

/// A plain message as the protocol-1 API queued it; kept for callers that
/// only ever post messages (tests, the load generator).
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room: RoomName,
    pub user: UserName,
    pub text: String,
    pub reference: Option<String>,
    pub origin: ConnId,
}

impl From<NewMessage> for NewEntry {
    fn from(message: NewMessage) -> Self {
        Self {
            room: message.room,
            actor: Actor::member(message.user),
            change: Change::message(message.text),
            reference: message.reference,
            origin: message.origin,
            seen: Seen::default(),
        }
    }
}

/// Why the store refused an entry: the room's rules, checked against what
/// it holds, in the same transaction that would have stored it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub reason: &'static str,
}

impl Refusal {
    pub fn forbidden(reason: &'static str) -> Self {
        Self::forbidden_const(reason)
    }

    /// [`Refusal::forbidden`], for constants.
    pub const fn forbidden_const(reason: &'static str) -> Self {
        Self {
            code: ErrorCode::Forbidden,
            reason,
        }
    }

    pub fn not_found(reason: &'static str) -> Self {
        Self {
            code: ErrorCode::NotFound,
            reason,
        }
    }

    pub fn unchanged(reason: &'static str) -> Self {
        Self {
            code: ErrorCode::Unchanged,
            reason,
        }
    }
}

/// What became of a queued entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored under this id, and heard by fan-out before the receipt
    /// resolved.
    Stored(u64),
    /// Not stored again: the same user sent the same request (the same
    /// `ref`, the same content) to this room before, and this is that
    /// entry as stored, with the `ref`. It is the actor's acknowledgement
    /// alone: no id was used and nothing is fanned out.
    Duplicate(Entry),
    /// Not stored: the room's rules forbid it. No id was used.
    Refused(Refusal),
}

/// What fan-out carries for one committed id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamEvent {
    /// An entry, carrying the actor's `ref` when it had one.
    Entry(Entry),
    /// The room was deleted by `user`; its id `id` closed it.
    RoomDeleted {
        room: String,
        id: u64,
        user: String,
        ts: i64,
    },
}

/// An entry the store has committed, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub room: String,
    pub id: u64,
    pub event: StreamEvent,
    pub origin: ConnId,
}

impl StreamEvent {
    /// The same event as everyone but the actor gets it: no `ref`.
    pub fn without_reference(&self) -> Self {
        match self {
            Self::Entry(entry) => Self::Entry(entry.without_reference()),
            deleted @ Self::RoomDeleted { .. } => deleted.clone(),
        }
    }
}

impl Committed {
    /// A committed event; room and id are read from it.
    pub fn new(event: StreamEvent, origin: ConnId) -> Self {
        let (room, id) = match &event {
            StreamEvent::Entry(entry) => (entry.room().to_owned(), entry.id()),
            StreamEvent::RoomDeleted { room, id, .. } => (room.clone(), *id),
        };
        Self {
            room,
            id,
            event,
            origin,
        }
    }

    /// A committed entry.
    pub fn entry(entry: Entry, origin: ConnId) -> Self {
        Self::new(StreamEvent::Entry(entry), origin)
    }
}

impl NewEntry {
    /// The entry as stored under `id` at `ts`, with the actor's `ref`.
    pub fn committed(self, id: u64, ts: i64) -> Committed {
        let origin = self.origin;
        Committed::new(self.event(id, ts), origin)
    }

    /// What the stream shows for this change under `id` at `ts`.
    pub fn event(self, id: u64, ts: i64) -> StreamEvent {
        let head = Head {
            room: self.room.into_string(),
            id,
            user: self.actor.name.into_string(),
            ts,
            reference: self.reference,
        };
        StreamEvent::Entry(match self.change {
            Change::Message {
                text,
                reply_to,
                action,
            } => Entry::Message(Message {
                room: head.room,
                id,
                user: head.user,
                text,
                ts,
                reference: head.reference,
                reply_to,
                action,
                ..Message::default()
            }),
            Change::Edit { target, text } => Entry::Edit(head.edit(target, text)),
            Change::Delete { target } => Entry::Delete(head.delete(target)),
            Change::React { target, emoji } => Entry::React(head.reaction(target, emoji)),
            Change::Unreact { target, emoji } => Entry::Unreact(head.reaction(target, emoji)),
            Change::Topic { topic } => Entry::Topic(head.topic(topic)),
            Change::Role { subject, role } => Entry::Role(head.role(subject, role)),
            Change::Kick { subject, reason } => Entry::Kick(head.removal(subject, reason)),
            Change::Ban { subject, reason } => Entry::Ban(head.removal(subject, reason)),
            Change::Unban { subject } => Entry::Unban(head.admittance(subject)),
            Change::Invite { subject } => Entry::Invite(head.admittance(subject)),
            Change::Settings { private } => Entry::Settings(head.settings(private)),
            Change::DeleteRoom => {
                return StreamEvent::RoomDeleted {
                    room: head.room,
                    id,
                    user: head.user,
                    ts,
                };
            }
        })
    }
}

/// The fields every entry has.
struct Head {
    room: String,
    id: u64,
    user: String,
    ts: i64,
    reference: Option<String>,
}

impl Head {
    fn edit(self, target: u64, text: String) -> Edit {
        Edit {
            room: self.room,
            id: self.id,
            user: self.user,
            ts: self.ts,
            reference: self.reference,
            target,
            text,
        }
    }

    fn delete(self, target: u64) -> Delete {
        Delete {
            room: self.room,
            id: self.id,
            user: self.user,
            ts: self.ts,
            reference: self.reference,
            target,
        }
    }

    fn reaction(self, target: u64, emoji: String) -> Reaction {
        Reaction {
            room: self.room,
            id: self.id,
            user: self.user,
            ts: self.ts,
            reference: self.reference,
            target,
            emoji,
        }
    }

    fn topic(self, topic: String) -> TopicChange {
        TopicChange {
            room: self.room,
            id: self.id,
            user: self.user,
            ts: self.ts,
            reference: self.reference,
            topic,
        }
    }

    fn role(self, subject: UserName, role: Role) -> RoleChange {
        RoleChange {
            room: self.room,
            id: self.id,
            user: self.user,
            ts: self.ts,
            reference: self.reference,
            subject: subject.into_string(),
            role,
        }
    }

    fn removal(self, subject: UserName, reason: Option<String>) -> Removal {
        Removal {
            room: self.room,
            id: self.id,
            user: self.user,
            ts: self.ts,
            reference: self.reference,
            subject: subject.into_string(),
            reason,
        }
    }

    fn admittance(self, subject: UserName) -> Admittance {
        Admittance {
            room: self.room,
            id: self.id,
            user: self.user,
            ts: self.ts,
            reference: self.reference,
            subject: subject.into_string(),
        }
    }

    fn settings(self, private: bool) -> SettingsChange {
        SettingsChange {
            room: self.room,
            id: self.id,
            user: self.user,
            ts: self.ts,
            reference: self.reference,
            private,
        }
    }
}
