//! `history`: a page of a joined room's stored messages.

use chat_proto::limits::clamp_history_limit;
use chat_proto::{ErrorCode, RoomName, ServerFrame};

use super::Context;
use super::command::room_name;
use super::reply::Refusal;
use crate::store::{Actor, Page};

/// A `history` request of a valid room name and one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct History {
    pub(super) room: RoomName,
    pub(super) page: Page,
}

impl History {
    pub(super) fn parse(
        room: &str,
        before: Option<u64>,
        after: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Self, Refusal> {
        let room = room_name(room)?;
        let limit = clamp_history_limit(limit);
        let page = match (before, after) {
            (Some(_), Some(_)) => {
                return Err(Refusal::new(
                    ErrorCode::BadFrame,
                    "history takes `before` or `after`, not both",
                ));
            }
            (Some(id), None) => Page::Before { id, limit },
            (None, Some(id)) => Page::After { id, limit },
            (None, None) => Page::Newest { limit },
        };
        Ok(Self { room, page })
    }

    /// A conversation's two users may read it without joining it.
    pub(super) async fn run(self, cx: &mut Context, actor: &Actor) {
        if !cx.in_room(&self.room, actor).await {
            return;
        }
        match cx.shared.store.history(&self.room, self.page).await {
            Ok(page) => cx.replies.send(&ServerFrame::History {
                room: self.room.into_string(),
                messages: page.entries,
                more: page.more,
            }),
            Err(e) => {
                tracing::error!(peer = %cx.peer, error = %e, "could not read history");
                cx.replies
                    .error(ErrorCode::Internal, "could not read history; retry");
            }
        }
    }
}
