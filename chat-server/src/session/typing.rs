//! `typing`: tells a room's other members that the user is typing. Never
//! stored, never acknowledged; at most one relayed per user and room every
//! [`crate::limits::TYPING_INTERVAL`], so a client that sends one per key
//! press costs the room nothing more.

use chat_proto::RoomName;

use super::Context;
use super::command::room_name;
use super::reply::Refusal;
use crate::store::Actor;

/// A `typing` in a valid room name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Typing {
    pub(super) room: RoomName,
}

impl Typing {
    pub(super) fn parse(room: &str) -> Result<Self, Refusal> {
        Ok(Self {
            room: room_name(room)?,
        })
    }

    /// Relays to this node's members and, when this node relayed it, to
    /// the other nodes; a room not joined is `not_in_room`. In a
    /// conversation, which needs no join, it goes to the partner's
    /// connections instead.
    pub(super) async fn run(self, cx: &mut Context, actor: &Actor) {
        let user = &actor.name;
        let relayed = if self.room.is_conversation() {
            cx.in_room(&self.room, actor).await
                && cx.shared.registry.typing_in_conversation(&self.room, user)
        } else {
            let Some(room) = cx.joined(&self.room) else {
                return;
            };
            cx.shared.registry.typing(&room, user)
        };
        if relayed {
            cx.shared.broker.relay_typing(&self.room, user);
        }
    }
}
