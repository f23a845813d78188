//! The queue in front of the few password-hashing threads, served fairly
//! between addresses: each address waits in its own line, and a freed slot
//! goes to the waiting address with the fewest hashes running (round robin
//! among equals). A flood from one address so waits behind itself, never in
//! front of another address's login, and each address may have only a few
//! hashes queued or running at once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use crate::login_limits::AddressKey;

/// Why no hashing slot was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashQueueError {
    #[error("this address already has {0} password hashes queued")]
    Full(usize),
    #[error("the hashing queue was dropped")]
    Closed,
}

/// One address's line.
#[derive(Debug, Default)]
struct Line {
    running: usize,
    waiting: VecDeque<oneshot::Sender<HashSlot>>,
    /// Whether the address is in [`QueueState::turns`].
    has_turn: bool,
}

impl Line {
    fn is_empty(&self) -> bool {
        self.running == 0 && self.waiting.is_empty() && !self.has_turn
    }
}

#[derive(Debug, Default)]
struct QueueState {
    /// Hashes running on every address's behalf.
    running: usize,
    lines: HashMap<AddressKey, Line>,
    /// Addresses with someone waiting, in the order they are served.
    turns: VecDeque<AddressKey>,
}

fn lock(state: &Mutex<QueueState>) -> MutexGuard<'_, QueueState> {
    // Every update leaves the counts consistent before anything can panic.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The fair queue. Cheap to share behind the [`crate::accounts::Accounts`]
/// that owns it; slots hold their own handle to the state.
#[derive(Debug)]
pub struct HashQueue {
    state: Arc<Mutex<QueueState>>,
    /// Hashes that may run at once.
    slots: usize,
    /// Hashes an address may have queued or running; 0 means no cap.
    per_address: usize,
}

/// The right to run one hash; dropping it hands the slot on.
#[derive(Debug)]
pub struct HashSlot {
    state: Arc<Mutex<QueueState>>,
    address: AddressKey,
    /// False once the slot was handed on (or never given).
    held: bool,
}

impl HashQueue {
    pub fn new(slots: usize, per_address: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(QueueState::default())),
            slots: slots.max(1),
            per_address,
        }
    }

    /// Waits for a hashing slot for `address`, or refuses at once when the
    /// address already has its share queued.
    pub async fn slot(&self, address: AddressKey) -> Result<HashSlot, HashQueueError> {
        let ready = {
            let mut state = lock(&self.state);
            let QueueState {
                running,
                lines,
                turns,
            } = &mut *state;
            let line = lines.entry(address).or_default();
            // Waiters whose connection gave up do not count.
            line.waiting.retain(|waiter| !waiter.is_closed());
            if self.per_address > 0 && line.running + line.waiting.len() >= self.per_address {
                return Err(HashQueueError::Full(self.per_address));
            }
            if *running < self.slots {
                line.running += 1;
                *running += 1;
                return Ok(self.held_slot(address));
            }
            let (ready_tx, ready_rx) = oneshot::channel();
            line.waiting.push_back(ready_tx);
            if !line.has_turn {
                line.has_turn = true;
                turns.push_back(address);
            }
            ready_rx
        };
        ready.await.map_err(|_| HashQueueError::Closed)
    }

    fn held_slot(&self, address: AddressKey) -> HashSlot {
        HashSlot {
            state: self.state.clone(),
            address,
            held: true,
        }
    }
}

impl Drop for HashSlot {
    fn drop(&mut self) {
        if self.held {
            hand_on(&self.state, self.address);
        }
    }
}

/// Frees `address`'s slot and gives it to the next waiter, skipping those
/// that stopped waiting.
fn hand_on(state_handle: &Arc<Mutex<QueueState>>, finished: AddressKey) {
    let mut finished = finished;
    loop {
        let (ready_tx, slot) = {
            let mut state = lock(state_handle);
            if let Some(line) = state.lines.get_mut(&finished) {
                line.running = line.running.saturating_sub(1);
                if line.is_empty() {
                    state.lines.remove(&finished);
                }
            }
            let Some((next, ready_tx)) = next_waiter(&mut state) else {
                state.running = state.running.saturating_sub(1);
                return;
            };
            if let Some(line) = state.lines.get_mut(&next) {
                line.running += 1;
            }
            let slot = HashSlot {
                state: state_handle.clone(),
                address: next,
                held: true,
            };
            (ready_tx, slot)
        };
        // Sent outside the lock: a refused slot comes back and is handed on
        // here, not dropped (its drop would take the lock again).
        match ready_tx.send(slot) {
            Ok(()) => return,
            Err(mut unwanted) => {
                unwanted.held = false;
                finished = unwanted.address;
            }
        }
    }
}

