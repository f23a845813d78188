//! The outbox's send and acknowledgement path: a request is queued and
//! saved to disk before it is first sent ([`queue`]), sent in the order
//! made once its room is caught up ([`flush_outbox`]), and taken out when
//! the server's copy of its entry comes back carrying its `ref`
//! ([`acknowledge`]). Lines typed, and every other frame that makes a room
//! entry (edits, reactions, moderation), go through here.

use chat_proto::{ClientFrame, ServerFrame};

use super::Effect;
use crate::app::{App, RoomSync};

/// Queues the request `make` builds around a new `ref` for `room`, has the
/// runner put it on disk, and only then sends it if the room is caught up
/// on a live socket (else it goes when the room is, after a reconnect or
/// a restart). Returns the `ref`.
pub(super) fn queue(
    app: &mut App,
    room: &str,
    make: impl FnOnce(String) -> ClientFrame,
    fx: &mut Vec<Effect>,
) -> String {
    let now_ms = app.now_ms;
    let reference = app.outbox.push(room, now_ms, make);
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

/// A frame from the server: if it is the entry one of our requests made
/// (the sender's copy carries the request's `ref`), that request is done.
/// Its removal reaches the disk with the next save; a run killed before
/// then sends it again, and the server answers that with the same entry.
pub(super) fn acknowledge(app: &mut App, frame: &ServerFrame) {
    if let Some(reference) = entry_reference(frame)
        && app.outbox.take_by_ref(reference).is_some()
    {
        app.state_dirty = true;
    }
}

/// The `ref` of a room-stream entry frame, on the actor's own copy.
fn entry_reference(frame: &ServerFrame) -> Option<&str> {
    let reference = match frame {
        ServerFrame::Message(e) => &e.reference,
        ServerFrame::Edit(e) => &e.reference,
        ServerFrame::Delete(e) => &e.reference,
        ServerFrame::React(e) | ServerFrame::Unreact(e) => &e.reference,
        ServerFrame::Topic(e) => &e.reference,
        ServerFrame::Role(e) => &e.reference,
        ServerFrame::Kick(e) | ServerFrame::Ban(e) => &e.reference,
        ServerFrame::Unban(e) | ServerFrame::Invite(e) => &e.reference,
        ServerFrame::Settings(e) => &e.reference,
        _ => return None,
    };
    reference.as_deref()
}
