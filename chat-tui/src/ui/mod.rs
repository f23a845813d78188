//! Drawing: functions that only read `&App` and draw into a ratatui
//! `Frame`, so tests render the real screen into a `TestBackend`.
//!
//! - [`layout`]: where each part goes for a terminal size.
//! - [`rooms`]: the room sidebar / bar.
//! - [`title`]: the title line above the history (topic, privacy, role).
//! - [`history`]: the message pane and its row layout.
//! - [`change`]: room changes (topic, roles, kicks…) in words.
//! - [`link`]: URLs drawn as OSC 8 hyperlinks.
//! - [`status`]: the status line.
//! - [`input`]: the input line and the password prompt.
//! - [`popup`]: help, the rooms browser and yes-or-no questions.
//! - [`search`]: the search popup.
//! - [`theme`]: colours and styles.

pub mod change;
pub mod history;
pub mod input;
pub mod layout;
pub mod link;
pub mod popup;
pub mod rooms;
pub mod search;
pub mod status;
pub mod theme;
pub mod title;

use ratatui::backend::Backend;
use ratatui::{Frame, Terminal};

use crate::app::{App, Drawn, Mode};

/// Draws the whole screen; returns what paging needs of it, for the runner
/// to keep in the state ([`App::drawn`]).
pub fn draw(frame: &mut Frame, app: &App) -> Drawn {
    let area = frame.area();
    let areas = layout::areas(area, input::rows(app));
    let mut room_targets = Vec::new();
    if let Some(sidebar) = areas.sidebar {
        room_targets = rooms::draw_sidebar(frame, app, sidebar);
    }
    if let Some(bar) = areas.room_bar {
        room_targets = rooms::draw_bar(frame, app, bar);
    }
    let (title_row, history_area) = title::split(app, areas.history);
    if let Some(row) = title_row {
        title::draw(frame, app, row);
    }
    let (history_area, typing_row) = input::split_typing(app, history_area);
    if let Some((row, text)) = typing_row {
        input::draw_typing(frame, row, &text);
    }
    let history = history::draw(frame, app, history_area);
    status::draw(frame, app, areas.status);
    input::draw(frame, app, areas.input);
    let help = match &app.mode {
        Mode::Help => Some(popup::draw_help(frame, app.help, area)),
        Mode::Rooms(browser) => {
            popup::draw_rooms(frame, app, browser, area);
            None
        }
        Mode::Confirm(confirm) => {
            popup::draw_confirm(frame, confirm, area);
            None
        }
        Mode::Search(view) => {
            search::draw(frame, app, view, area);
            None
        }
        Mode::Normal
        | Mode::Password(_)
        | Mode::ConfirmPaste(_)
        | Mode::Pick(_)
        | Mode::React(_) => None,
    };
    Drawn {
        history,
        help,
        rooms: room_targets,
    }
}

/// Draws the screen on any backend (the real terminal or a `TestBackend`);
/// returns what paging needs of it.
pub fn render<B: Backend>(terminal: &mut Terminal<B>, app: &App) -> Result<Drawn, B::Error> {
    let mut drawn = Drawn::default();
    terminal.draw(|frame| drawn = draw(frame, app))?;
    Ok(drawn)
}

/// Blanks the whole terminal and forgets what was drawn, so the next draw
/// paints every cell: for the first draw of a run (no text an earlier
/// program left shows through cells this screen leaves blank) and Ctrl-L.
/// Done as a resize to the current size, which clears without asking the
/// terminal where its cursor is (`Terminal::clear` does ask, and the
/// answer would have to come through the input the reader thread holds).
pub fn clear<B: Backend>(terminal: &mut Terminal<B>) -> Result<(), B::Error> {
    let size = terminal.size()?;
    terminal.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))
}