/// The first waiter of the waiting address with the fewest hashes running,
/// the earliest in turn among equals; its address goes to the back.
fn next_waiter(state: &mut QueueState) -> Option<(AddressKey, oneshot::Sender<HashSlot>)> {
    let QueueState { lines, turns, .. } = state;
    turns.retain(|address| {
        let waiting = lines
            .get(address)
            .is_some_and(|line| !line.waiting.is_empty());
        if !waiting && let Some(line) = lines.get_mut(address) {
            line.has_turn = false;
        }
        waiting
    });
    let (index, _) = turns.iter().enumerate().min_by_key(|(index, address)| {
        (lines.get(*address).map_or(0, |line| line.running), *index)
    })?;
    let address = turns.remove(index)?;
    let line = lines.get_mut(&address)?;
    let ready_tx = line.waiting.pop_front()?;
    if line.waiting.is_empty() {
        line.has_turn = false;
    } else {
        turns.push_back(address);
    }
    Some((address, ready_tx))
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use futures_util::FutureExt;

    use super::*;

    fn address(last: u8) -> AddressKey {
        AddressKey::of(IpAddr::from([10, 0, 0, last]))
    }

    async fn granted(queue: &HashQueue, from: AddressKey) -> HashSlot {
        tokio::time::timeout(Duration::from_secs(1), queue.slot(from))
            .await
            .expect("a free slot is granted at once")
            .unwrap()
    }

    #[tokio::test]
    async fn a_late_address_is_served_before_a_flood_that_queued_first() {
        let queue = Arc::new(HashQueue::new(1, 0));
        let running = granted(&queue, address(1)).await;
        let (order_tx, mut order_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut waiters = Vec::new();
        for (n, from) in [(1, address(1)), (2, address(1)), (3, address(2))] {
            let waiter_queue = queue.clone();
            let order_tx = order_tx.clone();
            waiters.push(tokio::spawn(async move {
                let slot = waiter_queue.slot(from).await.unwrap();
                order_tx.send(n).unwrap();
                drop(slot);
            }));
            // Each waiter is in line before the next one asks.
            while lock(&queue.state)
                .lines
                .values()
                .map(|l| l.waiting.len())
                .sum::<usize>()
                < n
            {
                tokio::task::yield_now().await;
            }
        }
        drop(running);
        let mut order = Vec::new();
        for _ in 0..3 {
            order.push(order_rx.recv().await.unwrap());
        }
        assert_eq!(order, [1, 3, 2], "served round robin between addresses");
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert!(lock(&queue.state).lines.is_empty());
        assert_eq!(lock(&queue.state).running, 0);
    }

    #[tokio::test]
    async fn an_address_with_its_share_queued_is_refused_at_once() {
        let queue = HashQueue::new(1, 2);
        let first = granted(&queue, address(1)).await;
        let second = queue.slot(address(1));
        tokio::pin!(second);
        assert!(second.as_mut().now_or_never().is_none());
        assert_eq!(
            queue.slot(address(1)).await.unwrap_err(),
            HashQueueError::Full(2)
        );
        // Another address still queues.
        let other = queue.slot(address(2));
        tokio::pin!(other);
        assert!(other.as_mut().now_or_never().is_none());
        drop(first);
        let second = second.await.unwrap();
        drop(second);
        other.await.unwrap();
    }

    #[tokio::test]
    async fn a_waiter_that_gave_up_is_skipped() {
        let queue = HashQueue::new(1, 0);
        let first = granted(&queue, address(1)).await;
        // Boxed, so that dropping it really drops the waiting future.
        let mut abandoned = Box::pin(queue.slot(address(2)));
        assert!(abandoned.as_mut().now_or_never().is_none());
        let next = queue.slot(address(3));
        tokio::pin!(next);
        assert!(next.as_mut().now_or_never().is_none());
        drop(abandoned);
        drop(first);
        let next = tokio::time::timeout(Duration::from_secs(1), next)
            .await
            .expect("the slot passes over the abandoned waiter")
            .unwrap();
        drop(next);
        assert_eq!(lock(&queue.state).running, 0);
    }
}
