//! Drawing: functions that only read `&App` and draw into a ratatui
//! `Frame`, so tests render the real screen into a `TestBackend`.
//!
//! - [`layout`]: where each part goes for a terminal size.
//! - [`rooms`]: the room sidebar / bar.
//! - [`history`]: the message pane and its row layout.
//! - [`status`]: the status line.
//! - [`input`]: the input line and the password prompt.
//! - [`popup`]: help and the rooms browser.
//! - [`theme`]: colours and styles.

pub mod history;
pub mod input;
pub mod layout;
pub mod popup;
pub mod rooms;
pub mod status;
pub mod theme;

use ratatui::backend::Backend;
use ratatui::{Frame, Terminal};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

use crate::app::{App, Mode};

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let areas = layout::areas(area);
    if let Some(sidebar) = areas.sidebar {
        rooms::draw_sidebar(frame, app, sidebar);
    }
    if let Some(bar) = areas.room_bar {
        rooms::draw_bar(frame, app, bar);
    }
    history::draw(frame, app, areas.history);
    status::draw(frame, app, areas.status);
    input::draw(frame, app, areas.input);
    match &app.mode {
        Mode::Help => popup::draw_help(frame, area),
        Mode::Rooms(browser) => popup::draw_rooms(frame, app, browser, area),
        Mode::Normal | Mode::Password(_) => {}
    }
}

/// Draws the screen on any backend (the real terminal or a `TestBackend`).
pub fn render<B: Backend>(terminal: &mut Terminal<B>, app: &App) -> Result<(), B::Error> {
    terminal.draw(|frame| draw(frame, app)).map(|_| ())
}

/// `text` cut to `width` display columns, ending in `…` when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for g in text.graphemes(true) {
        if used + g.width() + 1 > width {
            break;
        }
        used += g.width();
        out.push_str(g);
    }
    if width > 0 {
        out.push('…');
    }
    out
}
