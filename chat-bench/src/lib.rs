//! chat-bench: a load generator that speaks the chat protocol as many guest
//! clients and measures the server's throughput, latency, memory and CPU.
//!
//! # Layout
//! - [`scenario`]: the scenarios (`idle`, `fanout`, `persist`, `join`) and
//!   how their measurements become a report.
//! - [`search`]: the `search` mode: a room seeded through the server,
//!   then `search` latency, one request at a time.
//! - [`fleet`]: a run's connections, opened in paced batches and moved
//!   through the run's phases together.
//! - [`driver`]: the one task per connection: receive, send, count.
//! - [`client`]: connection setup (handshake, `hello`, `join`) with timeouts.
//! - [`wire`]: the receive fast path and the timestamped message text.
//! - [`stats`]: per-connection counters and the shared latency histogram.
//! - [`floor`]: the floor mode, loopback TCP with one write per frame and
//!   no server: what the kernel charges per delivery.
//! - [`procfs`]: the server's RSS and CPU time from `/proc`, and a
//!   thread's own CPU time.
//! - [`report`]: the human table and the JSON line.

pub mod client;
pub mod driver;
pub mod fleet;
pub mod floor;
pub mod procfs;
pub mod report;
pub mod scenario;
pub mod search;
pub mod stats;
pub mod wire;
