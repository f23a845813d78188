//! `join`: enters a room in two steps (pending member, history snapshot,
//! then live), so the joiner sees every message exactly once; a
//! registered joiner's remembered rooms gain the room, and `joined`
//! carries where the joiner stopped reading.

use std::sync::Arc;

use chat_proto::limits::clamp_history_limit;
use chat_proto::{ErrorCode, RoomDetails, RoomName, ServerFrame};

use super::command::room_name;
use super::reply::Refusal;
use super::{Context, conversation};
use crate::registry::Room;
use crate::store::{Actor, JoinOutcome, Page, RoomSnapshot, RoomState};

/// A `join` of a valid room name, with the history page it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Join {
    pub(super) room: RoomName,
    pub(super) page: Page,
}

impl Join {
    pub(super) fn parse(
        room: &str,
        since: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Self, Refusal> {
        let room = room_name(room)?;
        let limit = clamp_history_limit(limit);
        let page = match since {
            Some(id) => Page::After { id, limit },
            None => Page::Newest { limit },
        };
        Ok(Self { room, page })
    }

    pub(super) async fn run(self, cx: &mut Context, actor: &Actor) {
        let Join { room: name, page } = self;
        let rejoin = cx
            .rooms
            .get(&name)
            .is_some_and(|room| room.is_member(cx.conn));
        if !may_enter(cx, &name, actor).await {
            return;
        }
        let shared = cx.shared.clone();
        let room = shared
            .registry
            .subscribe(&name, cx.conn, &actor.name, cx.replies.outbox());
        // One read decides and snapshots: the joiner is pending, not yet
        // present, so a refusal leaves no trace for the others.
        let snapshot = shared.store.join(&name, actor, page).await;
        if let Ok(JoinOutcome::Refused(refusal)) = snapshot {
            // Banned, or a private room it is not on.
            let refusal = Refusal::new(refusal.code, refusal.reason);
            refuse(cx, &name, room, rejoin, refusal);
            return;
        }
        if matches!(snapshot, Ok(JoinOutcome::Joined(_))) {
            shared.registry.admit(&room, cx.conn);
        }
        // On one node the registry lists the members as it queues
        // `joined` (`activate`), at the instant held presence is cut; a
        // cluster's list is the broker's.
        let members = if shared.registry.lists_members() {
            Ok(Vec::new())
        } else {
            shared.broker.members(&name).await
        };
        match (snapshot, members) {
            (Ok(JoinOutcome::Joined(snapshot)), Ok(members)) => {
                go_live(cx, actor, name, room, snapshot, members).await;
            }
            (snapshot, members) => {
                let error = snapshot
                    .map(drop)
                    .err()
                    .map(|e| e.to_string())
                    .or(members.err().map(|e| e.to_string()));
                tracing::error!(peer = %cx.peer, room = %name, error = error.as_deref().unwrap_or(""), "join failed");
                let refusal = Refusal::new(ErrorCode::Internal, "could not join the room; retry");
                refuse(cx, &name, room, rejoin, refusal);
            }
        }
    }
}

/// Answers a join that did not go through. A member re-joining stays in
/// the room: what was held since `subscribe` is released after the
/// error. Anyone else is taken out again (heard by nobody unless the
/// read had already admitted it).
fn refuse(cx: &mut Context, name: &RoomName, room: Arc<Room>, rejoin: bool, refusal: Refusal) {
    let error = cx.replies.error_frame(refusal);
    if rejoin {
        cx.shared.registry.activate(&room, cx.conn, 0, error);
    } else {
        cx.shared.registry.leave(&room, cx.conn);
        cx.rooms.remove(name);
        cx.replies.send(&error);
    }
}

/// Step two, the snapshot read: queues `joined` (with the joiner's read
/// marker) and goes live, then remembers the room for a registered
/// joiner when it was not yet.
async fn go_live(
    cx: &mut Context,
    actor: &Actor,
    name: RoomName,
    room: Arc<Room>,
    mut snapshot: RoomSnapshot,
    members: Vec<String>,
) {
    if actor.registered {
        // A `read` at or below it need not reach the store.
        cx.read_marks.insert(name.clone(), snapshot.state.read_id);
    } else {
        // A guest's marker is this connection's own.
        snapshot.state.read_id = cx.read_marks.get(&name).copied().unwrap_or(0);
    }
    let remember = actor.registered && !snapshot.state.listed;
    let joined = ServerFrame::Joined {
        room: name.to_string(),
        members,
        history: snapshot.page.entries,
        more: snapshot.page.more,
        last_id: snapshot.last_id,
        details: Some(details(&name, snapshot.state)),
    };
    cx.shared
        .registry
        .activate(&room, cx.conn, snapshot.last_id, joined);
    cx.rooms.insert(name.clone(), room);
    if remember {
        remember_room(cx, actor, &name).await;
    }
}

/// Adds the room to the registered joiner's remembered rooms (written
/// only when the snapshot showed it missing), before the next request is
/// read, so a `rooms mine` after `joined` lists it.
async fn remember_room(cx: &mut Context, actor: &Actor, room: &RoomName) {
    let remembered = cx.shared.store.remember_room(&actor.name, room);
    if let Err(e) = remembered.await {
        tracing::warn!(peer = %cx.peer, %room, error = %e, "the room is not remembered");
    }
}

/// Whether the session may try to enter the room: within its cap of
/// rooms, a conversation of its own. Else the refusal has been answered.
/// Bans and private rooms are the store's to decide, in the join's read.
async fn may_enter(cx: &mut Context, name: &RoomName, actor: &Actor) -> bool {
    let cap = cx.shared.config.rooms_per_session;
    if !cx.rooms.contains_key(name) && cap > 0 && cx.rooms.len() >= cap {
        cx.replies.refuse(Refusal::new(
            ErrorCode::RateLimited,
            format!("this session is in {cap} rooms, the most it may be in: leave one first"),
        ));
        return false;
    }
    conversation::may_read(cx, name, actor).await
}

/// `joined`'s protocol-2 fields. A conversation is private to its two
/// users and has no owner and no ops.
fn details(room: &RoomName, state: RoomState) -> RoomDetails {
    if room.is_conversation() {
        return RoomDetails {
            topic: String::new(),
            owner: None,
            ops: Vec::new(),
            private: true,
            role: state.role,
            read_id: state.read_id,
        };
    }
    RoomDetails {
        topic: state.topic,
        owner: state.owner,
        ops: state.ops,
        private: state.private,
        role: state.role,
        read_id: state.read_id,
    }
}
