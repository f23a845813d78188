//! Counting what happened: each connection keeps plain local counters and a
//! small latency buffer (nothing shared on the hot path), merges the buffer
//! into the run's one histogram now and then, and hands its counters back
//! when it ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Latency samples a connection holds before taking the histogram's lock.
const LATENCY_BATCH: usize = 256;
/// The largest latency the histogram tracks; larger ones are clamped to it.
const MAX_TRACKED_MICROS: u64 = 120_000_000;

/// The run's time base: message texts carry nanoseconds since it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }

    /// Nanoseconds since the run started.
    pub fn nanos(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// The run's latency histogram, in microseconds.
#[derive(Clone)]
pub struct LatencyRecorder {
    // A std mutex: it is held only to add a batch of samples, never across
    // an await, and each connection takes it once per LATENCY_BATCH samples.
    histogram: Arc<Mutex<Histogram<u64>>>,
}

impl LatencyRecorder {
    pub fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3)
            .expect("constant histogram bounds are valid");
        Self {
            histogram: Arc::new(Mutex::new(histogram)),
        }
    }

    fn add(&self, samples: &[u64]) {
        let mut histogram = match self.histogram.lock() {
            Ok(guard) => guard,
            // A panicking connection task cannot leave the histogram half
            // updated in a way that matters for a report.
            Err(poisoned) => poisoned.into_inner(),
        };
        for &micros in samples {
            histogram.saturating_record(micros.clamp(1, MAX_TRACKED_MICROS));
        }
    }

    /// The percentiles of everything recorded so far.
    pub fn summary(&self) -> LatencySummary {
        let histogram = match self.histogram.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        LatencySummary {
            count: histogram.len(),
            p50_us: histogram.value_at_quantile(0.50),
            p90_us: histogram.value_at_quantile(0.90),
            p99_us: histogram.value_at_quantile(0.99),
            max_us: histogram.max(),
        }
    }
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// What one connection saw during the measured window.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// The connection finished its setup (hello, welcome, join, joined).
    pub opened: bool,
    /// Chat frames written (messages, or joins in the join scenario).
    pub frames_sent: u64,
    /// `message` frames (or `joined` replies in the join scenario) received.
    pub deliveries: u64,
    /// The sender's own copies of its messages.
    pub acks: u64,
    /// `join` / `leave` presence frames.
    pub presence: u64,
    /// Failures by kind: an error code, `close:1008`, `timeout`, ...
    pub errors: BTreeMap<String, u64>,
    pending_latency: Vec<u64>,
}

impl ConnStats {
    /// The counters of a connection that finished its setup.
    pub fn for_opened() -> Self {
        Self {
            opened: true,
            ..Self::default()
        }
    }

    pub fn error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_default() += 1;
    }

    pub fn latency(&mut self, recorder: &LatencyRecorder, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if self.pending_latency.capacity() == 0 {
            self.pending_latency.reserve_exact(LATENCY_BATCH);
        }
        self.pending_latency.push(micros);
        if self.pending_latency.len() >= LATENCY_BATCH {
            self.flush(recorder);
        }
    }

    /// Moves buffered samples into the histogram; call before handing back.
    pub fn flush(&mut self, recorder: &LatencyRecorder) {
        if !self.pending_latency.is_empty() {
            recorder.add(&self.pending_latency);
            self.pending_latency.clear();
        }
    }
}

/// The sum of every connection's [`ConnStats`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    pub opened: u64,
    pub failed: u64,
    pub frames_sent: u64,
    pub deliveries: u64,
    pub acks: u64,
    pub presence: u64,
    pub errors: BTreeMap<String, u64>,
}

impl Totals {
    pub fn add(&mut self, stats: ConnStats) {
        if stats.opened {
            self.opened += 1;
        } else {
            self.failed += 1;
        }
        self.frames_sent += stats.frames_sent;
        self.deliveries += stats.deliveries;
        self.acks += stats.acks;
        self.presence += stats.presence;
        for (kind, count) in stats.errors {
            *self.errors.entry(kind).or_default() += count;
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_reaches_the_histogram_in_batches_and_on_flush() {
        let recorder = LatencyRecorder::new();
        let mut stats = ConnStats::default();
        for ms in 1..=300u64 {
            stats.latency(&recorder, Duration::from_millis(ms));
        }
        assert_eq!(recorder.summary().count, LATENCY_BATCH as u64);
        stats.flush(&recorder);
        let summary = recorder.summary();
        assert_eq!(summary.count, 300);
        assert!((149_000..=151_000).contains(&summary.p50_us), "{summary:?}");
        assert!((296_000..=298_000).contains(&summary.p99_us), "{summary:?}");
        assert!((299_000..=301_000).contains(&summary.max_us), "{summary:?}");
    }

    #[test]
    fn totals_add_up() {
        let mut totals = Totals::default();
        let mut a = ConnStats::for_opened();
        a.deliveries = 5;
        a.error("rate_limited");
        let mut b = ConnStats::default();
        b.error("timeout");
        b.error("rate_limited");
        totals.add(a);
        totals.add(b);
        assert_eq!((totals.opened, totals.failed, totals.deliveries), (1, 1, 5));
        assert_eq!(totals.errors.get("rate_limited"), Some(&2));
        assert_eq!(totals.error_count(), 3);
    }
}
