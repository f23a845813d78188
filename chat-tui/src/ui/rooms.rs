//! The room list: a sidebar on wide terminals, a one-line bar on narrow
//! ones. Shows each joined room with its Alt-number, unread count and a
//! mention marker, conversations first; the current room is highlighted.

use crate::text::ColumnWidth;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::app::{App, Membership, Room, RoomSync, RoomTarget};
use crate::ui::theme;

/// The unread badge: `@3` when mentioned, `3` when unread, empty
/// otherwise; `inv` for a room we are invited to, `left` for one we were
/// put out of.
fn badge(room: &Room) -> String {
    match room.membership {
        Membership::Invited { .. } => return "inv".to_owned(),
        Membership::Removed { .. } => return "left".to_owned(),
        Membership::Member => {}
    }
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

/// Above the conversations in the sidebar, when there are any.
const CONVERSATIONS_HEADING: &str = "Direct";
/// Above the rooms in the sidebar, when conversations are listed above.
const ROOMS_HEADING: &str = "Rooms";

/// The sidebar: one row per room, `N name      badge`, conversations
/// (`@bob`) first under their own heading; returns where each room is,
/// for clicks.
pub fn draw_sidebar(frame: &mut Frame, app: &App, area: Rect) -> Vec<RoomTarget> {
    let block = Block::new()
        .borders(Borders::RIGHT)
        .border_style(theme::separator());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // One column of air before the border.
    let width = (inner.width as usize).saturating_sub(1);
    let grouped = app.rooms.first().is_some_and(Room::is_conversation);
    let mut rows: Vec<(Line, Option<usize>)> = Vec::new();
    for (i, room) in app.rooms.iter().enumerate() {
        let first_of_group = i == 0 || app.rooms[i - 1].is_conversation() != room.is_conversation();
        if grouped && first_of_group {
            let heading = match room.is_conversation() {
                true => CONVERSATIONS_HEADING,
                false => ROOMS_HEADING,
            };
            rows.push((Line::styled(heading, theme::quiet()), None));
        }
        let badge = badge(room);
        let key = hotkey(i);
        let name_room = width.saturating_sub(key.width() + 1 + badge.width() + 1);
        let name = crate::text::truncate(&room.label(&app.user), name_room);
        let gap = width.saturating_sub(key.width() + 1 + name.width() + badge.width());
        let line = Line::from(Span::styled(
            format!("{key} {name}{}{badge}", " ".repeat(gap)),
            style_for(app, i, room),
        ));
        rows.push((line, Some(i)));
    }
    let targets = rows
        .iter()
        .enumerate()
        .take(inner.height as usize)
        .filter_map(|(row, (_, index))| {
            index.map(|index| RoomTarget {
                area: Rect::new(area.x, inner.y + row as u16, inner.width, 1),
                index,
            })
        })
        .collect();
    let lines: Vec<Line> = rows.into_iter().map(|(line, _)| line).collect();
    frame.render_widget(Paragraph::new(lines), inner);
    targets
}

/// The most columns a room name takes in the one-line bar.
const BAR_NAME_COLUMNS: usize = 16;

/// The one-line bar: `1:lobby 2:rust(3) 3:random(@1)`, scrolled so the
/// current room is always visible. Long names are cut with `…`; `<` and
/// `>` mark rooms off the left and right edges. Returns where each room
/// shown is, for clicks.
pub fn draw_bar(frame: &mut Frame, app: &App, area: Rect) -> Vec<RoomTarget> {
    let width = area.width as usize;
    let labels: Vec<(String, Style)> = app
        .rooms
        .iter()
        .enumerate()
        .map(|(i, room)| {
            let badge = badge(room);
            let name = crate::text::truncate(
                &room.label(&app.user),
                BAR_NAME_COLUMNS.min(width / 2).max(1),
            );
            let label = if badge.is_empty() {
                format!("{}:{name}", hotkey(i).trim())
            } else {
                format!("{}:{name}({badge})", hotkey(i).trim())
            };
            (label, style_for(app, i, room))
        })
        .collect();
    let current = app.current.min(labels.len().saturating_sub(1));
    // Drop rooms from the left until the current one fits (with `<`).
    let mut first = 0;
    let span = |from: usize| -> usize {
        let marker = usize::from(from > 0);
        marker
            + labels[from..=current]
                .iter()
                .map(|(l, _)| l.width() + 1)
                .sum::<usize>()
    };
    while !labels.is_empty() && first < current && span(first) > width {
        first += 1;
    }
    let mut spans = Vec::new();
    let mut targets = Vec::new();
    let mut used = 0;
    if first > 0 {
        spans.push(Span::styled("<", theme::quiet()));
        used += 1;
    }
    let count = labels.len();
    for (i, (label, style)) in labels.into_iter().enumerate().skip(first) {
        // Room for this label and, if more follow, the `>` marker.
        let more = usize::from(i + 1 < count);
        let label = if i == current {
            crate::text::truncate(&label, width.saturating_sub(used + more))
        } else {
            label
        };
        if used + label.width() + more > width && i != current {
            spans.push(Span::styled(">", theme::quiet()));
            break;
        }
        let x = area.x + used as u16;
        targets.push(RoomTarget {
            area: Rect::new(
                x,
                area.y,
                (label.width() as u16).min(area.right().saturating_sub(x)),
                1,
            ),
            index: i,
        });
        used += label.width() + 1;
        spans.push(Span::styled(label, style));
        spans.push(Span::raw(" "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
    targets
}
