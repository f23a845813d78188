//! Queueing an entry to a room's stream and hearing what became of it,
//! for every request that makes one (`message`, and the protocol-2
//! moderation requests). The store answers each receipt after fan-out, so
//! a stored entry's echo (with its `ref`) has already been queued to the
//! actor; a refusal or a failure is answered here, about that `ref`.

use std::pin::Pin;

use chat_proto::ErrorCode;

use super::Context;
use crate::store::{NewEntry, Outcome, StoreError};

/// A queued entry waiting for its commit: its `ref`, and the receipt.
pub(super) type PendingAppend =
    Pin<Box<dyn Future<Output = (Option<String>, Result<Outcome, StoreError>)> + Send>>;

/// Queues `entry`; its receipt is awaited by the session loop.
pub(super) async fn queue(cx: &mut Context, entry: NewEntry) {
    let reference = entry.reference.clone();
    match cx.shared.store.queue_entry(entry).await {
        Ok(receipt) => cx
            .appends
            .push(Box::pin(async move { (reference, receipt.await) })),
        Err(e) => {
            tracing::error!(peer = %cx.peer, error = %e, "queueing an entry failed");
            cx.replies.error(
                ErrorCode::Internal,
                "the request could not be stored; retry",
            );
        }
    }
}

/// A queued entry's receipt resolved: a refusal or a failure is the
/// actor's to hear, about the frame that carried this `ref`.
pub(super) fn settled(
    cx: &Context,
    (reference, result): (Option<String>, Result<Outcome, StoreError>),
) {
    match result {
        Ok(Outcome::Stored(_)) => {}
        Ok(Outcome::Refused(refusal)) => {
            cx.replies
                .error_about(reference, refusal.code, refusal.reason);
        }
        Err(e) => {
            // A storage fault is logged once by the store, not per entry.
            if matches!(e, StoreError::Unavailable(_)) {
                tracing::debug!(peer = %cx.peer, error = %e, "storing an entry failed");
            } else {
                tracing::warn!(peer = %cx.peer, error = %e, "storing an entry failed");
            }
            cx.replies.error_about(
                reference,
                ErrorCode::Internal,
                "the message could not be stored; retry",
            );
        }
    }
}
