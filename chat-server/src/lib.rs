//! chat-server: a real-time chat server speaking the protocol of
//! `chat-proto` over WebSocket, storing every message before it is
//! acknowledged.
//!
//! # Layout
//! - [`config`]: command-line flags and the runtime [`config::Config`].
//! - [`server`]: the listener, accept loop, handshake and shutdown order.
//! - [`http`]: request heads, `/healthz`, `/metrics`, the WebSocket upgrade.
//! - [`connection`]: one session: frames in, outbox out, limits, close codes.
//! - [`registry`]: rooms, presence and fan-out of committed messages.
//! - [`store`]: the [`store::MessageStore`] seam, its SQLite writer thread
//!   (one node) and its PostgreSQL form (a cluster's shared store).
//! - [`broker`]: the cross-node seam (fan-out, members, guest names), its
//!   local form and its Redis form (cluster fan-out, presence, guest names).
//! - [`accounts`]: hello admission, guest names, argon2 password hashes.
//! - [`limits`]: the rate limiter and fixed sizes.
//! - [`metrics`]: counters for `/metrics`.
//! - [`shutdown`]: the shutdown signal and the drop guard tasks hold.
//! - [`web`]: the embedded browser client, its headers, the `Origin` check.
//!
//! The binary only parses flags, opens the [`server::Backend`], binds and
//! calls [`server::run`]; a test can do the same on `127.0.0.1:0`.

pub mod accounts;
pub mod broker;
pub mod clock;
pub mod config;
pub mod connection;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod registry;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod web;

/// The `server` string announced in `welcome`.
pub const SERVER_NAME: &str = concat!("chat-server ", env!("CARGO_PKG_VERSION"));
