//! Graceful shutdown: one broadcast tells every task to stop, and a drop
//! guard each task holds lets the server know when all of them have.

use tokio::sync::{broadcast, mpsc};

/// A task's view of the shutdown signal.
#[derive(Debug)]
pub struct Shutdown {
    is_shutdown: bool,
    notify: broadcast::Receiver<()>,
}

impl Shutdown {
    pub fn new(notify: broadcast::Receiver<()>) -> Self {
        Self {
            is_shutdown: false,
            notify,
        }
    }

    pub fn is_shutdown(&self) -> bool {
        self.is_shutdown
    }

    /// Waits for the shutdown signal; returns at once after it was seen.
    pub async fn recv(&mut self) {
        if self.is_shutdown {
            return;
        }
        // Lagged or closed both mean the server is going away.
        let _ = self.notify.recv().await;
        self.is_shutdown = true;
    }
}

/// Held by every connection task; the server waits until all are dropped.
#[derive(Debug, Clone)]
pub struct TaskGuard {
    _done: mpsc::Sender<()>,
}

impl TaskGuard {
    pub fn new(done: mpsc::Sender<()>) -> Self {
        Self { _done: done }
    }
}
