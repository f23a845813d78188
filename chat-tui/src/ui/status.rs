//! The status line: server, user, connection state (with the reconnect
//! countdown), and the current room's member count; while a message is
//! picked, replied to, edited or reacted to, that message and the keys
//! that act on it instead.

use crate::text::ColumnWidth;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, ComposeKind, ConnState, Mode, RoomSync};
use crate::keymap::{KeyCommand, QUICK_REACTIONS};
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
    let place = room.place(&app.user);
    Some((format!("{place}: {long}"), format!("{place} {short}")))
}

fn key_of(app: &App, command: KeyCommand) -> String {
    app.keymap.first_key(command)
}

/// Message `id` of the current room in a few words: `bob: morning all`.
fn message_words(app: &App, id: u64) -> String {
    match app.current_room().and_then(|r| r.message(id)) {
        Some(m) if m.deleted => format!("{}: (deleted)", crate::sanitize::inert(&m.user)),
        Some(m) => format!(
            "{}: {}",
            crate::sanitize::inert(&m.user),
            crate::sanitize::inert(m.text.lines().next().unwrap_or_default())
        ),
        None => "a message not loaded".to_owned(),
    }
}

/// The keys that act on the picked message `id`: only those that may.
fn pick_keys(app: &App, id: u64) -> String {
    let key = |command| key_of(app, command);
    let mut keys = vec![format!("{} reply", key(KeyCommand::PickReply))];
    let room = app.current_room();
    if let Some(m) = room.and_then(|r| r.message(id)).filter(|m| !m.deleted) {
        if m.user == app.user {
            keys.push(format!("{} edit", key(KeyCommand::PickEdit)));
        }
        if room.is_some_and(|r| r.may_delete(m, &app.user, app.admin)) {
            keys.push(format!("{} delete", key(KeyCommand::PickDelete)));
        }
        keys.push(format!("{} react", key(KeyCommand::PickReact)));
    }
    keys.push(format!("{} back", key(KeyCommand::PickLeave)));
    // Last, so a narrow line cuts what is least needed.
    keys.push(format!(
        "{}/{} move",
        key(KeyCommand::PickOlder),
        key(KeyCommand::PickNewer)
    ));
    keys.join("  ")
}

/// While a message is picked, reacted to, replied to or edited: what it
/// is, and the keys for what can be done now.
fn fix_status(app: &App) -> Option<(String, String)> {
    match &app.mode {
        Mode::Pick(id) => Some((
            format!("picked {}", message_words(app, *id)),
            pick_keys(app, *id),
        )),
        Mode::React(prompt) => {
            let quick: Vec<String> = QUICK_REACTIONS
                .iter()
                .enumerate()
                .map(|(i, e)| format!("{} {e}", i + 1))
                .collect();
            Some((
                format!("react to {}", message_words(app, prompt.target)),
                format!(
                    "{}  or type one + Enter  {} back",
                    quick.join(" "),
                    key_of(app, KeyCommand::PickLeave)
                ),
            ))
        }
        Mode::Normal => {
            let compose = app.compose.as_ref()?;
            let esc = key_of(app, KeyCommand::ScrollToNewest);
            let submit = key_of(app, KeyCommand::Submit);
            Some(match compose.kind {
                ComposeKind::Reply => (
                    format!("replying to {}", message_words(app, compose.target)),
                    format!("{submit} sends  {esc} cancels"),
                ),
                ComposeKind::Edit => (
                    "editing your message".to_owned(),
                    format!("{submit} saves  {esc} cancels"),
                ),
            })
        }
        _ => None,
    }
}

/// The status line while a message is being fixed: the message, cut to
/// leave room for the keys (which are cut last).
fn draw_fix(frame: &mut Frame, area: Rect, what: &str, keys: &str) {
    let bar = theme::status_bar();
    let width = area.width as usize;
    let room = width.saturating_sub(4);
    // The message keeps at least a third of the line, the keys the rest.
    let what_width = what
        .width()
        .min(room.saturating_sub(keys.width()).max(room / 3));
    let what = crate::text::truncate(what, what_width);
    let keys = crate::text::truncate(keys, room.saturating_sub(what.width()));
    let line = Line::from(vec![
        Span::styled(" ", bar),
        Span::styled(what, bar.add_modifier(Modifier::BOLD)),
        Span::styled(" │ ", bar),
        Span::styled(keys, bar.fg(Color::LightCyan)),
    ]);
    frame.render_widget(Paragraph::new(line).style(bar), area);
}

/// The status line, dropping detail until it fits: first the server, then
/// the word "members", then the user name.
pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    if let Some((what, keys)) = fix_status(app) {
        draw_fix(frame, area, &what, &keys);
        return;
    }
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
