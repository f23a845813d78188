//! The status line: server, user, connection state (with the reconnect
//! countdown), and the current room's member count.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthStr;

use crate::app::{App, ConnState, RoomSync};
use crate::ui::theme;

/// The connection state as words, and the colour to show it in.
pub fn connection_text(app: &App) -> (String, Color) {
    match &app.conn {
        ConnState::Connecting => ("connecting…".into(), Color::Yellow),
        ConnState::Handshaking { .. } => ("logging in…".into(), Color::Yellow),
        ConnState::Online { guest: true, .. } => ("connected (guest)".into(), Color::LightGreen),
        ConnState::Online { .. } => ("connected".into(), Color::LightGreen),
        ConnState::Waiting { retry_at, .. } => {
            let left = retry_at.saturating_duration_since(app.now);
            // Round up: "in 0s" would read as a promise already broken.
            let secs = left.as_millis().div_ceil(1000);
            (format!("reconnecting in {secs}s"), Color::Yellow)
        }
        ConnState::NeedPassword { .. } => ("password needed (/connect)".into(), Color::LightRed),
    }
}

fn room_text(app: &App) -> Option<String> {
    let room = app.current_room()?;
    let state = match room.sync {
        RoomSync::Live => {
            let n = room.members.len();
            format!("{n} member{}", if n == 1 { "" } else { "s" })
        }
        RoomSync::Offline => "not joined".into(),
        RoomSync::Joining { .. } | RoomSync::CatchingUp => "joining…".into(),
    };
    Some(format!("#{}: {state}", room.name))
}

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let bar = theme::status_bar();
    let (conn, conn_colour) = connection_text(app);
    let sep = Span::styled(" │ ", bar);
    let server = crate::sanitize::inert(&app.server);
    let user = crate::sanitize::inert(&app.user);
    let room = room_text(app);
    let mut parts: Vec<Span> = Vec::new();
    let full_width = server.width()
        + user.width()
        + conn.width()
        + room.as_ref().map_or(0, |r| r.width() + 3)
        + 8;
    parts.push(Span::styled(" ", bar));
    if full_width <= area.width as usize {
        parts.push(Span::styled(server, bar));
        parts.push(sep.clone());
    }
    parts.push(Span::styled(
        user,
        bar.add_modifier(ratatui::style::Modifier::BOLD),
    ));
    parts.push(sep.clone());
    parts.push(Span::styled(
        conn,
        Style::new().bg(Color::DarkGray).fg(conn_colour),
    ));
    if let Some(room) = room {
        parts.push(sep);
        parts.push(Span::styled(room, bar));
    }
    frame.render_widget(Paragraph::new(Line::from(parts)).style(bar), area);
}
