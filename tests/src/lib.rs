//! Shared fixtures for the end-to-end tests: the real `chat-server` binary
//! as a child process or its library in-process, a scripted WebSocket
//! client, raw HTTP requests and read-only access to the server's database.
//!
//! # Layout
//! - [`process`]: [`ChildProcess`], the one child-process fixture (spawn,
//!   log draining, ready line, signals, reap, log dump on failure).
//! - [`browser`]: chromedriver, headless Chromium pages on the web client.
//! - [`server`]: [`ServerProcess`] (start on port 0, signals, restart, log).
//! - [`in_process`]: [`start_server`], the library on 127.0.0.1:0 inside
//!   the test process, for tests that need no signals or restarts.
//! - [`client`]: [`TestClient`] (send frames, expect frames, barriers,
//!   closes; optionally ignoring a cluster's stale presence).
//! - [`cluster`]: private PostgreSQL and Redis servers and nodes sharing them.
//! - [`tui`]: the `chat-tui` binary on a pseudo-terminal, and a relay.
//! - [`http`]: hand-written HTTP requests on a raw TCP socket.
//! - [`tls`]: self-signed certificates (`rcgen`), a client configuration
//!   trusting them, HTTP over TLS.
//! - [`db`]: read-only queries on the server's SQLite file.
//! - [`metrics`]: `GET /metrics` parsed as Prometheus text.
//!
//! Every wait in these fixtures has a timeout; none sleeps to "wait enough".

pub mod browser;
pub mod client;
pub mod cluster;
pub mod db;
pub mod http;
pub mod in_process;
pub mod metrics;
pub mod process;
pub mod server;
pub mod tls;
pub mod tui;

pub use client::{
    Ending, ErrorReply, Joined, TestClient, Welcome, bulky_text, ids, join_in_order, message_burst,
    messages_only, room_info,
};
pub use in_process::{InProcessServer, start_server, start_server_with};
pub use process::{ChildProcess, Signal};
pub use server::{ProcessMemory, ServerOptions, ServerProcess, run_server_to_exit};
