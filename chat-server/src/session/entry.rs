//! Queueing an entry to a room's stream and hearing what became of it,
//! for every request that makes one (`message`, and the protocol-2
//! moderation requests). The store answers each receipt after fan-out, so
//! a stored entry's echo (with its `ref`) has already been queued to the
//! actor; a request the store found stored before (the same `ref` and
//! content, see `store/fingerprint.rs`), a refusal or a failure is answered
//! here, about that `ref`.

use std::pin::Pin;

use chat_proto::{ErrorCode, RoomName, ServerFrame, UserName};

use super::Context;
use super::command::room_name;
use super::reply::Refusal;
use crate::broker::BrokerError;
use crate::shared::Shared;
use crate::store::{Actor, Change, NewEntry, Outcome, Seen, StoreError};

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
        // Sent before and stored then: the stored entry, with its `ref`,
        // is the acknowledgement, to this connection alone.
        Ok(Outcome::Duplicate(stored)) => cx.replies.send(&ServerFrame::from(stored)),
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

/// The request's `ref`, refused when it cannot be echoed: `echoed` is the
/// frame's `ref` as the decoder checked it, the same string when within
/// the limit, so a `ref` without it is too long.
pub(super) fn echoable(
    reference: Option<String>,
    echoed: Option<&str>,
) -> Result<Option<String>, Refusal> {
    if reference.is_some() && echoed.is_none() {
        return Err(Refusal::new(
            ErrorCode::BadFrame,
            "ref is longer than 64 characters",
        ));
    }
    Ok(reference)
}

/// A request that makes an entry, with every field valid: the room, what
/// it changes and the `ref` to echo. Each protocol-2 kind's file makes
/// one from its frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Request {
    pub(super) room: RoomName,
    pub(super) change: Change,
    pub(super) reference: Option<String>,
}

impl Request {
    /// `echoed` is the frame's `ref` as the decoder checked it for
    /// echoing: the same string when it is within the limit.
    pub(super) fn new(
        room: &str,
        change: Change,
        reference: Option<String>,
        echoed: Option<&str>,
    ) -> Result<Self, Refusal> {
        Ok(Self {
            reference: echoable(reference, echoed)?,
            room: room_name(room)?,
            change,
        })
    }

    /// Queues the entry for a joined room; the store checks the room's
    /// rules when it stores it.
    pub(super) async fn run(self, cx: &mut Context, actor: &Actor) {
        if !cx.in_room(&self.room, actor).await {
            return;
        }
        let shared = cx.shared.clone();
        let seen = match seen(&shared, &self.room, &self.change).await {
            Ok(seen) => seen,
            Err(e) => {
                tracing::error!(peer = %cx.peer, error = %e, "could not read the room's members");
                cx.replies.error(
                    ErrorCode::Internal,
                    "the request could not be served; retry",
                );
                return;
            }
        };
        let entry = NewEntry {
            room: self.room,
            actor: actor.clone(),
            change: self.change,
            reference: self.reference,
            origin: cx.conn,
            seen,
        };
        queue(cx, entry).await;
    }
}

/// What only presence knows, for the changes whose rules need it.
async fn seen(shared: &Shared, room: &RoomName, change: &Change) -> Result<Seen, BrokerError> {
    let admins = &shared.config.admins;
    let mut seen = Seen {
        subject_admin: change
            .subject()
            .is_some_and(|subject| admins.contains(subject)),
        ..Seen::default()
    };
    if let Change::Delete { .. } = change {
        // Who may delete depends on whether the author is an admin.
        seen.admins = admins.folded_names().map(str::to_owned).collect();
    }
    let needs_presence = matches!(
        change,
        Change::Kick { .. }
            | Change::Role { .. }
            | Change::Invite { .. }
            | Change::Settings { private: true }
    );
    if needs_presence {
        let present = shared.broker.members(room).await?;
        seen.subject_present = change
            .subject()
            .is_some_and(|subject| present.iter().any(|p| p == subject.as_str()));
        seen.present = present;
    }
    Ok(seen)
}

/// A `subject` from a frame, or the `invalid_name` refusal.
pub(super) fn subject_name(raw: &str) -> Result<UserName, Refusal> {
    UserName::parse(raw).map_err(|e| Refusal::new(ErrorCode::InvalidName, format!("subject: {e}")))
}

/// A topic or reason outside its rules is `invalid_text`.
pub(super) fn text_rule<E: std::fmt::Display>(checked: Result<(), E>) -> Result<(), Refusal> {
    checked.map_err(|e| Refusal::new(ErrorCode::InvalidText, e.to_string()))
}
