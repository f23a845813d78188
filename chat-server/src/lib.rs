//! chat-server: a real-time chat server speaking the protocol of
//! `chat-proto` over WebSocket, storing every message before it is
//! acknowledged.
//!
//! # Layout
//! - [`config`]: command-line flags and the runtime [`config::Config`].
//! - [`server`]: the [`server::Backend`], the listener and accept loop, each
//!   connection's HTTP handshake, and the shutdown order.
//! - [`http`]: request heads, the one pure function that answers `/healthz`,
//!   `/metrics` and refusals, its writer, and the WebSocket upgrade.
//! - [`tls`]: the certificate files (re-read on SIGHUP) and the one
//!   [`tls::Stream`] a connection is served over, plain TCP or TLS.
//! - [`session`]: one WebSocket session: its loop, socket and keep-alive
//!   (`session/socket.rs`), frames made into a typed command once, and one
//!   file per request kind (`hello`, `join`, `message`, `leave`, `history`,
//!   `rooms`).
//! - [`shared`]: the state every session holds a handle to.
//! - [`registry`]: rooms, presence and fan-out of committed messages.
//! - [`outbox`]: a connection's queue of pre-framed frames, written by
//!   whoever queues them while the socket takes them.
//! - [`store`]: the [`store::MessageStore`] seam, the rules both stores
//!   share (group commit, the commit stream to fan-out, paging), its SQLite
//!   form (one node: writer and reader threads) and its PostgreSQL form (a
//!   cluster's shared store).
//! - [`broker`]: the cross-node seam (members, guest names, cluster
//!   fan-out), its local form and its Redis form.
//! - [`accounts`]: hello admission, guest names, argon2 password hashes,
//!   sessions per account.
//! - [`login_limits`]: failed-password throttle, new accounts per address.
//! - [`hash_queue`]: the hashing queue, fair between addresses.
//! - [`limits`]: the per-session rate limit and fixed sizes.
//! - [`address_limits`]: fair shares per address of handshakes, sessions
//!   and half-finished frames, and the log that names offenders once.
//! - [`metrics`]: counters for `/metrics`.
//! - [`shutdown`]: the shutdown signal and the drop guard tasks hold.
//! - [`sweep`]: rooms that never held a message are forgotten once empty.
//! - [`sync`]: the one poison-tolerant lock helper.
//! - [`web`]: the embedded browser client, its headers, the `Origin` check.
//!
//! The binary only parses flags, opens the [`server::Backend`], binds and
//! calls [`server::run`]; a test can do the same on `127.0.0.1:0`.

pub mod accounts;
pub mod address_limits;
pub mod broker;
pub mod clock;
pub mod config;
pub mod hash_queue;
pub mod http;
pub mod limits;
pub mod login_limits;
pub mod metrics;
pub mod operator;
pub mod outbox;
pub mod registry;
pub mod server;
pub mod session;
pub mod shared;
pub mod shutdown;
pub mod store;
pub mod sweep;
pub mod sync;
pub mod tls;
pub mod web;

/// The `server` string announced in `welcome`.
pub const SERVER_NAME: &str = concat!("chat-server ", env!("CARGO_PKG_VERSION"));
