//! Counters and gauges the server exposes at `GET /metrics` in the
//! Prometheus text format. Plain atomics: they are bumped on hot paths and
//! read only when scraped.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds, in seconds, of the store commit latency histogram buckets.
const COMMIT_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    pub connections_open: AtomicU64,
    pub guest_sessions: AtomicU64,
    pub account_sessions: AtomicU64,
    pub rooms_active: AtomicU64,
    pub frames_in: AtomicU64,
    pub frames_out: AtomicU64,
    pub messages_stored: AtomicU64,
    pub slow_consumers_dropped: AtomicU64,
    pub rate_limited_frames: AtomicU64,
    pub connections_refused: AtomicU64,
    pub handshake_timeouts: AtomicU64,
    /// Hellos with a wrong password for an account.
    pub logins_failed: AtomicU64,
    /// Hellos refused by the login limits, one counter per limit.
    pub logins_throttled: AtomicU64,
    pub registrations_refused: AtomicU64,
    pub hash_queue_refused: AtomicU64,
    pub account_sessions_refused: AtomicU64,
    commit_buckets: [AtomicU64; COMMIT_BUCKETS.len()],
    commit_count: AtomicU64,
    commit_micros_sum: AtomicU64,
}

/// Which kind of session a gauge change is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Guest,
    Account,
}

impl Metrics {
    pub fn session_started(&self, kind: SessionKind) {
        self.session_gauge(kind).fetch_add(1, Relaxed);
    }

    pub fn session_ended(&self, kind: SessionKind) {
        self.session_gauge(kind).fetch_sub(1, Relaxed);
    }

    fn session_gauge(&self, kind: SessionKind) -> &AtomicU64 {
        match kind {
            SessionKind::Guest => &self.guest_sessions,
            SessionKind::Account => &self.account_sessions,
        }
    }

    /// Records one store transaction and how many messages it stored.
    pub fn record_commit(&self, took: Duration, messages: usize) {
        let seconds = took.as_secs_f64();
        for (bound, bucket) in COMMIT_BUCKETS.iter().zip(&self.commit_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.commit_count.fetch_add(1, Relaxed);
        self.commit_micros_sum
            .fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Relaxed);
        self.messages_stored.fetch_add(messages as u64, Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "chat_connections_open",
            "gauge",
            "Open WebSocket connections.",
            self.connections_open.load(Relaxed),
        );
        metric(
            "chat_rooms_active",
            "gauge",
            "Rooms with at least one member connected.",
            self.rooms_active.load(Relaxed),
        );
        metric(
            "chat_frames_in_total",
            "counter",
            "WebSocket frames received from clients (data frames and pings).",
            self.frames_in.load(Relaxed),
        );
        metric(
            "chat_frames_out_total",
            "counter",
            "Frames queued to clients.",
            self.frames_out.load(Relaxed),
        );
        metric(
            "chat_messages_stored_total",
            "counter",
            "Chat messages committed to storage.",
            self.messages_stored.load(Relaxed),
        );
        metric(
            "chat_slow_consumers_dropped_total",
            "counter",
            "Connections closed because they did not read their frames.",
            self.slow_consumers_dropped.load(Relaxed),
        );
        metric(
            "chat_rate_limited_frames_total",
            "counter",
            "Frames dropped by the rate limit.",
            self.rate_limited_frames.load(Relaxed),
        );
        metric(
            "chat_connections_refused_total",
            "counter",
            "WebSocket upgrades refused because the server was full.",
            self.connections_refused.load(Relaxed),
        );
        metric(
            "chat_handshake_timeouts_total",
            "counter",
            "Connections closed for not finishing the handshake or hello in time.",
            self.handshake_timeouts.load(Relaxed),
        );
        metric(
            "chat_logins_failed_total",
            "counter",
            "Hellos with a wrong password for an account.",
            self.logins_failed.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP chat_hellos_refused_total Hellos refused with rate_limited by a login limit.\n\
             # TYPE chat_hellos_refused_total counter\n\
             chat_hellos_refused_total{{limit=\"failed_logins\"}} {}\n\
             chat_hellos_refused_total{{limit=\"accounts_per_hour\"}} {}\n\
             chat_hellos_refused_total{{limit=\"hashes_per_address\"}} {}\n\
             chat_hellos_refused_total{{limit=\"sessions_per_account\"}} {}",
            self.logins_throttled.load(Relaxed),
            self.registrations_refused.load(Relaxed),
            self.hash_queue_refused.load(Relaxed),
            self.account_sessions_refused.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP chat_sessions Authenticated sessions by kind.\n# TYPE chat_sessions gauge\n\
             chat_sessions{{kind=\"guest\"}} {}\nchat_sessions{{kind=\"account\"}} {}",
            self.guest_sessions.load(Relaxed),
            self.account_sessions.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP chat_store_commit_seconds Store transaction latency.\n# TYPE chat_store_commit_seconds histogram"
        );
        for (bound, bucket) in COMMIT_BUCKETS.iter().zip(&self.commit_buckets) {
            let _ = writeln!(
                out,
                "chat_store_commit_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Relaxed)
            );
        }
        let count = self.commit_count.load(Relaxed);
        let _ = writeln!(
            out,
            "chat_store_commit_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "chat_store_commit_seconds_sum {}\nchat_store_commit_seconds_count {count}",
            self.commit_micros_sum.load(Relaxed) as f64 / 1e6
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let metrics = Metrics::default();
        metrics.record_commit(Duration::from_micros(300), 5);
        metrics.record_commit(Duration::from_millis(30), 1);
        metrics.session_started(SessionKind::Guest);
        let text = metrics.render();
        assert!(text.contains("chat_messages_stored_total 6\n"), "{text}");
        assert!(text.contains("chat_sessions{kind=\"guest\"} 1\n"), "{text}");
        assert!(
            text.contains("chat_store_commit_seconds_bucket{le=\"0.0005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("chat_store_commit_seconds_bucket{le=\"0.05\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("chat_store_commit_seconds_count 2\n"),
            "{text}"
        );
    }
}
