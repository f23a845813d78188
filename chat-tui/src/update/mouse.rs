//! What the mouse does: the wheel scrolls the history (or the help page,
//! or the rooms browser's choice), a left click on a room in the sidebar
//! or the room bar goes to it.

use crossterm::event::{MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use super::Effect;
use super::rooms::{scroll_down_by, scroll_up_by, switch_to};
use crate::app::{App, Mode};

/// Rows one notch of the wheel moves the history.
pub const WHEEL_ROWS: usize = 3;

pub(super) fn on_mouse(app: &mut App, event: MouseEvent, fx: &mut Vec<Effect>) {
    let up = match event.kind {
        MouseEventKind::ScrollUp => true,
        MouseEventKind::ScrollDown => false,
        _ => {
            click(app, Position::new(event.column, event.row));
            return;
        }
    };
    app.needs_redraw = true;
    match &mut app.mode {
        Mode::Normal => {
            if up {
                scroll_up_by(app, WHEEL_ROWS, fx);
            } else {
                scroll_down_by(app, WHEEL_ROWS);
            }
        }
        Mode::Help => {
            let help = &mut app.help;
            help.scroll = if up {
                help.scroll.saturating_sub(WHEEL_ROWS)
            } else {
                (help.scroll + WHEEL_ROWS).min(help.max_scroll)
            };
        }
        Mode::Rooms(browser) => {
            let last = browser.visible().len().saturating_sub(1);
            browser.selected = if up {
                browser.selected.saturating_sub(1)
            } else {
                (browser.selected + 1).min(last)
            };
        }
        Mode::Password(_)
        | Mode::ConfirmPaste(_)
        | Mode::Confirm(_)
        | Mode::Pick(_)
        | Mode::React(_)
        | Mode::Search(_) => {}
    }
}

/// A left click: on a room of the list (as last drawn), that room.
fn click(app: &mut App, at: Position) {
    if app.mode != Mode::Normal {
        return;
    }
    let target = app
        .room_targets
        .iter()
        .find(|t| t.area.contains(at))
        .map(|t| t.index);
    if let Some(index) = target {
        app.needs_redraw = true;
        app.key_prefix = None;
        switch_to(app, index);
    }
}
