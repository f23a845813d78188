//! A run's connections as one fleet: opened in paced batches under a small
//! concurrency cap, moved through the run's phases together, and collected
//! into totals at the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

use crate::client::{self, Endpoint};
use crate::driver::{Driver, Phase, Role, Shared};
use crate::stats::{Clock, ConnStats, LatencyRecorder, LatencySummary, Totals};

/// How connections are opened.
#[derive(Debug, Clone)]
pub struct OpenPlan {
    pub endpoint: Endpoint,
    /// Connections started per batch; the next batch waits for this one.
    pub batch: usize,
    /// Handshakes in progress at once.
    pub concurrency: usize,
    /// Guest names are `<user_prefix>-<index>`; the prefix carries the run
    /// id, since two live guests may not share a name.
    pub user_prefix: String,
    /// Filler bytes appended to each message text.
    pub text_pad: usize,
}

/// One connection to open: its room and its role.
#[derive(Debug, Clone)]
pub struct Member {
    pub room: String,
    pub role: Role,
    /// The `limit` of the setup `join` (how much history it fetches).
    pub join_limit: Option<u32>,
}

/// How the opening went.
#[derive(Debug, Clone, Default)]
pub struct OpenOutcome {
    pub opened: u64,
    pub failed: u64,
    /// From the first connect to the last `joined`.
    pub elapsed: Duration,
    /// Per connection, from starting to connect to its `joined`.
    pub setup_latency: LatencySummary,
    /// Per connection, from sending `join` to its `joined`.
    pub join_latency: LatencySummary,
    /// The first few setup failures, for the operator.
    pub failures: BTreeMap<String, String>,
}

/// The open connections of a run.
pub struct Fleet {
    tasks: Vec<JoinHandle<ConnStats>>,
    phase_tx: watch::Sender<Phase>,
    pub latency: LatencyRecorder,
    pub probe_rx: mpsc::UnboundedReceiver<()>,
    pub quota_done_rx: mpsc::UnboundedReceiver<()>,
}

impl Fleet {
    /// Opens every member's connection, batch by batch, and returns once
    /// each has joined or failed.
    pub async fn open(plan: &OpenPlan, clock: Clock, members: Vec<Member>) -> (Self, OpenOutcome) {
        let (phase_tx, phase_rx) = watch::channel(Phase::Setup);
        let (probe_tx, probe_rx) = mpsc::unbounded_channel();
        let (quota_done_tx, quota_done_rx) = mpsc::unbounded_channel();
        let shared = Shared {
            clock,
            latency: LatencyRecorder::new(),
            phase_rx,
            probe_tx,
            quota_done_tx,
            text_pad: plan.text_pad,
        };
        let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Result<SetupTimes, String>>();
        let mut outcome = OpenOutcome::default();
        let setup_latency = LatencyRecorder::new();
        let join_latency = LatencyRecorder::new();
        let mut setup_samples = ConnStats::default();
        let mut join_samples = ConnStats::default();
        let mut tasks = Vec::with_capacity(members.len());
        let started = Instant::now();
        let mut members = members.into_iter().enumerate().peekable();
        while members.peek().is_some() {
            let mut in_batch = 0;
            for (index, member) in members.by_ref().take(plan.batch.max(1)) {
                let user = format!("{}-{index}", plan.user_prefix);
                tasks.push(tokio::spawn(connection(
                    plan.endpoint.clone(),
                    user,
                    u32::try_from(index).unwrap_or(u32::MAX),
                    member,
                    permits.clone(),
                    ready_tx.clone(),
                    shared.clone(),
                )));
                in_batch += 1;
            }
            for _ in 0..in_batch {
                // Every task reports once; the sender lives in this scope.
                match ready_rx.recv().await {
                    Some(Ok(times)) => {
                        outcome.opened += 1;
                        setup_samples.latency(&setup_latency, times.setup);
                        join_samples.latency(&join_latency, times.join);
                    }
                    Some(Err(why)) => {
                        outcome.failed += 1;
                        if outcome.failures.len() < 5 {
                            outcome.failures.insert(format!("#{}", outcome.failed), why);
                        }
                    }
                    None => break,
                }
            }
        }
        outcome.elapsed = started.elapsed();
        setup_samples.flush(&setup_latency);
        join_samples.flush(&join_latency);
        outcome.setup_latency = setup_latency.summary();
        outcome.join_latency = join_latency.summary();
        let fleet = Self {
            tasks,
            phase_tx,
            latency: shared.latency.clone(),
            probe_rx,
            quota_done_rx,
        };
        (fleet, outcome)
    }

    pub fn set_phase(&self, phase: Phase) {
        // Connections that already ended hold no receiver; that is fine.
        self.phase_tx.send_replace(phase);
    }

    /// Stops every connection and adds up what they counted. Connections
    /// that do not finish within `grace` are aborted and counted as stuck.
    pub async fn stop(self, grace: Duration) -> Totals {
        self.set_phase(Phase::Stop);
        let mut totals = Totals::default();
        let deadline = Instant::now() + grace;
        for task in self.tasks {
            let abort = task.abort_handle();
            match tokio::time::timeout_at(deadline, task).await {
                Ok(Ok(stats)) => totals.add(stats),
                Ok(Err(_)) => {
                    let mut stats = ConnStats::default();
                    stats.error("task_panicked");
                    totals.add(stats);
                }
                Err(_) => {
                    abort.abort();
                    let mut stats = ConnStats::for_opened();
                    stats.error("stuck_at_stop");
                    totals.add(stats);
                }
            }
        }
        totals
    }
}

/// How long one connection's setup took.
struct SetupTimes {
    setup: Duration,
    join: Duration,
}

async fn connection(
    endpoint: Endpoint,
    user: String,
    index: u32,
    member: Member,
    permits: Arc<Semaphore>,
    ready_tx: mpsc::UnboundedSender<Result<SetupTimes, String>>,
    shared: Shared,
) -> ConnStats {
    let setup = async {
        // The semaphore is never closed, so acquiring cannot fail.
        let _permit = permits.acquire_owned().await;
        let started = Instant::now();
        let mut ws = client::connect(&endpoint, &user).await?;
        let join_sent = Instant::now();
        let joined = client::join(&mut ws, &endpoint, &member.room, member.join_limit).await?;
        let times = SetupTimes {
            setup: started.elapsed(),
            join: join_sent.elapsed(),
        };
        Ok::<_, client::SetupError>((ws, joined, times))
    };
    match setup.await {
        Ok((ws, joined, times)) => {
            let _ = ready_tx.send(Ok(times));
            drop(ready_tx);
            let driver = Driver::new(ws, index, member.room, member.role, joined, shared);
            driver.run().await
        }
        Err(e) => {
            let mut stats = ConnStats::default();
            stats.error(e.kind());
            let _ = ready_tx.send(Err(format!("{user}: {e}")));
            stats
        }
    }
}

/// Waits up to `limit` for `count` signals on `rx`; returns how many came.
pub async fn wait_for(rx: &mut mpsc::UnboundedReceiver<()>, count: u64, limit: Duration) -> u64 {
    let mut seen = 0;
    let _ = timeout(limit, async {
        while seen < count {
            if rx.recv().await.is_none() {
                break;
            }
            seen += 1;
        }
    })
    .await;
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_for_stops_at_the_count_or_the_time() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for _ in 0..3 {
            tx.send(()).unwrap();
        }
        assert_eq!(wait_for(&mut rx, 2, Duration::from_secs(5)).await, 2);
        assert_eq!(wait_for(&mut rx, 5, Duration::from_millis(20)).await, 1);
    }
}
