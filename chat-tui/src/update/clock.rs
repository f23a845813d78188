//! The one-second tick: reconnect countdowns, deferred resends, "is
//! typing" running out, saving state.

use super::Effect;
use super::outbox::flush_outbox;
use crate::app::{App, ConnState, RoomSync};

pub(super) fn on_tick(app: &mut App, fx: &mut Vec<Effect>) {
    if matches!(app.conn, ConnState::Waiting { .. }) {
        app.needs_redraw = true;
    }
    let now = app.now;
    for room in &mut app.rooms {
        if room.typing.expire(now) {
            app.needs_redraw = true;
        }
    }
    let waiting: Vec<String> = app
        .outbox
        .entries
        .iter()
        .filter(|p| !p.in_flight && p.retry_at.is_some_and(|t| t <= app.now))
        .map(|p| p.room.clone())
        .collect();
    for room in waiting {
        if app
            .room_index(&room)
            .is_some_and(|i| app.rooms[i].sync == RoomSync::Live)
        {
            app.needs_redraw = true;
            flush_outbox(app, &room, fx);
        }
    }
    if app.state_dirty {
        app.state_dirty = false;
        fx.push(Effect::SaveState(app.saved_state()));
    }
}
