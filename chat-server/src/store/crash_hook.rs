//! A test hook, off unless the hidden `--abort-after-commits N` flag sets
//! it: the process aborts right after the Nth transaction that stored an
//! entry has committed, before any of that transaction's entries is
//! fanned out or acknowledged. It is how the end-to-end tests make the one
//! crash that exactly once is about (stored, but the sender never heard)
//! happen on purpose instead of by luck. Unset, it costs one atomic load
//! per commit.

use std::sync::atomic::{AtomicU64, Ordering};

/// 0: off.
static ABORT_AFTER: AtomicU64 = AtomicU64::new(0);
/// Transactions that stored an entry, in this process.
static STORING_COMMITS: AtomicU64 = AtomicU64::new(0);

/// Arms the hook: abort after the `commits`th storing commit (0 disarms).
pub fn abort_after_commits(commits: u64) {
    ABORT_AFTER.store(commits, Ordering::Relaxed);
}

/// Called by a store's writer once a transaction has committed, before
/// anything of it is answered; `stored` says whether it stored an entry.
pub(crate) fn committed(stored: bool) {
    let after = ABORT_AFTER.load(Ordering::Relaxed);
    if after == 0 || !stored {
        return;
    }
    let count = STORING_COMMITS.fetch_add(1, Ordering::Relaxed) + 1;
    if count >= after {
        eprintln!("test hook: aborting after storing commit {count} (--abort-after-commits)");
        std::process::abort();
    }
}
