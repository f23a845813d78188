//! The chat wire protocol, version 1: every frame a client or server sends,
//! the rules for names and text, and the error codes.
//!
//! # Layout
//! - [`frame`]: the client and server frame enums (JSON objects tagged on `type`).
//! - [`codec`]: `encode` / `decode` with a typed [`DecodeError`] that never panics.
//! - [`names`]: user and room names, message text and `ref` validation.
//! - [`limits`]: every numeric limit of the protocol, in one place.
//!
//! This crate is data only: no sockets, no runtime. The server, the terminal
//! client, the tests and the load generator all speak the protocol through it.

pub mod codec;
pub mod frame;
pub mod limits;
pub mod names;

pub use codec::{
    ClientRequest, DecodeError, DecodeErrorKind, decode_client, decode_client_request,
    decode_server, encode, reference_of,
};
pub use frame::{ClientFrame, ErrorCode, Message, RoomInfo, ServerFrame};
pub use names::{NameError, RoomName, TextError, UserName, validate_ref, validate_text};
