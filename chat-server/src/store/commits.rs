//! Commits as a stream: a store's writer hands each committed batch (its
//! entries and their receipts) to one fan-out task on the tokio runtime,
//! which tells the [`CommitListener`] (delivery, or the cluster's
//! sequencing) and only then resolves the receipts. Commits that wait
//! while the task is busy are fanned out together, as one batch.
//!
//! Architecture invariants:
//! - *Delivered before acknowledged*: a receipt resolves after the listener
//!   has heard of its message, so a sender's own echo is queued before its
//!   acknowledgement.
//! - *Commit order*: one writer sends batches in commit order and one task
//!   takes them in that order, so the listener hears each room's ids
//!   ascending.
//! - *Fan-out after commit*: nothing reaches the listener before its
//!   transaction is durable, so every message delivered before a join's
//!   `subscribe` is visible to the join's later read (see
//!   [`crate::registry`]).
//! - The writer never runs fan-out: SQLite's writer thread only stores.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::batch::Pending;
use super::{CommitListener, Committed, Outcome, ReceiptSender, StoreError};
use crate::sync::lock;

/// Committed batches waiting for fan-out. Small: a writer that runs ahead
/// of fan-out should wait rather than pile up acknowledgements.
const FAN_OUT_QUEUE: usize = 64;

/// One transaction's outcome on its way to fan-out.
pub(crate) struct Commit {
    /// What committed, in id order per room.
    entries: Vec<Committed>,
    /// Every entry of the batch with its answer, in queue order.
    receipts: Vec<(ReceiptSender, Result<Outcome, StoreError>)>,
}

impl Commit {
    /// Pairs a batch's entries with what storing them gave: one outcome
    /// (or error) per entry, or the error that sank the whole transaction.
    /// `ts` is the commit's timestamp, the same for the whole batch. Only
    /// stored entries go to fan-out; a refused one is answered to its
    /// sender alone.
    pub(crate) fn new(
        appends: Vec<Pending>,
        stored: Result<Vec<Result<Outcome, StoreError>>, StoreError>,
        ts: i64,
    ) -> Self {
        let outcomes = match stored {
            Ok(outcomes) => outcomes,
            Err(error) => vec![Err(error); appends.len()],
        };
        let mut entries = Vec::with_capacity(appends.len());
        let mut receipts = Vec::with_capacity(appends.len());
        for (Pending { entry, receipt }, outcome) in appends.into_iter().zip(outcomes) {
            if let Ok(Outcome::Stored(id)) = outcome {
                entries.push(entry.committed(id, ts));
            }
            receipts.push((receipt, outcome));
        }
        Self { entries, receipts }
    }

    /// How many entries committed.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn answer(self) {
        for (receipt, outcome) in self.receipts {
            // A session that went away dropped its receiver; the message
            // is stored either way.
            let _ = receipt.send(outcome);
        }
    }
}

/// Fans out the commits that were waiting, in commit order, as one batch:
/// the listener hears all their entries in one call (so a room's run
/// across them shares one write per member), then every receipt resolves.
/// `merged` is a buffer kept for the task's life.
fn fan_out(commits: &mut Vec<Commit>, merged: &mut Vec<Committed>, listener: &dyn CommitListener) {
    let entries: &[Committed] = match commits.as_mut_slice() {
        [only] => &only.entries,
        all => {
            for commit in all {
                merged.append(&mut commit.entries);
            }
            merged
        }
    };
    if !entries.is_empty() {
        listener.committed(entries);
    }
    merged.clear();
    commits.drain(..).for_each(Commit::answer);
}

/// The fan-out task of one store.
pub(crate) struct FanOut {
    task: Mutex<Option<JoinHandle<()>>>,
}

impl FanOut {
    /// Starts the task on the current tokio runtime; the writer keeps the
    /// sender. The task ends once the writer drops it and every commit
    /// sent before has been fanned out.
    pub(crate) fn start(
        listener: Arc<dyn CommitListener>,
    ) -> Result<(Self, mpsc::Sender<Commit>), StoreError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| StoreError::Database(format!("fan-out needs a tokio runtime: {e}")))?;
        let (commits_tx, commits_rx) = mpsc::channel(FAN_OUT_QUEUE);
        let task = runtime.spawn(run(listener, commits_rx));
        Ok((
            Self {
                task: Mutex::new(Some(task)),
            },
            commits_tx,
        ))
    }

    /// Resolves once every commit has been fanned out, after the writer
    /// has stopped and dropped its sender.
    pub(crate) fn finished(&self) -> impl Future<Output = ()> + Send + 'static {
        let task = lock(&self.task).take();
        async move {
            if let Some(task) = task {
                let _ = task.await;
            }
        }
    }
}

