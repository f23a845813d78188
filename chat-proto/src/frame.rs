//! Every frame of the protocol as a Rust type: [`ClientFrame`] for what a
//! client sends, [`ServerFrame`] for what the server sends. Both are JSON
//! objects internally tagged on `type`; unknown extra fields are ignored.
//!
//! Names and text are plain `String`s here because a frame with a bad name
//! is still a well-formed frame: the server answers it with `invalid_name`,
//! not `bad_frame`. The rules live in [`crate::names`].

use serde::{Deserialize, Serialize};

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
    /// Join a room (creating it when new). `since` asks for the messages
    /// after that id instead of the newest ones.
    Join {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Send a message to a joined room.
    Message {
        room: String,
        text: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
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
    /// List every room on the server.
    Rooms,
}

impl ClientFrame {
    /// The frame's `ref`, echoed on any error it causes.
    pub fn reference(&self) -> Option<&str> {
        match self {
            ClientFrame::Message { reference, .. } => reference.as_deref(),
            _ => None,
        }
    }
}

/// A stored chat message as it travels to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub room: String,
    pub id: u64,
    pub user: String,
    pub text: String,
    /// Milliseconds since the Unix epoch (UTC), stamped by the server.
    pub ts: i64,
    /// The sender's `ref`, present only on the sender's own copy.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// One row of a `rooms` listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub name: String,
    /// Distinct users now in the room.
    pub members: u32,
    /// Newest message id in the room, 0 when it has none.
    pub last_id: u64,
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
    },
    Joined {
        room: String,
        members: Vec<String>,
        history: Vec<Message>,
        more: bool,
        last_id: u64,
    },
    Join {
        room: String,
        user: String,
        ts: i64,
    },
    Leave {
        room: String,
        user: String,
        ts: i64,
    },
    Message(Message),
    History {
        room: String,
        messages: Vec<Message>,
        more: bool,
    },
    Rooms {
        rooms: Vec<RoomInfo>,
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
