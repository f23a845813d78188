//! `chat-tui`: a keyboard-driven terminal client for chat-server that never
//! loses a message and never shows one twice.
//!
//! # Layout
//! Elm-style: plain state, one action enum, a pure update that returns
//! effects, and draw functions that only read the state.
//! - [`app`]: the state (rooms, messages, unread counts, input, outbox).
//! - [`action`]: every input as one enum (key, paste, resize, network, tick).
//! - [`event`]: one `select!` over terminal events, the network and a timer.
//! - [`keybind`]: the key bindings in effect (the table's defaults and
//!   the config file's changes).
//! - [`keymap`]: every key and `/command`, one table each, read by both
//!   [`update`] and the help page.
//! - [`update`]: state changes; returns [`update::Effect`]s, performs none.
//!   Its module docs explain the reconnection guarantees.
//! - [`ui`]: drawing, generic over the ratatui backend.
//! - [`net`]: the WebSocket task with capped, jittered backoff.
//! - [`notify`]: the bell and desktop notifications, as terminal output.
//! - [`tls`]: what a `wss://` server is verified against, and TLS
//!   failures told in one line.
//! - [`tui`]: the terminal guard (restored on drop and on panic).
//! - [`state`]: per-user, per-server saved state, written atomically.
//! - [`config`]: flags, the config file and defaults.
//! - [`editor`]: composing a message in `$VISUAL` / `$EDITOR`.
//! - [`sanitize`]: control characters from the network made inert.
//! - [`text`]: display widths and cutting text to a width.
//! - [`client`]: the runner that wires all of the above together.

pub mod action;
pub mod app;
pub mod client;
pub mod config;
pub mod editor;
pub mod event;
pub mod keybind;
pub mod keymap;
pub mod net;
pub mod notify;
pub mod sanitize;
pub mod state;
pub mod text;
pub mod tls;
pub mod tui;
pub mod ui;
pub mod update;

pub use client::run;
