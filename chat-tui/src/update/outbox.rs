//! The outbox's send and acknowledgement path: a request is queued and
//! saved to disk before it is first sent ([`queue`]), sent in the order
//! made once its room is caught up ([`flush_outbox`]), and taken out when
//! the server's copy of its entry comes back carrying its `ref`
//! ([`acknowledge`]). Lines typed, and every other frame that makes a room
//! entry (edits, reactions, moderation), go through here.

use chat_proto::ClientFrame;

use super::Effect;
use crate::app::{App, RoomSync};

/// Queues the request `make` builds around a new `ref` for `room`, has the
/// runner put it on disk, and only then sends it if the room is caught up
/// on a live socket (else it goes when the room is, after a reconnect or
/// a restart). Returns the `ref`.
/// `what` says in words what a request other than a chat line asks.
pub(super) fn queue(
    app: &mut App,
    room: &str,
    what: Option<String>,
    make: impl FnOnce(String) -> ClientFrame,
    fx: &mut Vec<Effect>,
) -> String {
    let now_ms = app.now_ms;
    let reference = app.outbox.push(room, now_ms, what, make);
    // Before any send: a client killed after this effect has the request
    // on disk and sends it when started again.
    fx.push(Effect::SaveStateDurably(app.saved_state()));
    let live = app
        .room_index(room)
        .is_some_and(|i| app.rooms[i].sync == RoomSync::Live);
    if app.conn.is_online() && live {
        flush_outbox(app, room, fx);
    }
    reference
}

/// Sends one outbox request and marks it in flight.
pub(super) fn send_pending(app: &mut App, reference: &str, fx: &mut Vec<Effect>) {
    if let Some(p) = app.outbox.by_ref_mut(reference) {
        p.in_flight = true;
        p.retry_at = None;
        fx.push(Effect::Send(p.frame.clone()));
    }
}

/// Sends a live room's unsent requests in the order made, stopping at one
/// that must still wait (so order is kept).
pub(super) fn flush_outbox(app: &mut App, room: &str, fx: &mut Vec<Effect>) {
    if !app.conn.is_online() {
        return;
    }
    let mut due = Vec::new();
    for p in app.outbox.in_room(room) {
        if p.in_flight {
            continue;
        }
        if p.retry_at.is_some_and(|t| t > app.now) {
            break;
        }
        due.push(p.reference.clone());
    }
    for reference in due {
        send_pending(app, &reference, fx);
    }
}

/// A live entry carrying `reference`: if it is one of ours, the entry
/// our request made (only the sender's copy carries the `ref`), so the
/// request is done. Its removal reaches the disk with the next save; a run
/// killed before then sends it again, and the server answers that with the
/// same entry.
pub(super) fn acknowledge(app: &mut App, reference: &str) {
    if app.outbox.take_by_ref(reference).is_some() {
        app.state_dirty = true;
    }
}
