//! The chat wire protocol, versions 1 and 2: every frame a client or server
//! sends, the rules for names, text and the other fields, and the error codes.
//!
//! # Layout
//! - [`frame`]: the client and server frame enums (JSON objects tagged on `type`).
//! - [`entry`]: the room stream's entry kinds and the typed [`Entry`] pages carry.
//! - [`codec`]: `encode` / `decode` with a typed [`DecodeError`] that never panics.
//! - [`names`]: user and room names, case folding, message text and `ref` validation.
//! - [`conversation`]: direct conversations (`@alice+bob`) and room fields that may name one.
//! - [`role`]: `owner`, `op`, `member`.
//! - [`rules`]: topic, reason and emoji rules, and which error code answers a broken field.
//! - [`limits`]: every numeric limit of the protocol, in one place.
//!
//! This crate is data only: no sockets, no runtime. The server, the terminal
//! client, the tests and the load generator all speak the protocol through it.

pub mod codec;
pub mod conversation;
pub mod entry;
pub mod frame;
pub mod limits;
pub mod names;
pub mod role;
pub mod rules;

pub use codec::{
    ClientRequest, DecodeError, DecodeErrorKind, decode_client, decode_client_request,
    decode_server, encode, reference_of,
};
pub use conversation::{ConversationError, ConversationName, RoomError};
pub use entry::{
    Admittance, Delete, Edit, Entry, Message, Reaction, Removal, RoleChange, SettingsChange,
    TopicChange,
};
pub use frame::{ClientFrame, ErrorCode, RoomDetails, RoomInfo, ServerFrame};
pub use names::{
    FoldedName, NameError, RoomName, TextError, UserName, validate_ref, validate_text,
};
pub use role::{Role, RoleError};
pub use rules::{EmojiError, FieldError, validate_emoji, validate_reason, validate_topic};
