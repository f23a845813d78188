//! [`StoreHealth`]: whether storage is taking writes now, and the one
//! place a storage fault is logged and counted.
//!
//! A fault is either *permanent* (the database file was deleted or
//! replaced under the server: whatever it writes now goes to a file nobody
//! will open again, so nothing more is acknowledged until a restart) or
//! *transient* (the disk is full or a write failed: the writer tries again
//! with the next batch, and the first batch that commits clears it).
//!
//! Logging is once per fault, not once per refused write: the first
//! failure logs an error, a fault that lasts logs a reminder at most every
//! [`REMINDER_INTERVAL`], and the recovery logs once.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::Metrics;
use crate::sync::lock;

/// The longest a lasting fault goes without a log line.
const REMINDER_INTERVAL: Duration = Duration::from_secs(60);

/// Why storage is not taking writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageFault {
    #[error(
        "the database file {path} was deleted while the server ran; nothing more is stored \
         until the server is restarted"
    )]
    FileDeleted { path: String },
    #[error(
        "the database file {path} was replaced by another file while the server ran; nothing \
         more is stored until the server is restarted"
    )]
    FileReplaced { path: String },
    #[error("the disk is full (or the file size limit was reached): {0}")]
    NoSpace(String),
    #[error("writing the database failed: {0}")]
    Io(String),
}

impl StorageFault {
    /// Whether only a restart ends it.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::FileDeleted { .. } | Self::FileReplaced { .. })
    }
}

/// What a store knows of its own health. Shared by its writer (which
/// reports each batch's outcome), its file watch, and whoever asks
/// (`/healthz`, shutdown). A std `Mutex`: it is held for a few field
/// updates and never across an await.
#[derive(Debug)]
pub struct StoreHealth {
    state: Mutex<State>,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Default)]
struct State {
    fault: Option<Fault>,
}

#[derive(Debug)]
struct Fault {
    fault: StorageFault,
    since: Instant,
    /// Writes answered with an error since the fault began.
    refused: u64,
    /// When the fault was last logged.
    logged: Instant,
}

impl StoreHealth {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            metrics,
        }
    }

    /// The fault storage is in now, if any.
    pub fn fault(&self) -> Option<StorageFault> {
        lock(&self.state).fault.as_ref().map(|f| f.fault.clone())
    }

    /// A fault that only a restart ends: the writer refuses its batches
    /// without running them.
    pub(crate) fn permanent_fault(&self) -> Option<StorageFault> {
        self.fault().filter(StorageFault::is_permanent)
    }

    /// Records that `fault` made `refused` writes fail (0 when a watch
    /// found it, not a write). A permanent fault is never replaced by a
    /// transient one.
    pub(crate) fn failed(&self, fault: StorageFault, refused: usize) {
        let refused = refused as u64;
        self.metrics
            .store
            .refused_writes
            .fetch_add(refused, Relaxed);
        let now = Instant::now();
        let mut state = lock(&self.state);
        match state.fault.as_mut() {
            Some(current) if current.fault == fault || current.fault.is_permanent() => {
                current.refused += refused;
                if now.duration_since(current.logged) >= REMINDER_INTERVAL {
                    current.logged = now;
                    tracing::warn!(
                        refused = current.refused,
                        for_s = current.since.elapsed().as_secs(),
                        "storage still failing: {}",
                        current.fault
                    );
                }
            }
            _ => {
                tracing::error!("storage fault: {fault}; answering `internal` to writes");
                self.metrics.store.faults.fetch_add(1, Relaxed);
                self.metrics.store.failing.store(1, Relaxed);
                state.fault = Some(Fault {
                    fault,
                    since: now,
                    refused,
                    logged: now,
                });
            }
        }
    }

    /// Records a batch that committed: a transient fault is over.
    pub(crate) fn stored(&self) {
        let mut state = lock(&self.state);
        if state
            .fault
            .as_ref()
            .is_some_and(|f| !f.fault.is_permanent())
            && let Some(ended) = state.fault.take()
        {
            self.metrics.store.failing.store(0, Relaxed);
            tracing::info!(
                refused = ended.refused,
                after_ms = ended.since.elapsed().as_millis() as u64,
                "storage writes resumed (was: {})",
                ended.fault
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deleted() -> StorageFault {
        StorageFault::FileDeleted {
            path: "/x/chat.sqlite3".into(),
        }
    }

    #[test]
    fn a_transient_fault_ends_with_a_commit_and_a_permanent_one_does_not() {
        let metrics = Arc::new(Metrics::default());
        let health = StoreHealth::new(metrics.clone());
        assert_eq!(health.fault(), None);
        health.failed(StorageFault::NoSpace("full".into()), 3);
        health.failed(StorageFault::NoSpace("full".into()), 2);
        assert_eq!(health.permanent_fault(), None);
        assert_eq!(
            metrics.store.faults.load(Relaxed),
            1,
            "one fault, one count"
        );
        assert_eq!(metrics.store.refused_writes.load(Relaxed), 5);
        assert_eq!(metrics.store.failing.load(Relaxed), 1);
        health.stored();
        assert_eq!(health.fault(), None);
        assert_eq!(metrics.store.failing.load(Relaxed), 0);

        health.failed(deleted(), 0);
        health.failed(StorageFault::Io("eio".into()), 1);
        health.stored();
        assert_eq!(health.permanent_fault(), Some(deleted()));
        assert_eq!(metrics.store.faults.load(Relaxed), 2);
        assert_eq!(metrics.store.failing.load(Relaxed), 1);
    }
}
