//! The room stream's domain types at the storage seam: [`NewEntry`] (what a
//! session asks to add to a room's stream), its [`Change`], the
//! [`Outcome`] a receipt resolves to, and [`Committed`], what fan-out
//! hears once an entry is durable.
//!
//! Every kind of entry takes its id from the room's one sequence; a
//! refused request takes none, so ids stay gapless.

use chat_proto::{Entry, ErrorCode, Message, RoomName, UserName};
use serde::{Deserialize, Serialize};

use super::ConnId;

/// Who asks for an entry: the session's name, and whether the operator
/// named it a server admin (which only a registered session can be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: UserName,
    pub admin: bool,
}

impl Actor {
    /// An actor who is not a server admin.
    pub fn member(name: UserName) -> Self {
        Self { name, admin: false }
    }
}

/// What an entry changes in its room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Message { text: String },
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
            change: Change::Message { text: message.text },
            reference: message.reference,
            origin: message.origin,
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
    /// Not stored: the room's rules forbid it. No id was used.
    Refused(Refusal),
}

/// What fan-out carries for one committed id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamEvent {
    /// An entry, carrying the actor's `ref` when it had one.
    Entry(Entry),
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
        }
    }
}

impl Committed {
    /// A committed event; room and id are read from it.
    pub fn new(event: StreamEvent, origin: ConnId) -> Self {
        let (room, id) = match &event {
            StreamEvent::Entry(entry) => (entry.room().to_owned(), entry.id()),
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
        let room = self.room.into_string();
        let user = self.actor.name.into_string();
        let entry = match self.change {
            Change::Message { text } => Entry::Message(Message {
                room,
                id,
                user,
                text,
                ts,
                reference: self.reference,
                ..Message::default()
            }),
        };
        Committed::entry(entry, self.origin)
    }
}
