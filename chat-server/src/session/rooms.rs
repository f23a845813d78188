//! `rooms`: one page of the room list (protocol 2's "Listing rooms"), in
//! name order, with each room's members, newest id, topic and privacy;
//! private rooms only to those on them. A protocol-1 `{"type":"rooms"}`
//! gets the first page. `rooms mine` lists a registered user's
//! remembered rooms with their read markers (a guest remembers none: the
//! list is empty).

use chat_proto::limits::{MAX_ROOM_CHARS, clamp_rooms_limit};
use chat_proto::{ErrorCode, RoomInfo, ServerFrame};

use super::Context;
use crate::store::{Actor, MyRoom, RoomPage, RoomQuery, StoreError};

/// A `rooms` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Rooms {
    /// A page of every room.
    Page(RoomQuery),
    /// `mine`: the user's remembered rooms.
    Mine,
}

impl Rooms {
    pub(super) fn parse(
        mine: bool,
        query: Option<String>,
        limit: Option<u32>,
        after: Option<String>,
    ) -> Self {
        if mine {
            return Self::Mine;
        }
        // Room names are lower case: so is what is matched against them.
        let fold = |text: String| text.to_ascii_lowercase();
        Self::Page(RoomQuery {
            contains: query.map(fold).filter(|query| !query.is_empty()),
            after: after.map(fold).filter(|after| !after.is_empty()),
            limit: clamp_rooms_limit(limit),
        })
    }

    pub(super) async fn run(self, cx: &mut Context, actor: &Actor) {
        let query = match self {
            Self::Mine => return mine(cx, actor).await,
            Self::Page(query) => query,
        };
        // No room name holds a longer string: nothing to read.
        let page = if query
            .contains
            .as_ref()
            .is_some_and(|q| q.len() > MAX_ROOM_CHARS)
        {
            Ok(RoomPage::default())
        } else {
            listed(cx, actor, query).await
        };
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(peer = %cx.peer, error = %e, "could not list rooms");
                cx.replies
                    .error(ErrorCode::Internal, "could not list rooms; retry");
                return;
            }
        };
        let names = page.rooms.iter().map(|room| room.name.clone()).collect();
        match cx.shared.broker.member_counts(names).await {
            Ok(counts) => cx.replies.send(&ServerFrame::Rooms {
                mine: false,
                rooms: page
                    .rooms
                    .into_iter()
                    .zip(counts)
                    // A room that never held an entry and has nobody in
                    // it is not listed (it is forgotten once empty; this
                    // hides one whose sweep has not run yet).
                    .filter(|(room, members)| room.last_id > 0 || *members > 0)
                    .map(|(room, members)| RoomInfo {
                        topic: Some(room.topic),
                        private: Some(room.private),
                        ..RoomInfo::new(room.name, members, room.last_id)
                    })
                    .collect(),
                more: page.more,
            }),
            Err(e) => {
                tracing::error!(peer = %cx.peer, error = %e, "could not count members");
                cx.replies
                    .error(ErrorCode::Internal, "could not list rooms; retry");
            }
        }
    }
}

/// One page of the rooms `actor` may see: every public one, and the
/// private ones it is on (all of them for an admin). A private room left
/// out makes the page shorter; `more` still says whether rooms follow.
async fn listed(cx: &mut Context, actor: &Actor, query: RoomQuery) -> Result<RoomPage, StoreError> {
    let store = cx.shared.store.clone();
    let mut page = store.list_rooms(query).await?;
    if !actor.admin && page.rooms.iter().any(|room| room.private) {
        let readable = store.readable_private(actor).await?;
        page.rooms
            .retain(|room| !room.private || readable.contains(&room.name));
    }
    Ok(page)
}

/// Answers `rooms mine`: the registered user's remembered rooms in name
/// order, each with its members across the cluster, newest id and the
/// user's read marker; empty for a guest.
async fn mine(cx: &mut Context, actor: &Actor) {
    let mine: Result<Vec<MyRoom>, String> = if actor.registered {
        let shared = cx.shared.clone();
        shared
            .store
            .my_rooms(&actor.name)
            .await
            .map_err(|e| e.to_string())
    } else {
        Ok(Vec::new())
    };
    let counted = match mine {
        Ok(rooms) if rooms.is_empty() => Ok((rooms, Vec::new())),
        Ok(rooms) => {
            let names = rooms.iter().map(|mine| mine.room.name.clone()).collect();
            let counts = cx.shared.broker.member_counts(names).await;
            counts
                .map(|counts| (rooms, counts))
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e),
    };
    match counted {
        Ok((rooms, counts)) => cx.replies.send(&ServerFrame::Rooms {
            mine: true,
            rooms: rooms
                .into_iter()
                .zip(counts)
                .map(|(mine, members)| RoomInfo {
                    read_id: Some(mine.read_id),
                    topic: Some(mine.room.topic),
                    private: Some(mine.room.private),
                    ..RoomInfo::new(mine.room.name, members, mine.room.last_id)
                })
                .collect(),
            more: false,
        }),
        Err(e) => {
            tracing::error!(peer = %cx.peer, error = %e, "could not list the user's rooms");
            cx.replies
                .error(ErrorCode::Internal, "could not list your rooms; retry");
        }
    }
}
