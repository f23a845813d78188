//! Counters and gauges the server exposes at `GET /metrics`, registered
//! once with a `prometheus-client` registry that renders them in the
//! Prometheus text format (0.0.4).
//!
//! Every series is created when the server starts, so the hot paths only
//! bump an `AtomicU64` the registry shares (no label lookup, no lock); the
//! registry reads the same atomics when scraped.

use std::ops::Deref;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds, in seconds, of the store commit latency histogram buckets.
const COMMIT_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// The label set of `chat_sessions`: `kind` = `guest` or `account`.
type SessionLabels = [(&'static str, &'static str); 1];
/// The label set of `chat_hellos_refused_total`: `limit` = which limit.
type LimitLabels = [(&'static str, &'static str); 1];
/// The label set of `chat_address_share_refused_total`: `pool` = which pool.
type PoolLabels = [(&'static str, &'static str); 1];

/// A counter series: the atomic the registry renders. It derefs to that
/// `AtomicU64`, so call sites count with `fetch_add(n, Relaxed)`.
#[derive(Debug, Clone, Default)]
pub struct CounterCell(Counter<u64, AtomicU64>);

impl Deref for CounterCell {
    type Target = AtomicU64;

    fn deref(&self) -> &AtomicU64 {
        self.0.inner()
    }
}

/// A gauge series, as [`CounterCell`] but free to go down (`fetch_sub`).
#[derive(Debug, Clone, Default)]
pub struct GaugeCell(Gauge<u64, AtomicU64>);

impl Deref for GaugeCell {
    type Target = AtomicU64;

    fn deref(&self) -> &AtomicU64 {
        self.0.inner()
    }
}

#[derive(Debug)]
pub struct Metrics {
    pub connections_open: GaugeCell,
    pub guest_sessions: GaugeCell,
    pub account_sessions: GaugeCell,
    pub rooms_active: GaugeCell,
    pub frames_in: CounterCell,
    pub frames_out: CounterCell,
    pub messages_stored: CounterCell,
    pub slow_consumers_dropped: CounterCell,
    pub rate_limited_frames: CounterCell,
    pub connections_refused: CounterCell,
    pub handshake_timeouts: CounterCell,
    /// Hellos with a wrong password for an account.
    pub logins_failed: CounterCell,
    /// Hellos refused by the login limits, one series per limit.
    pub logins_throttled: CounterCell,
    pub registrations_refused: CounterCell,
    pub hash_queue_refused: CounterCell,
    pub account_sessions_refused: CounterCell,
    pub store: StoreFaultSeries,
    pub net: ConnectionSeries,
    /// Observed once per store transaction (not per frame), under the
    /// histogram's own uncontended lock.
    commit_seconds: Histogram,
    registry: Registry,
}

