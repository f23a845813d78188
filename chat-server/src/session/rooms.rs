//! `rooms`: every room on the server, with its members and newest id.

use chat_proto::{ErrorCode, RoomInfo, ServerFrame};

use super::Context;

/// A `rooms` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rooms;

impl Rooms {
    pub(super) async fn run(self, cx: &mut Context) {
        let rooms = match cx.shared.store.rooms().await {
            Ok(rooms) => rooms,
            Err(e) => {
                tracing::error!(peer = %cx.peer, error = %e, "could not list rooms");
                cx.replies
                    .error(ErrorCode::Internal, "could not list rooms; retry");
                return;
            }
        };
        let names = rooms.iter().map(|room| room.name.clone()).collect();
        match cx.shared.broker.member_counts(names).await {
            Ok(counts) => cx.replies.send(&ServerFrame::Rooms {
                mine: false,
                rooms: rooms
                    .into_iter()
                    .zip(counts)
                    .map(|(room, members)| RoomInfo::new(room.name, members, room.last_id))
                    .collect(),
                more: false,
            }),
            Err(e) => {
                tracing::error!(peer = %cx.peer, error = %e, "could not count members");
                cx.replies
                    .error(ErrorCode::Internal, "could not list rooms; retry");
            }
        }
    }
}
