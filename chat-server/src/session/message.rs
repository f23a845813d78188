//! `message`: queues a message to a joined room for storage (see
//! `entry`); the echo to the sender (with its `ref`) comes through fan-out
//! once the message is stored. Protocol 2 adds `reply_to` (checked by the
//! store: a live message of the same room) and `action`.

use chat_proto::{ErrorCode, RoomName, validate_text};

use super::command::room_name;
use super::reply::Refusal;
use super::{Context, entry};
use crate::store::{Actor, Change, NewEntry, Seen};

/// A `message` with a valid room name, text and `ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Post {
    pub(super) room: RoomName,
    pub(super) text: String,
    pub(super) reference: Option<String>,
    pub(super) reply_to: Option<u64>,
    pub(super) action: bool,
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
        let reference = entry::echoable(reference, echoed)?;
        let room = room_name(room)?;
        validate_text(&text).map_err(|e| Refusal::new(ErrorCode::InvalidText, e.to_string()))?;
        Ok(Self {
            room,
            text,
            reference,
            reply_to: None,
            action: false,
        })
    }

    /// The same message answering `reply_to`, maybe as an action.
    pub(super) fn with(self, reply_to: Option<u64>, action: bool) -> Self {
        Self {
            reply_to,
            action,
            ..self
        }
    }

    pub(super) async fn run(self, cx: &mut Context, actor: &Actor) {
        let Post {
            room,
            text,
            reference,
            reply_to,
            action,
        } = self;
        if !cx.in_room(&room, actor).await {
            return;
        }
        let entry = NewEntry {
            room,
            actor: actor.clone(),
            change: Change::Message {
                text,
                reply_to,
                action,
            },
            reference,
            origin: cx.conn,
            seen: Seen::default(),
        };
        entry::queue(cx, entry).await;
    }
}
