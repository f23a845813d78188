//! `message`: queues a message to a joined room for storage. Its receipt
//! is awaited by the session loop; the echo to the sender (with its `ref`)
//! comes through fan-out once the message is stored.

use std::pin::Pin;

use chat_proto::{ErrorCode, RoomName, UserName, validate_text};

use super::Context;
use super::command::room_name;
use super::reply::Refusal;
use crate::store::{NewMessage, StoreError};

/// A queued message waiting for its commit: its `ref`, and the receipt.
pub(super) type PendingAppend =
    Pin<Box<dyn Future<Output = (Option<String>, Result<u64, StoreError>)> + Send>>;

/// A `message` with a valid room name, text and `ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Post {
    pub(super) room: RoomName,
    pub(super) text: String,
    pub(super) reference: Option<String>,
}

impl Post {
    /// `echoed` is the frame's `ref` as the decoder checked it for
    /// echoing: the same string when it is within the limit.
    pub(super) fn parse(
        room: &str,
        text: String,
        reference: Option<String>,
        echoed: Option<&str>,
    ) -> Result<Self, Refusal> {
        if reference.is_some() && echoed.is_none() {
            // A `message` decodes only with a string `ref`, so one that
            // cannot be echoed is too long.
            return Err(Refusal::new(
                ErrorCode::BadFrame,
                "ref is longer than 64 characters",
            ));
        }
        let room = room_name(room)?;
        validate_text(&text).map_err(|e| Refusal::new(ErrorCode::InvalidText, e.to_string()))?;
        Ok(Self {
            room,
            text,
            reference,
        })
    }

    pub(super) async fn run(self, cx: &mut Context, user: &UserName) {
        let Post {
            room,
            text,
            reference,
        } = self;
        if cx.joined(&room).is_none() {
            return;
        }
        let new_message = NewMessage {
            room,
            user: user.clone(),
            text,
            reference: reference.clone(),
            origin: cx.conn,
        };
        match cx.shared.store.queue_append(new_message).await {
            Ok(receipt) => cx
                .appends
                .push(Box::pin(async move { (reference, receipt.await) })),
            Err(e) => {
                tracing::error!(peer = %cx.peer, error = %e, "queueing a message failed");
                cx.replies.error(
                    ErrorCode::Internal,
                    "the message could not be stored; retry",
                );
            }
        }
    }
}

/// A queued message's receipt resolved: a failure is the sender's to hear,
/// about the frame that carried this `ref`.
pub(super) fn settled(
    cx: &Context,
    (reference, result): (Option<String>, Result<u64, StoreError>),
) {
    if let Err(e) = result {
        // A storage fault is logged once by the store, not per message.
        if matches!(e, StoreError::Unavailable(_)) {
            tracing::debug!(peer = %cx.peer, error = %e, "storing a message failed");
        } else {
            tracing::warn!(peer = %cx.peer, error = %e, "storing a message failed");
        }
        cx.replies.error_about(
            reference,
            ErrorCode::Internal,
            "the message could not be stored; retry",
        );
    }
}
