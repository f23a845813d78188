//! `rooms`: every room on the server the session may see (private rooms
//! only to those on them), with its members, newest id, topic and privacy.

use chat_proto::{ErrorCode, RoomInfo, ServerFrame};

use super::Context;
use crate::store::{Actor, StoreError, StoredRoom};

/// A `rooms` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rooms;

impl Rooms {
    pub(super) async fn run(self, cx: &mut Context, actor: &Actor) {
        let rooms = match listed(cx, actor).await {
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
                    .map(|(room, members)| RoomInfo {
                        topic: Some(room.topic),
                        private: Some(room.private),
                        ..RoomInfo::new(room.name, members, room.last_id)
                    })
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

/// The rooms `actor` may see: every public one, and the private ones it
/// is on (all of them for an admin).
async fn listed(cx: &mut Context, actor: &Actor) -> Result<Vec<StoredRoom>, StoreError> {
    let store = cx.shared.store.clone();
    let mut rooms = store.rooms().await?;
    if !actor.admin && rooms.iter().any(|room| room.private) {
        let readable = store.readable_private(actor).await?;
        rooms.retain(|room| !room.private || readable.contains(&room.name));
    }
    Ok(rooms)
}
