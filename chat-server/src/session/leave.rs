//! `leave`: leaves a joined room; the leaver hears its own leave, and a
//! registered user's remembered rooms lose it (a disconnect keeps it).

use chat_proto::{RoomName, ServerFrame};

use super::Context;
use super::command::room_name;
use super::reply::Refusal;
use crate::clock::now_ms;
use crate::store::Actor;

/// A `leave` of a valid room name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Leave {
    pub(super) room: RoomName,
}

impl Leave {
    pub(super) fn parse(room: &str) -> Result<Self, Refusal> {
        Ok(Self {
            room: room_name(room)?,
        })
    }

    pub(super) async fn run(self, cx: &mut Context, actor: &Actor) {
        let Some(room) = cx.joined(&self.room) else {
            return;
        };
        cx.rooms.remove(&self.room);
        cx.shared.registry.leave(&room, cx.conn);
        if actor.registered {
            // Before the confirmation, so a `rooms mine` after it agrees.
            let forgotten = cx.shared.store.forget_room(&actor.name, &self.room);
            if let Err(e) = forgotten.await {
                tracing::warn!(peer = %cx.peer, room = %self.room, error = %e, "the room stays remembered");
            }
        }
        // The leaver always hears its own leave, as confirmation.
        cx.replies.send(&ServerFrame::Leave {
            room: self.room.into_string(),
            user: actor.name.to_string(),
            ts: now_ms(),
        });
    }
}
