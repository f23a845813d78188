//! What both stores' writers share: the command queue, gathering whatever
//! is queued into one batch (group commit), answers held until the batch's
//! transaction has committed, and refusing work queued after `close`.
//!
//! A dropped reply reads as [`StoreError::Closed`] on the caller's side,
//! so refusing a command is dropping it.

use tokio::sync::{mpsc, oneshot};

use super::{NewEntry, Receipt, ReceiptSender, StoreError, StoreFuture};

/// Commands waiting for a writer. Bounded so a burst of senders waits
/// (asynchronously) instead of growing memory without limit.
pub(crate) const COMMAND_QUEUE: usize = 8192;
/// The most commands one transaction takes, so one commit's latency stays
/// bounded under heavy load.
pub(crate) const MAX_BATCH: usize = 1024;

/// Where a store answers one request.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// An entry waiting in a batch for its transaction.
pub(crate) struct Pending {
    pub entry: NewEntry,
    pub receipt: ReceiptSender,
}

/// Work for a writer: appends, the backend's other writes (`W`), and the
/// request to finish and stop.
pub(crate) enum Command<W> {
    Append(Pending),
    Write(W),
    Close(Reply<()>),
}

/// Commands taken from the queue together, to run in one transaction.
pub(crate) struct Batch<W> {
    /// In queue order, so messages a session queued one after another get
    /// ids in that order.
    pub appends: Vec<Pending>,
    pub writes: Vec<W>,
    /// Set when a `Close` came; the writer stops after this batch.
    pub close: Option<Reply<()>>,
}

impl<W> Batch<W> {
    /// Waits (blocking the thread) for the next command, then takes what
    /// else is queued. `None` once every handle has gone.
    pub(crate) fn next_blocking(commands_rx: &mut mpsc::Receiver<Command<W>>) -> Option<Self> {
        let first = commands_rx.blocking_recv()?;
        Some(Self::gather(first, commands_rx))
    }

    /// Waits for the next command, then takes what else is queued.
    pub(crate) async fn next(commands_rx: &mut mpsc::Receiver<Command<W>>) -> Option<Self> {
        let first = commands_rx.recv().await?;
        Some(Self::gather(first, commands_rx))
    }

    fn gather(first: Command<W>, commands_rx: &mut mpsc::Receiver<Command<W>>) -> Self {
        let mut batch = Self {
            appends: Vec::new(),
            writes: Vec::new(),
            close: None,
        };
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(command) = next.take() {
            taken += 1;
            match command {
                Command::Append(pending) => batch.appends.push(pending),
                Command::Write(write) => batch.writes.push(write),
                Command::Close(reply) => {
                    batch.close = Some(reply);
                    break;
                }
            }
            if taken < MAX_BATCH {
                next = commands_rx.try_recv().ok();
            }
        }
        batch
    }
}

/// Refuses whatever is still queued once a writer stops: appends and
/// writes read as [`StoreError::Closed`], another `close` succeeds.
pub(crate) fn refuse_queued<W>(commands_rx: &mut mpsc::Receiver<Command<W>>) {
    commands_rx.close();
    while let Ok(command) = commands_rx.try_recv() {
        if let Command::Close(reply) = command {
            let _ = reply.send(Ok(()));
        }
    }
}

/// Sends a request to a writer or reader and awaits its answer.
pub(crate) fn request<C: Send + 'static, T: Send + 'static>(
    queue: &mpsc::Sender<C>,
    make: impl FnOnce(Reply<T>) -> C,
) -> StoreFuture<T> {
    let (reply_tx, reply_rx) = oneshot::channel();
    let command = make(reply_tx);
    let queue = queue.clone();
    Box::pin(async move {
        queue.send(command).await.map_err(|_| StoreError::Closed)?;
        reply_rx.await.map_err(|_| StoreError::Closed)?
    })
}

