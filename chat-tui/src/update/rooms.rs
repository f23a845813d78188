//! Moving between rooms (with their read marks and "new messages"
//! markers) and paging through a room's history by the pane as last drawn.

use super::Effect;
use super::sync::request_older;
use crate::app::{App, Mode};

pub(super) fn switch_relative(app: &mut App, delta: isize) {
    let n = app.rooms.len();
    if n == 0 {
        return;
    }
    let next = (app.current as isize + delta).rem_euclid(n as isize) as usize;
    switch_to(app, next);
}

pub(super) fn switch_to(app: &mut App, index: usize) {
    if index >= app.rooms.len() {
        return;
    }
    if index != app.current {
        // A reply or an edit belongs to the room it was started in.
        super::fix::cancel_compose(app);
        if matches!(app.mode, Mode::Pick(_) | Mode::React(_)) {
            app.mode = Mode::Normal;
        }
        if let Some(old) = app.rooms.get_mut(app.current) {
            old.new_marker = None;
        }
        let room = &mut app.rooms[index];
        if room.unread > 0 {
            room.new_marker = Some(room.last_read);
        }
    }
    app.current = index;
    app.completion = None;
    mark_read(app, index);
}

/// Everything loaded in the room counts as read.
pub(super) fn mark_read(app: &mut App, index: usize) {
    let room = &mut app.rooms[index];
    if room.last_seen > room.last_read {
        room.last_read = room.last_seen;
        app.state_dirty = true;
    }
    room.unread = 0;
    room.mentioned = false;
}

/// PgUp: a page up, no further than the top of what is loaded; at the
/// top, older history is asked for.
pub(super) fn scroll_up(app: &mut App, fx: &mut Vec<Effect>) {
    let page = app.current_room().map_or(1, |room| room.viewport.page());
    scroll_up_by(app, page, fx);
}

/// Up by `page` rows (a page, or a turn of the mouse wheel).
pub(super) fn scroll_up_by(app: &mut App, page: usize, fx: &mut Vec<Effect>) {
    let current = app.current;
    let Some(room) = app.rooms.get_mut(current) else {
        return;
    };
    let drawn = room.viewport;
    let step = page.min(drawn.rows_above);
    if step > 0 {
        room.scroll = room.scroll.up(step, room.entries.len());
        // Kept current for another PgUp before the next draw.
        room.viewport.rows_above -= step;
        room.viewport.rows_below += step;
    }
    // Above a `/clear` there is nothing to show, so nothing to fetch.
    if drawn.reached_top && page >= drawn.rows_above && room.cleared == 0 {
        request_older(app, current, fx);
    }
}

/// PgDn: a page down, following new lines again at the bottom.
pub(super) fn scroll_down(app: &mut App) {
    let page = app.current_room().map_or(1, |room| room.viewport.page());
    scroll_down_by(app, page);
}

/// Down by `page` rows.
pub(super) fn scroll_down_by(app: &mut App, page: usize) {
    let Some(room) = app.current_room_mut() else {
        return;
    };
    let drawn = room.viewport;
    room.scroll = room.scroll.down(page, &drawn, room.entries.len());
    let step = page.min(drawn.rows_below);
    room.viewport.rows_below -= step;
    room.viewport.rows_above += step;
}
