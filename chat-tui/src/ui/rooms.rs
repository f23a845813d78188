//! The room list: a sidebar on wide terminals, a one-line bar on narrow
//! ones. Shows each joined room with its Alt-number, unread count and a
//! mention marker; the current room is highlighted.

use crate::text::ColumnWidth;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::app::{App, Room, RoomSync};
use crate::ui::theme;

/// The unread badge: `@3` when mentioned, `3` when unread, empty otherwise.
fn badge(room: &Room) -> String {
    match (room.unread, room.mentioned) {
        (0, false) => String::new(),
        (n, true) => format!("@{n}"),
        (n, false) => n.to_string(),
    }
}

fn style_for(app: &App, index: usize, room: &Room) -> Style {
    if index == app.current {
        theme::room_current()
    } else if room.mentioned {
        theme::room_mention()
    } else if room.unread > 0 {
        theme::room_unread()
    } else if room.sync != RoomSync::Live {
        theme::room_offline()
    } else {
        Style::new()
    }
}

fn hotkey(index: usize) -> String {
    if index < 9 {
        format!("{}", index + 1)
    } else {
        " ".to_owned()
    }
}

/// The sidebar: one row per room, `N name      badge`.
pub fn draw_sidebar(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::new()
        .borders(Borders::RIGHT)
        .border_style(theme::separator());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // One column of air before the border.
    let width = (inner.width as usize).saturating_sub(1);
    let lines: Vec<Line> = app
        .rooms
        .iter()
        .enumerate()
        .map(|(i, room)| {
            let badge = badge(room);
            let key = hotkey(i);
            let name_room = width.saturating_sub(key.width() + 1 + badge.width() + 1);
            let name = crate::text::truncate(&room.name, name_room);
            let gap = width.saturating_sub(key.width() + 1 + name.width() + badge.width());
            Line::from(Span::styled(
                format!("{key} {name}{}{badge}", " ".repeat(gap)),
                style_for(app, i, room),
            ))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The one-line bar: `1:lobby 2:rust(3) 3:random(@1)`, scrolled so the
/// current room is always visible.
pub fn draw_bar(frame: &mut Frame, app: &App, area: Rect) {
    let labels: Vec<(String, Style)> = app
        .rooms
        .iter()
        .enumerate()
        .map(|(i, room)| {
            let badge = badge(room);
            let label = if badge.is_empty() {
                format!("{}:{}", hotkey(i).trim(), room.name)
            } else {
                format!("{}:{}({badge})", hotkey(i).trim(), room.name)
            };
            (label, style_for(app, i, room))
        })
        .collect();
    // Drop rooms from the left until the current one fits.
    let mut first = 0;
    let total = |from: usize| -> usize {
        labels[from..=app.current.min(labels.len().saturating_sub(1))]
            .iter()
            .map(|(l, _)| l.width() + 1)
            .sum()
    };
    while !labels.is_empty() && first < app.current && total(first) > area.width as usize {
        first += 1;
    }
    let mut spans = Vec::new();
    if first > 0 {
        spans.push(Span::styled("<", theme::quiet()));
    }
    for (label, style) in labels.into_iter().skip(first) {
        spans.push(Span::styled(label, style));
        spans.push(Span::raw(" "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
