//! `read`: moves the user's read marker in a joined room forward. It has
//! no answer; a marker that moved reaches the user's other connections as
//! the same frame, on this node and (through the broker) on the others.
//!
//! Cheap by construction: a connection's `read` reaches the store only
//! when it asks for more than the marker this connection last knew (from
//! its `joined` or its own `read`s that moved it), so a client sending
//! the same one per screen change, or going back, costs a map lookup;
//! each takes a rate-limit token like any
//! request, and on SQLite the write is queued to the writer thread, where
//! every `read` waiting at once shares one transaction with the other
//! queued writes. A guest's marker is this connection's alone and is
//! never stored.

use chat_proto::{RoomName, ServerFrame};

use super::Context;
use super::command::room_name;
use super::reply::Refusal;
use crate::store::{Actor, Page};

/// A `read` of a valid room name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MarkRead {
    pub(super) room: RoomName,
    pub(super) id: u64,
}

impl MarkRead {
    pub(super) fn parse(room: &str, id: u64) -> Result<Self, Refusal> {
        Ok(Self {
            room: room_name(room)?,
            id,
        })
    }

    /// A room not joined on this connection is `not_in_room`.
    pub(super) async fn run(self, cx: &mut Context, actor: &Actor) {
        let MarkRead { room, id } = self;
        if cx.joined(&room).is_none() {
            return;
        }
        let asked = cx.read_marks.get(&room).copied().unwrap_or(0);
        if id <= asked {
            return;
        }
        if !actor.registered {
            // Only this connection's: it stops at the room's newest entry.
            let newest = cx.shared.store.history(&room, Page::Newest { limit: 1 });
            match newest.await {
                Ok(page) => {
                    let last = page.entries.last().map_or(0, |entry| entry.id());
                    cx.read_marks.insert(room, id.min(last).max(asked));
                }
                Err(e) => tracing::warn!(peer = %cx.peer, %room, error = %e, "read not kept"),
            }
            return;
        }
        let shared = cx.shared.clone();
        match shared.store.mark_read(&actor.name, &room, id).await {
            Ok(moved) => {
                if let Some(read_id) = moved {
                    // The stored marker, not the id asked for: one asked
                    // past the newest entry stops there, and a later
                    // `read` of a newer entry must still get through.
                    cx.read_marks.insert(room.clone(), read_id);
                    let read = ServerFrame::Read {
                        room: room.to_string(),
                        id: read_id,
                    };
                    shared
                        .registry
                        .send_to_user(&actor.name, Some(cx.conn), &read);
                    shared.broker.relay_read(&room, &actor.name, read_id);
                }
            }
            // No answer is due: the client sends the next one anyway.
            Err(e) => tracing::warn!(peer = %cx.peer, %room, error = %e, "read marker not stored"),
        }
    }
}