/// Which kind of session a gauge change is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Guest,
    Account,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every series at zero, registered under its name and help text (the
    /// registry ends each help with a full stop and each counter's name
    /// with `_total`).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let [
            logins_throttled,
            registrations_refused,
            hash_queue_refused,
            account_sessions_refused,
        ] = hello_refusal_counters(&mut registry);
        let (guest_sessions, account_sessions) = session_gauges(&mut registry);
        let store = StoreFaultSeries::register(&mut registry);
        let net = ConnectionSeries::register(&mut registry);
        let commit_seconds = commit_histogram(&mut registry);
        Self {
            connections_open: gauge(
                &mut registry,
                "chat_connections_open",
                "Open WebSocket connections",
            ),
            guest_sessions,
            account_sessions,
            rooms_active: gauge(
                &mut registry,
                "chat_rooms_active",
                "Rooms with at least one member connected",
            ),
            frames_in: counter(
                &mut registry,
                "chat_frames_in",
                "WebSocket frames received from clients (data frames and pings)",
            ),
            frames_out: counter(&mut registry, "chat_frames_out", "Frames queued to clients"),
            messages_stored: counter(
                &mut registry,
                "chat_messages_stored",
                "Chat messages committed to storage",
            ),
            slow_consumers_dropped: counter(
                &mut registry,
                "chat_slow_consumers_dropped",
                "Connections closed because they did not read their frames",
            ),
            rate_limited_frames: counter(
                &mut registry,
                "chat_rate_limited_frames",
                "Frames the rate limit held back until their token was due",
            ),
            connections_refused: counter(
                &mut registry,
                "chat_connections_refused",
                "WebSocket upgrades refused because the server was full",
            ),
            handshake_timeouts: counter(
                &mut registry,
                "chat_handshake_timeouts",
                "Connections closed for not finishing the handshake or hello in time",
            ),
            logins_failed: counter(
                &mut registry,
                "chat_logins_failed",
                "Hellos with a wrong password for an account",
            ),
            logins_throttled,
            registrations_refused,
            hash_queue_refused,
            account_sessions_refused,
            store,
            net,
            commit_seconds,
            registry,
        }
    }

    pub fn session_started(&self, kind: SessionKind) {
        self.session_gauge(kind).0.inc();
    }

    pub fn session_ended(&self, kind: SessionKind) {
        self.session_gauge(kind).0.dec();
    }

    fn session_gauge(&self, kind: SessionKind) -> &GaugeCell {
        match kind {
            SessionKind::Guest => &self.guest_sessions,
            SessionKind::Account => &self.account_sessions,
        }
    }

    /// Records one store transaction and how many messages it stored.
    pub fn record_commit(&self, took: Duration, messages: usize) {
        self.commit_seconds.observe(took.as_secs_f64());
        self.messages_stored.0.inc_by(messages as u64);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // The encoder fails only when its writer does, and a String's
        // `write_str` cannot fail.
        prometheus_text::encode(&mut out, &self.registry)
            .expect("encoding metrics into a String cannot fail");
        out
    }
}

/// `chat_sessions{kind="guest"}` and `{kind="account"}`, both created up
/// front so each is shown (at 0) before its first session, and so a session
/// change bumps a gauge it holds instead of looking its labels up.
fn session_gauges(registry: &mut Registry) -> (GaugeCell, GaugeCell) {
    let sessions = Family::<SessionLabels, Gauge<u64, AtomicU64>>::default();
    let guest = GaugeCell(sessions.get_or_create_owned(&[("kind", "guest")]));
    let account = GaugeCell(sessions.get_or_create_owned(&[("kind", "account")]));
    registry.register("chat_sessions", "Authenticated sessions by kind", sessions);
    (guest, account)
}

/// A gauge registered under `name`.
fn gauge(registry: &mut Registry, name: &str, help: &str) -> GaugeCell {
    let cell = GaugeCell::default();
    registry.register(name, help, cell.0.clone());
    cell
}

/// A counter registered under `name` (rendered with `_total`).
fn counter(registry: &mut Registry, name: &str, help: &str) -> CounterCell {
    let cell = CounterCell::default();
    registry.register(name, help, cell.0.clone());
    cell
}

/// `chat_store_commit_seconds`, the store transaction latency histogram.
fn commit_histogram(registry: &mut Registry) -> Histogram {
    let histogram = Histogram::new(COMMIT_BUCKETS);
    registry.register(
        "chat_store_commit_seconds",
        "Store transaction latency",
        histogram.clone(),
    );
    histogram
}

/// What the per-address shares and the session's own limits count.
#[derive(Debug)]
pub struct ConnectionSeries {
    /// Sessions the rate limit slowed down (each counted once).
    pub sessions_throttled: CounterCell,
    /// Sessions closed for neither reading nor answering pings.
    pub unresponsive_dropped: CounterCell,
    /// Sessions closed for a frame slower than `--frame-timeout`.
    pub frame_timeouts: CounterCell,
    /// Sessions closed for breaking the WebSocket rules (1002, 1007, 1009).
    pub protocol_violations: CounterCell,
    /// Refusals by the per-address shares, one series per pool.
    pub handshakes_over_share: CounterCell,
    pub connections_over_share: CounterCell,
    pub partial_frames_over_share: CounterCell,
}

