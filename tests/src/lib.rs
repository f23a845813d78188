//! Shared fixtures for the end-to-end tests: the real `chat-server` binary
//! as a child process, a scripted WebSocket client, raw HTTP requests and
//! read-only access to the server's database.
//!
//! # Layout
//! - [`server`]: [`ServerProcess`] (start on port 0, signals, restart, log).
//! - [`client`]: [`TestClient`] (send frames, expect frames, barriers, closes).
//! - [`cluster`]: private PostgreSQL and Redis servers and nodes sharing them.
//! - [`http`]: hand-written HTTP requests on a raw TCP socket.
//! - [`db`]: read-only queries on the server's SQLite file.
//! - [`metrics`]: `GET /metrics` parsed as Prometheus text.
//!
//! Every wait in these fixtures has a timeout; none sleeps to "wait enough".

pub mod client;
pub mod cluster;
pub mod db;
pub mod http;
pub mod metrics;
pub mod server;
pub mod tui;

pub use client::{
    Ending, ErrorReply, Joined, TestClient, Welcome, bulky_text, ids, join_in_order, message_burst,
    messages_only, room_info,
};
pub use server::{ProcessMemory, ServerOptions, ServerProcess, run_server_to_exit};
