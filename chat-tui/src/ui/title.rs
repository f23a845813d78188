//! The title line above the history: the room's topic, whether it is
//! private and our role in it; for a room we were put out of, why; for a
//! room we are invited to, by whom and how to join; for a conversation,
//! with whom. A protocol-1 server
//! tells none of this, and then there is no title line.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, Membership, Room};
use crate::sanitize::inert;
use crate::text::{ColumnWidth, truncate};
use crate::ui::theme;

/// What the title line says: the main text and its style, and the part
/// kept at the right edge.
struct Title {
    text: String,
    style: Style,
    right: String,
}

fn title(app: &App) -> Option<Title> {
    let room = app.current_room()?;
    match &room.membership {
        Membership::Removed { why } => Some(Title {
            text: format!("not in #{}: {why}", room.name),
            style: theme::error(),
            right: "/join goes back".to_owned(),
        }),
        Membership::Invited { by } => Some(Title {
            text: format!("{} invited you to #{}", inert(by), room.name),
            style: theme::title_topic(),
            right: "Enter joins".to_owned(),
        }),
        Membership::Member if room.is_conversation() => Some(Title {
            text: format!("conversation with {}", inert(&room.label(&app.user)[1..])),
            style: theme::title_topic(),
            right: "private".to_owned(),
        }),
        Membership::Member => {
            let details = room.details.as_ref()?;
            let (text, style) = if details.topic.is_empty() {
                ("no topic".to_owned(), theme::title_meta())
            } else {
                (inert(&details.topic), theme::title_topic())
            };
            let privacy = if details.private { "private" } else { "public" };
            let role = if app.admin {
                "admin"
            } else {
                details.role.as_str()
            };
            Some(Title {
                text,
                style,
                right: format!("{privacy} · you: {role}"),
            })
        }
    }
}

/// Takes the title line off the top of the history area when the current
/// room has one: returns its row and what is left for the history.
pub fn split(app: &App, area: Rect) -> (Option<Rect>, Rect) {
    if area.height < 2 || title(app).is_none() {
        return (None, area);
    }
    let row = Rect::new(area.x, area.y, area.width, 1);
    let rest = Rect::new(area.x, area.y + 1, area.width, area.height - 1);
    (Some(row), rest)
}

/// Draws the title line: the text cut with `…` to leave the right part
/// room, which goes when even that does not fit.
pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let Some(title) = title(app) else {
        return;
    };
    let width = area.width as usize;
    // One column of air at each edge, and at least two between.
    let right_width = title.right.width() + 1;
    let keep_right = width >= right_width + 2 + 12;
    let left_room = if keep_right {
        width - right_width - 3
    } else {
        width.saturating_sub(2)
    };
    let text = truncate(&title.text, left_room);
    let mut spans = vec![Span::raw(" "), Span::styled(text.clone(), title.style)];
    if keep_right {
        let gap = width.saturating_sub(1 + text.width() + right_width);
        spans.push(Span::raw(" ".repeat(gap)));
        spans.push(Span::styled(title.right, theme::title_meta()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// What an empty pane says in a room we are not in.
pub fn not_in_hint(room: &Room) -> String {
    match &room.membership {
        Membership::Invited { by } => format!(
            "{} invited you to #{}. Press Enter to join it, or /leave to let the invitation go.",
            inert(by),
            room.name
        ),
        Membership::Removed { why } => {
            format!(
                "Not in #{}: {why}. /join {} goes back.",
                room.name, room.name
            )
        }
        Membership::Member => String::new(),
    }
}