/// Queues an entry; the outer future resolves once it holds its place in
/// the queue, the [`Receipt`] once its commit has been fanned out.
pub(crate) fn queue_entry<W: Send + 'static>(
    writer: &mpsc::Sender<Command<W>>,
    entry: NewEntry,
) -> StoreFuture<Receipt> {
    let writer = writer.clone();
    Box::pin(async move {
        let (receipt_tx, receipt_rx) = oneshot::channel();
        let pending = Pending {
            entry,
            receipt: receipt_tx,
        };
        writer
            .send(Command::Append(pending))
            .await
            .map_err(|_| StoreError::Closed)?;
        let receipt: Receipt =
            Box::pin(async move { receipt_rx.await.map_err(|_| StoreError::Closed)? });
        Ok(receipt)
    })
}

/// A write's answer, held until its transaction has committed.
pub(crate) trait Settle: Send {
    /// Answers with the value, or with the error that sank the transaction.
    fn settle(self: Box<Self>, failure: Option<&StoreError>);
}

struct Answer<T> {
    reply: Reply<T>,
    value: T,
}

impl<T: Send> Settle for Answer<T> {
    fn settle(self: Box<Self>, failure: Option<&StoreError>) {
        // A caller that gave up waiting has dropped its receiver; the work
        // is done either way.
        let _ = self.reply.send(match failure {
            None => Ok(self.value),
            Some(error) => Err(error.clone()),
        });
    }
}

/// Holds `value` for `reply` until the transaction's outcome is known.
pub(crate) fn answer<T: Send + 'static>(reply: Reply<T>, value: T) -> Box<dyn Settle> {
    Box::new(Answer { reply, value })
}

#[cfg(test)]
mod tests {
    use chat_proto::{RoomName, UserName};

    use super::*;
    use crate::store::{Change, ConnId, NewMessage, Outcome};

    fn append(text: &str) -> (Command<()>, oneshot::Receiver<Result<Outcome, StoreError>>) {
        let (receipt, receipt_rx) = oneshot::channel();
        let entry = NewMessage {
            room: RoomName::parse("lobby").unwrap(),
            user: UserName::parse("alice").unwrap(),
            text: text.into(),
            reference: None,
            origin: ConnId(1),
        }
        .into();
        (Command::Append(Pending { entry, receipt }), receipt_rx)
    }

    #[tokio::test]
    async fn a_batch_takes_what_is_queued_and_stops_at_close() {
        let (tx, mut rx) = mpsc::channel(16);
        let (first, _) = append("a");
        let (second, _) = append("b");
        let (after_close, after_close_rx) = append("c");
        let (close_tx, close_rx) = oneshot::channel();
        tx.send(first).await.unwrap();
        tx.send(Command::Write(())).await.unwrap();
        tx.send(second).await.unwrap();
        tx.send(Command::Close(close_tx)).await.unwrap();
        tx.send(after_close).await.unwrap();

        let batch = Batch::next(&mut rx).await.unwrap();
        let texts: Vec<&str> = batch
            .appends
            .iter()
            .map(|p| match &p.entry.change {
                Change::Message { text, .. } => text.as_str(),
                other => panic!("only messages are queued here: {other:?}"),
            })
            .collect();
        assert_eq!(texts, ["a", "b"]);
        assert_eq!(batch.writes.len(), 1);
        batch.close.unwrap().send(Ok(())).unwrap();
        refuse_queued(&mut rx);
        assert!(close_rx.await.unwrap().is_ok());
        assert!(after_close_rx.await.is_err(), "refused, reads as Closed");
        assert!(tx.send(Command::Write(())).await.is_err());
    }

    #[tokio::test]
    async fn answers_wait_for_the_outcome() {
        let (ok_tx, ok_rx) = oneshot::channel();
        let (failed_tx, failed_rx) = oneshot::channel();
        answer(ok_tx, true).settle(None);
        answer(failed_tx, 7_u64).settle(Some(&StoreError::Database("boom".into())));
        assert!(ok_rx.await.unwrap().unwrap());
        assert!(matches!(
            failed_rx.await.unwrap(),
            Err(StoreError::Database(_))
        ));
    }
}