impl ConnectionSeries {
    fn register(registry: &mut Registry) -> Self {
        let refused = Family::<PoolLabels, Counter<u64, AtomicU64>>::default();
        let [handshakes, connections, partial_frames] =
            ["pending_handshakes", "connections", "partial_frames"]
                .map(|pool| CounterCell(refused.get_or_create_owned(&[("pool", pool)])));
        registry.register(
            "chat_address_share_refused",
            "Connections refused or closed because their address held its share of a pool",
            refused,
        );
        Self {
            sessions_throttled: counter(
                registry,
                "chat_sessions_throttled",
                "Sessions slowed down for sending faster than the rate limit",
            ),
            unresponsive_dropped: counter(
                registry,
                "chat_unresponsive_dropped",
                "Connections closed for neither reading nor answering pings",
            ),
            frame_timeouts: counter(
                registry,
                "chat_frame_timeouts",
                "Connections closed for a frame not finished within the frame timeout",
            ),
            protocol_violations: counter(
                registry,
                "chat_protocol_violations",
                "Connections closed for breaking WebSocket rules (1002, 1007, 1009)",
            ),
            handshakes_over_share: handshakes,
            connections_over_share: connections,
            partial_frames_over_share: partial_frames,
        }
    }
}

/// What `store/health.rs` counts.
#[derive(Debug)]
pub struct StoreFaultSeries {
    /// Times storage went from taking writes to a fault.
    pub faults: CounterCell,
    /// Writes answered `internal` because of a storage fault.
    pub refused_writes: CounterCell,
    /// 1 while storage is in a fault and refuses writes, else 0.
    pub failing: GaugeCell,
}

impl StoreFaultSeries {
    fn register(registry: &mut Registry) -> Self {
        Self {
            faults: counter(
                registry,
                "chat_store_faults",
                "Storage faults begun: database file deleted or replaced, disk full, write failed",
            ),
            refused_writes: counter(
                registry,
                "chat_store_refused_writes",
                "Writes answered internal because of a storage fault",
            ),
            failing: gauge(
                registry,
                "chat_store_failing",
                "1 while storage is in a fault and refuses writes",
            ),
        }
    }
}

/// `chat_hellos_refused_total{limit=…}`, one series per login limit, all
/// created up front for the same reasons as [`session_gauges`].
fn hello_refusal_counters(registry: &mut Registry) -> [CounterCell; 4] {
    let refused = Family::<LimitLabels, Counter<u64, AtomicU64>>::default();
    let series = [
        "failed_logins",
        "accounts_per_hour",
        "hashes_per_address",
        "sessions_per_account",
    ]
    .map(|limit| CounterCell(refused.get_or_create_owned(&[("limit", limit)])));
    registry.register(
        "chat_hellos_refused",
        "Hellos refused with rate_limited by a login limit",
        refused,
    );
    series
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

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

    #[test]
    fn call_sites_bump_the_atomics_the_registry_renders() {
        let metrics = Metrics::default();
        metrics.frames_in.fetch_add(3, Relaxed);
        metrics.connections_open.fetch_add(2, Relaxed);
        metrics.connections_open.fetch_sub(1, Relaxed);
        metrics.session_started(SessionKind::Account);
        metrics.session_started(SessionKind::Account);
        metrics.session_ended(SessionKind::Account);
        let text = metrics.render();
        for line in [
            "# HELP chat_frames_in_total WebSocket frames received from clients (data frames and pings).\n",
            "# TYPE chat_frames_in_total counter\nchat_frames_in_total 3\n",
            "# TYPE chat_connections_open gauge\nchat_connections_open 1\n",
            "# TYPE chat_sessions gauge\n",
            "chat_sessions{kind=\"guest\"} 0\n",
            "chat_sessions{kind=\"account\"} 1\n",
            "# TYPE chat_store_commit_seconds histogram\n",
            "chat_store_commit_seconds_bucket{le=\"+Inf\"} 0\n",
        ] {
            assert!(text.contains(line), "no {line:?} in:\n{text}");
        }
        assert!(!text.contains("_total_total"), "{text}");
    }
}
