//! `leave`: leaves a joined room; the leaver hears its own leave.

use chat_proto::{RoomName, ServerFrame, UserName};

use super::Context;
use super::command::room_name;
use super::reply::Refusal;
use crate::clock::now_ms;

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

    pub(super) fn run(self, cx: &mut Context, user: &UserName) {
        let Some(room) = cx.joined(&self.room) else {
            return;
        };
        cx.rooms.remove(&self.room);
        cx.shared.registry.leave(&room, cx.conn);
        // The leaver always hears its own leave, as confirmation.
        cx.replies.send(&ServerFrame::Leave {
            room: self.room.into_string(),
            user: user.to_string(),
            ts: now_ms(),
        });
    }
}