/// Takes every commit waiting (the writer may run ahead of fan-out) and
/// fans them out together.
async fn run(listener: Arc<dyn CommitListener>, mut commits_rx: mpsc::Receiver<Commit>) {
    let mut commits = Vec::with_capacity(FAN_OUT_QUEUE);
    let mut merged = Vec::new();
    while commits_rx.recv_many(&mut commits, FAN_OUT_QUEUE).await > 0 {
        fan_out(&mut commits, &mut merged, listener.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::{RoomName, UserName};
    use tokio::sync::oneshot;

    use super::*;
    use crate::store::{ConnId, NewMessage, Refusal};

    #[derive(Default)]
    struct Heard(Mutex<Vec<u64>>);

    impl CommitListener for Heard {
        fn committed(&self, batch: &[Committed]) {
            lock(&self.0).extend(batch.iter().map(|c| c.id));
        }
    }

    fn pending(text: &str) -> (Pending, oneshot::Receiver<Result<Outcome, StoreError>>) {
        let (receipt, receipt_rx) = oneshot::channel();
        let entry = NewMessage {
            room: RoomName::parse("lobby").unwrap(),
            user: UserName::parse("alice").unwrap(),
            text: text.into(),
            reference: Some(format!("r-{text}")),
            origin: ConnId(3),
        }
        .into();
        (Pending { entry, receipt }, receipt_rx)
    }

    /// Records each call's ids apart.
    #[derive(Default)]
    struct Calls(Mutex<Vec<Vec<u64>>>);

    impl CommitListener for Calls {
        fn committed(&self, batch: &[Committed]) {
            lock(&self.0).push(batch.iter().map(|c| c.id).collect());
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn commits_waiting_together_are_heard_in_one_call_in_commit_order() {
        let calls = Arc::new(Calls::default());
        let (fan_out, commits_tx) = FanOut::start(calls.clone()).unwrap();
        let mut receipts = Vec::new();
        // Queued before the task first runs (one thread: it runs only
        // when this test awaits).
        for id in 1..=3 {
            let (p, rx) = pending(&format!("m{id}"));
            let commit = Commit::new(vec![p], Ok(vec![Ok(Outcome::Stored(id))]), 5);
            commits_tx.try_send(commit).unwrap();
            receipts.push(rx);
        }
        for (rx, id) in receipts.into_iter().zip(1..) {
            assert_eq!(rx.await.unwrap().unwrap(), Outcome::Stored(id));
        }
        assert_eq!(*lock(&calls.0), [vec![1, 2, 3]]);
        let (p, rx) = pending("m4");
        let commit = Commit::new(vec![p], Ok(vec![Ok(Outcome::Stored(4))]), 6);
        commits_tx.send(commit).await.unwrap();
        assert_eq!(rx.await.unwrap().unwrap(), Outcome::Stored(4));
        assert_eq!(*lock(&calls.0), [vec![1, 2, 3], vec![4]]);
        drop(commits_tx);
        fan_out.finished().await;
    }

    #[tokio::test]
    async fn receipts_resolve_after_the_listener_heard_and_failures_pass_through() {
        let heard = Arc::new(Heard::default());
        let (fan_out, commits_tx) = FanOut::start(heard.clone()).unwrap();
        let (a, a_rx) = pending("a");
        let (b, b_rx) = pending("b");
        let (r, r_rx) = pending("r");
        let bad = StoreError::Database("constraint".into());
        let refused = Refusal::forbidden("banned");
        let outcomes = vec![
            Ok(Outcome::Stored(1)),
            Err(bad),
            Ok(Outcome::Refused(refused)),
        ];
        let commit = Commit::new(vec![a, b, r], Ok(outcomes), 5);
        assert_eq!(commit.len(), 1, "refused entries are not fanned out");
        commits_tx.send(commit).await.unwrap();
        let (c, c_rx) = pending("c");
        let sunk = Commit::new(vec![c], Err(StoreError::Database("disk".into())), 6);
        commits_tx.send(sunk).await.unwrap();

        assert_eq!(a_rx.await.unwrap().unwrap(), Outcome::Stored(1));
        assert_eq!(*lock(&heard.0), [1], "heard before the receipt resolved");
        assert!(b_rx.await.unwrap().is_err());
        assert_eq!(r_rx.await.unwrap().unwrap(), Outcome::Refused(refused));
        assert!(c_rx.await.unwrap().is_err());
        drop(commits_tx);
        fan_out.finished().await;
        assert_eq!(*lock(&heard.0), [1]);
    }
}
