//! Every frame of the protocol as a Rust type: [`ClientFrame`] for what a
//! client sends, [`ServerFrame`] for what the server sends. Both are JSON
//! objects internally tagged on `type`; unknown extra fields are ignored.
//!
//! Names and text are plain `String`s here because a frame with a bad name
//! is still a well-formed frame: the server answers it with `invalid_name`,
//! not `bad_frame`. The rules live in [`crate::names`] and [`crate::rules`].
//!
//! Protocol-2 additions to protocol-1 frames are optional fields left out
//! when absent (or false), so a protocol-1 frame encodes exactly as before
//! and a protocol-1 peer decodes everything it knew.

use serde::{Deserialize, Serialize};

use crate::entry::{
    Admittance, Delete, Edit, Entry, Message, Reaction, Removal, RoleChange, SettingsChange,
    TopicChange, is_false, known_entries,
};
use crate::role::Role;

/// A frame a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// The first frame of a session. With a password it logs in, or
    /// registers the name when it is new.
    Hello {
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
    /// Join a room (creating it when new). `since` asks for the entries
    /// after that id instead of the newest ones.
    Join {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Send a message to a joined room or a conversation.
    Message {
        room: String,
        text: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// Protocol 2: the message of the same room this one answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<u64>,
        /// Protocol 2: an action (`/me waves`).
        #[serde(default, skip_serializing_if = "is_false")]
        action: bool,
    },
    /// Leave a joined room.
    Leave { room: String },
    /// Page through a joined room's history: backwards with `before`,
    /// forwards with `after`, the newest page with neither.
    History {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// List rooms. Protocol 2: `mine` asks for the session's own rooms and
    /// conversations; otherwise a page of rooms in name order whose name
    /// contains `query`, after the name `after`. [`ClientFrame::rooms`] is
    /// the plain request. Like the other protocol-1 frames but `message`,
    /// it has no typed `ref`: one of any JSON type is ignored, as in
    /// protocol 1, and an error echoes it through [`crate::reference_of`].
    Rooms {
        #[serde(default, skip_serializing_if = "is_false")]
        mine: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// Protocol 2: replace the text of one's own message `target`.
    Edit {
        room: String,
        target: u64,
        text: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Protocol 2: delete message `target`, erasing its text.
    Delete {
        room: String,
        target: u64,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Protocol 2: react to message `target` with `emoji`.
    React {
        room: String,
        target: u64,
        emoji: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Protocol 2: take back a reaction.
    Unreact {
        room: String,
        target: u64,
        emoji: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Protocol 2: set the room's topic (`""` clears it).
    Topic {
        room: String,
        topic: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Protocol 2: give `subject` a role; `owner` hands the room over. A
    /// role outside the three fails to decode (`bad_frame`).
    Role {
        room: String,
        subject: String,
        role: Role,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Protocol 2: put `subject` out of the room.
    Kick {
        room: String,
        subject: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Protocol 2: kick `subject` and refuse its later joins.
    Ban {
        room: String,
        subject: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Protocol 2: lift a ban.
    Unban {
        room: String,
        subject: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Protocol 2: add `subject` to a private room's access list.
    Invite {
        room: String,
        subject: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Protocol 2: make the room private or public.
    Settings {
        room: String,
        private: bool,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Protocol 2: delete the room with its entries and memberships.
    DeleteRoom {
        room: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Protocol 2: the newest entry the user has read in `room`.
    Read {
        room: String,
        id: u64,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Protocol 2: the user is typing in `room`.
    Typing {
        room: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Protocol 2: find messages matching every word of `query`, in `room`
    /// (ids below `before`) or in every readable room (`ts` below
    /// `before_ts`).
    Search {
        query: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_ts: Option<i64>,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
}

impl ClientFrame {
    /// A plain protocol-1 `message`: no reply, not an action.
    pub fn message(room: &str, text: &str, reference: Option<String>) -> Self {
        ClientFrame::Message {
            room: room.to_owned(),
            text: text.to_owned(),
            reference,
            reply_to: None,
            action: false,
        }
    }

    /// The plain `rooms` request: the first page of every listed room.
    pub fn rooms() -> Self {
        ClientFrame::Rooms {
            mine: false,
            query: None,
            limit: None,
            after: None,
        }
    }

    /// The frame's `ref`, echoed on any error it causes.
    pub fn reference(&self) -> Option<&str> {
        match self {
            ClientFrame::Hello { .. }
            | ClientFrame::Join { .. }
            | ClientFrame::Leave { .. }
            | ClientFrame::History { .. }
            | ClientFrame::Rooms { .. } => None,
            ClientFrame::Message { reference, .. }
            | ClientFrame::Edit { reference, .. }
            | ClientFrame::Delete { reference, .. }
            | ClientFrame::React { reference, .. }
            | ClientFrame::Unreact { reference, .. }
            | ClientFrame::Topic { reference, .. }
            | ClientFrame::Role { reference, .. }
            | ClientFrame::Kick { reference, .. }
            | ClientFrame::Ban { reference, .. }
            | ClientFrame::Unban { reference, .. }
            | ClientFrame::Invite { reference, .. }
            | ClientFrame::Settings { reference, .. }
            | ClientFrame::DeleteRoom { reference, .. }
            | ClientFrame::Read { reference, .. }
            | ClientFrame::Typing { reference, .. }
            | ClientFrame::Search { reference, .. } => reference.as_deref(),
        }
    }

    /// The frame's room field, when it has one, for a server to rewrite a
    /// conversation's shorthand (`@bob`) before parsing it.
    pub fn room_mut(&mut self) -> Option<&mut String> {
        match self {
            ClientFrame::Hello { .. } | ClientFrame::Rooms { .. } => None,
            ClientFrame::Search { room, .. } => room.as_mut(),
            ClientFrame::Join { room, .. }
            | ClientFrame::Leave { room }
            | ClientFrame::History { room, .. }
            | ClientFrame::Message { room, .. }
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

    /// The frame's `type` as named on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientFrame::Hello { .. } => "hello",
            ClientFrame::Join { .. } => "join",
            ClientFrame::Message { .. } => "message",
            ClientFrame::Leave { .. } => "leave",
            ClientFrame::History { .. } => "history",
            ClientFrame::Rooms { .. } => "rooms",
            ClientFrame::Edit { .. } => "edit",
            ClientFrame::Delete { .. } => "delete",
            ClientFrame::React { .. } => "react",
            ClientFrame::Unreact { .. } => "unreact",
            ClientFrame::Topic { .. } => "topic",
            ClientFrame::Role { .. } => "role",
            ClientFrame::Kick { .. } => "kick",
            ClientFrame::Ban { .. } => "ban",
            ClientFrame::Unban { .. } => "unban",
            ClientFrame::Invite { .. } => "invite",
            ClientFrame::Settings { .. } => "settings",
            ClientFrame::DeleteRoom { .. } => "delete_room",
            ClientFrame::Read { .. } => "read",
            ClientFrame::Typing { .. } => "typing",
            ClientFrame::Search { .. } => "search",
        }
    }

    /// The protocol version that introduced the frame's `type`.
    pub fn protocol(&self) -> u32 {
        match self {
            ClientFrame::Hello { .. }
            | ClientFrame::Join { .. }
            | ClientFrame::Message { .. }
            | ClientFrame::Leave { .. }
            | ClientFrame::History { .. }
            | ClientFrame::Rooms { .. } => 1,
            _ => 2,
        }
    }
}

/// One row of a `rooms` listing. The protocol-2 fields are absent from a
/// protocol-1 server's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub name: String,
    /// Distinct users now in the room.
    pub members: u32,
    /// Newest entry id in the room, 0 when it has none.
    pub last_id: u64,
    /// Protocol 2: where the user stopped reading; in `rooms mine` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_id: Option<u64>,
    /// Protocol 2: the room's topic, `""` when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Protocol 2: whether the room is private (conversations always are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<bool>,
}

impl RoomInfo {
    /// A protocol-1 row: name, member count and newest id only.
    pub fn new(name: impl Into<String>, members: u32, last_id: u64) -> Self {
        Self {
            name: name.into(),
            members,
            last_id,
            read_id: None,
            topic: None,
            private: None,
        }
    }
}

/// What protocol 2 adds to `joined`: the room's state and the joiner's
/// place in it. A protocol-1 server sends none of it; a protocol-2 server
/// sends all of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomDetails {
    /// `""` when the room has none.
    pub topic: String,
    /// The owner's name, `null` for a guest-made room or a conversation.
    pub owner: Option<String>,
    pub ops: Vec<String>,
    pub private: bool,
    /// The joiner's role.
    pub role: Role,
    /// The newest entry the joiner has read.
    pub read_id: u64,
}

/// A frame the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Welcome {
        user: String,
        guest: bool,
        registered: bool,
        protocol: u32,
        server: String,
        /// Protocol 2: the session is a server admin's.
        #[serde(default, skip_serializing_if = "is_false")]
        admin: bool,
    },
    Joined {
        room: String,
        members: Vec<String>,
        #[serde(deserialize_with = "known_entries")]
        history: Vec<Entry>,
        more: bool,
        last_id: u64,
        /// Protocol 2: topic, owner, ops, privacy, role and read marker.
        /// Decoded only when all of them are there and well-formed.
        #[serde(flatten)]
        details: Option<RoomDetails>,
    },
    /// Presence: a user's first connection entered the room.
    Join {
        room: String,
        user: String,
        ts: i64,
    },
    /// Presence: a user's last connection left the room.
    Leave {
        room: String,
        user: String,
        ts: i64,
    },
    Message(Message),
    Edit(Edit),
    Delete(Delete),
    React(Reaction),
    Unreact(Reaction),
    Topic(TopicChange),
    Role(RoleChange),
    Kick(Removal),
    Ban(Removal),
    Unban(Admittance),
    Invite(Admittance),
    Settings(SettingsChange),
    History {
        room: String,
        #[serde(deserialize_with = "known_entries")]
        messages: Vec<Entry>,
        more: bool,
    },
    /// A listing. Protocol 2: `mine` answers `rooms mine`; `more` says the
    /// page was cut at its limit.
    Rooms {
        #[serde(default, skip_serializing_if = "is_false")]
        mine: bool,
        rooms: Vec<RoomInfo>,
        #[serde(default, skip_serializing_if = "is_false")]
        more: bool,
    },
    /// Protocol 2: `user` deleted the room; the connection is out of it.
    RoomDeleted {
        room: String,
        user: String,
        ts: i64,
    },
    /// Protocol 2: the user's read marker in `room` moved to `id` (sent to
    /// the user's other connections).
    Read {
        room: String,
        id: u64,
    },
    /// Protocol 2: `user` is typing in `room`.
    Typing {
        room: String,
        user: String,
    },
    /// Protocol 2: the answer to `search`, newest first, each message in
    /// its page state and with its `room`.
    Search {
        query: String,
        messages: Vec<Message>,
        more: bool,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// On a `rate_limited` refusal that will pass with time (failed
        /// logins, new accounts from one address): how long to wait, in
        /// milliseconds, before asking again. Absent everywhere else, so a
        /// protocol-1 error encodes exactly as before.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
}

impl ServerFrame {
    /// An `error` frame.
    pub fn error(code: ErrorCode, message: impl Into<String>, reference: Option<String>) -> Self {
        ServerFrame::Error {
            code,
            message: message.into(),
            reference,
            retry_after_ms: None,
        }
    }

    /// An `error` frame that says when the request may be made again.
    pub fn error_with_retry(
        code: ErrorCode,
        message: impl Into<String>,
        reference: Option<String>,
        retry_after_ms: u64,
    ) -> Self {
        ServerFrame::Error {
            code,
            message: message.into(),
            reference,
            retry_after_ms: Some(retry_after_ms),
        }
    }
}

impl From<Entry> for ServerFrame {
    /// The live frame that delivers an entry.
    fn from(entry: Entry) -> Self {
        match entry {
            Entry::Message(e) => ServerFrame::Message(e),
            Entry::Edit(e) => ServerFrame::Edit(e),
            Entry::Delete(e) => ServerFrame::Delete(e),
            Entry::React(e) => ServerFrame::React(e),
            Entry::Unreact(e) => ServerFrame::Unreact(e),
            Entry::Topic(e) => ServerFrame::Topic(e),
            Entry::Role(e) => ServerFrame::Role(e),
            Entry::Kick(e) => ServerFrame::Kick(e),
            Entry::Ban(e) => ServerFrame::Ban(e),
            Entry::Unban(e) => ServerFrame::Unban(e),
            Entry::Invite(e) => ServerFrame::Invite(e),
            Entry::Settings(e) => ServerFrame::Settings(e),
        }
    }
}

impl TryFrom<ServerFrame> for Entry {
    /// A frame that is not a room-stream entry comes back unchanged.
    type Error = ServerFrame;

    fn try_from(frame: ServerFrame) -> Result<Self, ServerFrame> {
        Ok(match frame {
            ServerFrame::Message(e) => Entry::Message(e),
            ServerFrame::Edit(e) => Entry::Edit(e),
            ServerFrame::Delete(e) => Entry::Delete(e),
            ServerFrame::React(e) => Entry::React(e),
            ServerFrame::Unreact(e) => Entry::Unreact(e),
            ServerFrame::Topic(e) => Entry::Topic(e),
            ServerFrame::Role(e) => Entry::Role(e),
            ServerFrame::Kick(e) => Entry::Kick(e),
            ServerFrame::Ban(e) => Entry::Ban(e),
            ServerFrame::Unban(e) => Entry::Unban(e),
            ServerFrame::Invite(e) => Entry::Invite(e),
            ServerFrame::Settings(e) => Entry::Settings(e),
            other => return Err(other),
        })
    }
}

/// The `code` of an `error` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadFrame,
    UnknownType,
    NotAuthenticated,
    AlreadyAuthenticated,
    AuthFailed,
    AuthRequired,
    NameTaken,
    InvalidName,
    InvalidText,
    NotInRoom,
    RateLimited,
    Internal,
    /// Protocol 2: the session may not do that there.
    Forbidden,
    /// Protocol 2: no such message, user or room.
    NotFound,
    /// Protocol 2: the request would change nothing.
    Unchanged,
    /// A code this version does not know, from a newer server.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::NotAuthenticated => "not_authenticated",
            ErrorCode::AlreadyAuthenticated => "already_authenticated",
            ErrorCode::AuthFailed => "auth_failed",
            ErrorCode::AuthRequired => "auth_required",
            ErrorCode::NameTaken => "name_taken",
            ErrorCode::InvalidName => "invalid_name",
            ErrorCode::InvalidText => "invalid_text",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Unchanged => "unchanged",
            ErrorCode::Unknown => "unknown",
        }
    }

    /// Whether the server closes the connection after sending this code.
    pub fn closes_connection(self) -> bool {
        matches!(
            self,
            ErrorCode::AuthFailed | ErrorCode::AuthRequired | ErrorCode::NameTaken
        )
    }
}
