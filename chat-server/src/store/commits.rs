//! Commits as a stream: a store's writer hands each committed batch (its
//! messages and their receipts) to one fan-out task on the tokio runtime,
//! which tells the [`CommitListener`] (delivery, or the cluster's
//! sequencing) and only then resolves the receipts.
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

use chat_proto::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::batch::Pending;
use super::{CommitListener, CommittedMessage, NewMessage, ReceiptSender, StoreError};
use crate::sync::lock;

/// Committed batches waiting for fan-out. Small: a writer that runs ahead
/// of fan-out should wait rather than pile up acknowledgements.
const FAN_OUT_QUEUE: usize = 64;

/// One transaction's outcome on its way to fan-out.
pub(crate) struct Commit {
    /// What committed, in id order per room.
    messages: Vec<CommittedMessage>,
    /// Every append of the batch with its answer, in queue order.
    receipts: Vec<(ReceiptSender, Result<u64, StoreError>)>,
}

impl Commit {
    /// Pairs a batch's appends with what storing them gave: one id (or
    /// error) per append, or the error that sank the whole transaction.
    /// `ts` is the commit's timestamp, the same for the whole batch.
    pub(crate) fn new(
        appends: Vec<Pending>,
        stored: Result<Vec<Result<u64, StoreError>>, StoreError>,
        ts: i64,
    ) -> Self {
        let outcomes = match stored {
            Ok(ids) => ids,
            Err(error) => vec![Err(error); appends.len()],
        };
        let mut messages = Vec::with_capacity(appends.len());
        let mut receipts = Vec::with_capacity(appends.len());
        for (Pending { message, receipt }, outcome) in appends.into_iter().zip(outcomes) {
            if let Ok(id) = outcome {
                messages.push(committed(message, id, ts));
            }
            receipts.push((receipt, outcome));
        }
        Self { messages, receipts }
    }

    /// How many messages committed.
    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }

    fn fan_out(self, listener: &dyn CommitListener) {
        if !self.messages.is_empty() {
            listener.committed(&self.messages);
        }
        for (receipt, outcome) in self.receipts {
            // A session that went away dropped its receiver; the message
            // is stored either way.
            let _ = receipt.send(outcome);
        }
    }
}

fn committed(message: NewMessage, id: u64, ts: i64) -> CommittedMessage {
    CommittedMessage {
        message: Message {
            room: message.room.into_string(),
            id,
            user: message.user.into_string(),
            text: message.text,
            ts,
            reference: message.reference,
            ..Message::default()
        },
        origin: message.origin,
    }
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

async fn run(listener: Arc<dyn CommitListener>, mut commits_rx: mpsc::Receiver<Commit>) {
    while let Some(commit) = commits_rx.recv().await {
        commit.fan_out(listener.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::{RoomName, UserName};
    use tokio::sync::oneshot;

    use super::*;
    use crate::store::ConnId;

    #[derive(Default)]
    struct Heard(Mutex<Vec<u64>>);

    impl CommitListener for Heard {
        fn committed(&self, batch: &[CommittedMessage]) {
            lock(&self.0).extend(batch.iter().map(|c| c.message.id));
        }
    }

    fn pending(text: &str) -> (Pending, oneshot::Receiver<Result<u64, StoreError>>) {
        let (receipt, receipt_rx) = oneshot::channel();
        let message = NewMessage {
            room: RoomName::parse("lobby").unwrap(),
            user: UserName::parse("alice").unwrap(),
            text: text.into(),
            reference: Some(format!("r-{text}")),
            origin: ConnId(3),
        };
        (Pending { message, receipt }, receipt_rx)
    }

    #[tokio::test]
    async fn receipts_resolve_after_the_listener_heard_and_failures_pass_through() {
        let heard = Arc::new(Heard::default());
        let (fan_out, commits_tx) = FanOut::start(heard.clone()).unwrap();
        let (a, a_rx) = pending("a");
        let (b, b_rx) = pending("b");
        let bad = StoreError::Database("constraint".into());
        let commit = Commit::new(vec![a, b], Ok(vec![Ok(1), Err(bad)]), 5);
        assert_eq!(commit.len(), 1);
        commits_tx.send(commit).await.unwrap();
        let (c, c_rx) = pending("c");
        let sunk = Commit::new(vec![c], Err(StoreError::Database("disk".into())), 6);
        commits_tx.send(sunk).await.unwrap();

        assert_eq!(a_rx.await.unwrap().unwrap(), 1);
        assert_eq!(*lock(&heard.0), [1], "heard before the receipt resolved");
        assert!(b_rx.await.unwrap().is_err());
        assert!(c_rx.await.unwrap().is_err());
        drop(commits_tx);
        fan_out.finished().await;
        assert_eq!(*lock(&heard.0), [1]);
    }
}
