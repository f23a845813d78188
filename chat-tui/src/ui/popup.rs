//! Popups over the main screen: the help page and the `/rooms` browser.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use crate::app::{App, RoomBrowser};
use crate::keymap;
use crate::ui::theme;

/// Every key and command as the help page lists them, from the tables
/// the handling reads.
pub fn help_rows() -> Vec<(&'static str, &'static str)> {
    let keys = keymap::KEYS.iter().map(|row| (row.keys, row.what));
    let commands = keymap::COMMANDS.iter().map(|row| (row.usage, row.what));
    keys.chain(commands)
        .chain(std::iter::once(keymap::LITERAL_SLASH))
        .collect()
}

/// A rectangle of at most `width` x `height`, centred in `area`.
fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

pub fn draw_help(frame: &mut Frame, area: Rect) {
    let help = help_rows();
    let key_width = help.iter().map(|(k, _)| k.width()).max().unwrap_or(0);
    let lines: Vec<Line> = help
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!(" {key:<key_width$}  "), theme::room_unread()),
                Span::raw(*what),
            ])
        })
        .collect();
    let width = help
        .iter()
        .map(|(_, w)| key_width + w.width() + 5)
        .max()
        .unwrap_or(40) as u16;
    let rect = centred(area, width + 2, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(" chat-tui help ")
                .title_bottom(" Esc closes ")
                .border_style(theme::popup_border()),
        ),
        rect,
    );
}

pub fn draw_rooms(frame: &mut Frame, app: &App, browser: &RoomBrowser, area: Rect) {
    let visible = browser.visible();
    // Sized to the list (borders, filter line, blank line, rows).
    let wanted = visible.len().max(1) as u16 + 4;
    let rect = centred(area, 56, wanted.min(area.height.saturating_sub(2)).max(5));
    let inner_height = rect.height.saturating_sub(4) as usize;
    // Keep the selection on screen.
    let first = browser
        .selected
        .saturating_sub(inner_height.saturating_sub(1));
    let mut lines: Vec<Line> = Vec::new();
    let filter = if browser.filter.is_empty() {
        "type to filter".to_owned()
    } else {
        format!("filter: {}", browser.filter)
    };
    lines.push(Line::styled(format!(" {filter}"), theme::quiet()));
    lines.push(Line::raw(""));
    if visible.is_empty() {
        lines.push(Line::styled(" no rooms match", theme::quiet()));
    }
    for (i, info) in visible.iter().enumerate().skip(first).take(inner_height) {
        let joined = if app.room_index(&info.name).is_some() {
            "joined"
        } else {
            ""
        };
        let people = format!(
            "{} member{}",
            info.members,
            if info.members == 1 { "" } else { "s" }
        );
        let name = crate::text::truncate(&info.name, 28);
        let text = format!(" {name:<28} {people:>12} {joined:>7} ");
        lines.push(if i == browser.selected {
            Line::styled(text, theme::popup_selected())
        } else {
            Line::raw(text)
        });
    }
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(format!(" rooms on the server ({}) ", browser.rooms.len()))
                .title_bottom(" ↑↓ choose · Enter join · Esc close ")
                .border_style(theme::popup_border()),
        ),
        rect,
    );
}
