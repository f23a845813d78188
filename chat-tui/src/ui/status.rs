//! The status line: server, user, connection state (with the reconnect
//! countdown), and the current room's member count.

use crate::text::ColumnWidth;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

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

/// The room part in a long and a short form.
fn room_text(app: &App) -> Option<(String, String)> {
    let room = app.current_room()?;
    let (long, short) = match room.sync {
        RoomSync::Live => {
            let n = room.members.len();
            (
                format!("{n} member{}", if n == 1 { "" } else { "s" }),
                format!("({n})"),
            )
        }
        RoomSync::Offline => ("not joined".into(), "(-)".into()),
        RoomSync::Joining { .. } | RoomSync::CatchingUp => ("joining…".into(), "(…)".into()),
    };
    Some((
        format!("#{}: {long}", room.name),
        format!("#{} {short}", room.name),
    ))
}

/// The status line, dropping detail until it fits: first the server, then
/// the word "members", then the user name.
pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let bar = theme::status_bar();
    let (conn, conn_colour) = connection_text(app);
    let server = crate::sanitize::inert(&app.server);
    let user = crate::sanitize::inert(&app.user);
    let (room_long, room_short) = room_text(app).unzip();
    let variants = [
        (Some(&server), Some(&user), room_long.as_ref()),
        (None, Some(&user), room_long.as_ref()),
        (None, Some(&user), room_short.as_ref()),
        (None, None, room_short.as_ref()),
    ];
    let width = |(server, user, room): &(Option<&String>, Option<&String>, Option<&String>)| {
        1 + server.map_or(0, |s| s.width() + 3)
            + user.map_or(0, |u| u.width() + 3)
            + conn.width()
            + room.map_or(0, |r| r.width() + 3)
    };
    let chosen = variants
        .iter()
        .find(|v| width(v) <= area.width as usize)
        .unwrap_or(&variants[3]);
    // A room name too long for even the shortest form is cut with `…`.
    let before = width(&(chosen.0, chosen.1, None));
    let room = chosen
        .2
        .map(|room| crate::text::truncate(room, (area.width as usize).saturating_sub(before + 3)));
    let sep = || Span::styled(" │ ", bar);
    let mut parts: Vec<Span> = vec![Span::styled(" ", bar)];
    if let Some(server) = chosen.0 {
        parts.push(Span::styled(server.clone(), bar));
        parts.push(sep());
    }
    if let Some(user) = chosen.1 {
        parts.push(Span::styled(user.clone(), bar.add_modifier(Modifier::BOLD)));
        parts.push(sep());
    }
    parts.push(Span::styled(conn, bar.fg(conn_colour)));
    if let Some(room) = room {
        parts.push(sep());
        parts.push(Span::styled(room, bar));
    }
    frame.render_widget(Paragraph::new(Line::from(parts)).style(bar), area);
}
