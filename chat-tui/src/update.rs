//! State changes: [`update`] turns one [`Action`] into changes to [`App`]
//! and a list of [`Effect`]s (frames to send, state to save, quitting) that
//! the runner performs. Nothing here touches the terminal, the socket, the
//! disk or the clock, so every behaviour is a plain unit test.
//!
//! # Reconnection without loss or duplication
//! - Each room remembers `last_seen`, the newest message id shown. After a
//!   `welcome` every room is joined again with `since = last_seen` (with
//!   `limit` 500) and, while `more`, paged on with `history` `after`.
//!   Live messages that arrive during that paging are held back and shown
//!   after it, so ids are absorbed in order.
//! - Any message whose id is at or below `last_seen` is a duplicate and is
//!   dropped.
//! - Typed lines go to the outbox with a unique `ref` and are drawn dimmed
//!   until the server's copy with that `ref` comes back (the server sends it
//!   only after storing the message). Lines of a room are sent only while
//!   that room is caught up, so after a reconnect they go out after the
//!   missed messages and in the order typed, with their original `ref`.
//! - A line can be stored while its acknowledgement is lost with the
//!   socket. Its stored copy then comes back in the rejoin history, without
//!   `ref` (refs are only on the sender's live copy). So while catching up,
//!   a message from this user without `ref` whose room and text equal an
//!   outbox line that was sent at least once is taken as that line's
//!   acknowledgement, and the line is not sent again. The trade-off: if the
//!   same user sent the very same text to the same room from another
//!   session during the outage, one pending line here is taken as stored
//!   although it was not. We accept that rare loss of an identical,
//!   repeated line to guarantee the common case never shows a line twice.

use std::time::Duration;

use chat_proto::limits::MAX_HISTORY_LIMIT;
use chat_proto::{ClientFrame, ErrorCode, Message, RoomName, ServerFrame, validate_text};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::action::Action;
use crate::app::{
    App, Completion, ConnState, Entry, InputLine, Level, Mode, Older, RoomBrowser, RoomSync, Size,
    mentions,
};
use crate::net::NetEvent;
use crate::state::SavedState;
use crate::ui;

/// Messages asked for per page when scrolling back.
pub const OLDER_PAGE: u32 = 50;
/// Messages asked for per page when catching up after an absence.
pub const CATCH_UP_PAGE: u32 = MAX_HISTORY_LIMIT;
/// How long to wait before resending a line the server refused with
/// `rate_limited` or `internal`.
pub const RESEND_DELAY: Duration = Duration::from_secs(1);

/// Something for the runner to do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a frame on the current socket.
    Send(ClientFrame),
    /// Write the state file.
    SaveState(SavedState),
    /// Connect now.
    Reconnect,
    /// Stop retrying until `Reconnect` (the login was refused).
    HoldConnection,
    /// Repaint the whole terminal.
    ClearScreen,
    Quit,
}

/// Applies one action.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    let mut fx = Vec::new();
    match action {
        Action::Key(key) => {
            app.needs_redraw = true;
            on_key(app, key, &mut fx);
        }
        Action::Paste(text) => {
            app.needs_redraw = true;
            on_paste(app, &text);
        }
        Action::Resize { width, height } => {
            app.needs_redraw = true;
            app.size = Size { width, height };
        }
        Action::Net(event) => {
            app.needs_redraw = true;
            on_net(app, event, &mut fx);
        }
        Action::Tick => on_tick(app, &mut fx),
        Action::Terminate => quit(app, &mut fx),
    }
    fx
}

// ---------------------------------------------------------------- keys

fn on_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        quit(app, fx);
        return;
    }
    match app.mode {
        Mode::Normal => normal_key(app, key, fx),
        Mode::Help => app.mode = Mode::Normal,
        Mode::Rooms(_) => rooms_key(app, key, fx),
        Mode::Password(_) => password_key(app, key, fx),
    }
}

fn normal_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    if !matches!(key.code, KeyCode::Tab | KeyCode::BackTab) {
        app.completion = None;
    }
    if !matches!(key.code, KeyCode::Up | KeyCode::Down) || alt {
        app.sent_lines.stop_browsing();
    }
    match key.code {
        KeyCode::Char(c) if ctrl => match c {
            'a' => app.input.home(),
            'e' => app.input.end(),
            'b' => app.input.left(),
            'f' => app.input.right(),
            'd' => app.input.delete(),
            'h' => app.input.backspace(),
            'w' => app.input.delete_word_before(),
            'u' => app.input.delete_to_start(),
            'k' => app.input.delete_to_end(),
            'n' => switch_relative(app, 1),
            'p' => switch_relative(app, -1),
            'l' => fx.push(Effect::ClearScreen),
            _ => {}
        },
        KeyCode::Char(c) if alt => match c {
            '1'..='9' => switch_to(app, c as usize - '1' as usize),
            'b' => app.input.word_left(),
            'f' => app.input.word_right(),
            _ => {}
        },
        KeyCode::Char(c) => app.input.insert(c),
        KeyCode::Enter => submit(app, fx),
        KeyCode::Backspace if ctrl || alt => app.input.delete_word_before(),
        KeyCode::Backspace => app.input.backspace(),
        KeyCode::Delete => app.input.delete(),
        KeyCode::Left if ctrl || alt => app.input.word_left(),
        KeyCode::Right if ctrl || alt => app.input.word_right(),
        KeyCode::Left => app.input.left(),
        KeyCode::Right => app.input.right(),
        KeyCode::Home => app.input.home(),
        KeyCode::End => app.input.end(),
        KeyCode::Up if alt => switch_relative(app, -1),
        KeyCode::Down if alt => switch_relative(app, 1),
        KeyCode::Up => {
            let current = app.input.text().to_owned();
            if let Some(line) = app.sent_lines.older(&current) {
                let line = line.to_owned();
                app.input.set(line);
            }
        }
        KeyCode::Down => {
            if let Some(line) = app.sent_lines.newer() {
                let line = line.to_owned();
                app.input.set(line);
            }
        }
        KeyCode::PageUp => scroll_up(app, fx),
        KeyCode::PageDown => scroll_down(app),
        KeyCode::Esc => {
            if let Some(room) = app.current_room_mut() {
                room.scroll = 0;
            }
        }
        KeyCode::Tab => complete(app, true),
        KeyCode::BackTab => complete(app, false),
        _ => {}
    }
}

fn rooms_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Mode::Rooms(browser) = &mut app.mode else {
        return;
    };
    let count = browser.visible().len();
    let page = 10;
    match key.code {
        KeyCode::Esc => app.mode = Mode::Normal,
        KeyCode::Up => browser.selected = browser.selected.saturating_sub(1),
        KeyCode::Down => browser.selected = (browser.selected + 1).min(count.saturating_sub(1)),
        KeyCode::PageUp => browser.selected = browser.selected.saturating_sub(page),
        KeyCode::PageDown => {
            browser.selected = (browser.selected + page).min(count.saturating_sub(1));
        }
        KeyCode::Home => browser.selected = 0,
        KeyCode::End => browser.selected = count.saturating_sub(1),
        KeyCode::Backspace => {
            browser.filter.pop();
            browser.selected = 0;
        }
        KeyCode::Enter => {
            let chosen = browser
                .visible()
                .get(browser.selected)
                .map(|r| r.name.clone());
            if let Some(name) = chosen {
                app.mode = Mode::Normal;
                join_room(app, &name, fx);
            }
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            browser.filter.push(c);
            browser.selected = 0;
        }
        _ => {}
    }
}

fn password_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Mode::Password(line) = &mut app.mode else {
        return;
    };
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Enter => {
            if line.is_empty() {
                return;
            }
            app.password = Some(line.take());
            app.mode = Mode::Normal;
            app.conn = ConnState::Connecting;
            fx.push(Effect::Reconnect);
        }
        KeyCode::Esc => {
            app.mode = Mode::Normal;
            notice(
                app,
                "Login cancelled. /connect to try again, /quit to leave.",
                Level::Info,
            );
        }
        KeyCode::Char('u') if ctrl => line.delete_to_start(),
        KeyCode::Char('w') if ctrl => line.delete_word_before(),
        KeyCode::Char(c) if !ctrl => line.insert(c),
        KeyCode::Backspace => line.backspace(),
        KeyCode::Delete => line.delete(),
        KeyCode::Left => line.left(),
        KeyCode::Right => line.right(),
        KeyCode::Home => line.home(),
        KeyCode::End => line.end(),
        _ => {}
    }
}

fn on_paste(app: &mut App, text: &str) {
    // One line per message: a pasted newline becomes a space, and control
    // characters are dropped rather than sent to other people's screens.
    let clean: String = text
        .chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .filter(|c| !c.is_control())
        .collect();
    match &mut app.mode {
        Mode::Normal => {
            app.completion = None;
            app.input.insert_str(&clean);
        }
        Mode::Password(line) => line.insert_str(clean.trim()),
        Mode::Rooms(browser) => {
            browser.filter.push_str(clean.trim());
            browser.selected = 0;
        }
        Mode::Help => {}
    }
}

// ---------------------------------------------------------------- input line

fn submit(app: &mut App, fx: &mut Vec<Effect>) {
    let line = app.input.take();
    if line.trim().is_empty() {
        return;
    }
    app.sent_lines.push(&line);
    if line.starts_with("//") {
        send_line(app, &line[1..], fx);
    } else if let Some(command) = line.strip_prefix('/') {
        run_command(app, command, fx);
    } else {
        send_line(app, &line, fx);
    }
}

fn send_line(app: &mut App, text: &str, fx: &mut Vec<Effect>) {
    let Some(room) = app.current_room() else {
        app.input.set(text);
        notice(app, "You are in no room: /join ROOM first.", Level::Error);
        return;
    };
    if let Err(e) = validate_text(text) {
        app.input.set(text);
        notice(app, &format!("Not sent: {e}."), Level::Error);
        return;
    }
    let name = room.name.clone();
    let now_ms = app.now_ms;
    let reference = app.outbox.push(&name, text, now_ms);
    if let Some(room) = app.current_room_mut() {
        room.scroll = 0;
        room.new_marker = None;
    }
    if app.conn.is_online() && app.current_room().is_some_and(|r| r.sync == RoomSync::Live) {
        send_pending(app, &reference, fx);
    }
}

/// Sends one outbox line and marks it in flight.
fn send_pending(app: &mut App, reference: &str, fx: &mut Vec<Effect>) {
    if let Some(p) = app.outbox.by_ref_mut(reference) {
        p.attempts += 1;
        p.in_flight = true;
        p.retry_at = None;
        fx.push(Effect::Send(ClientFrame::Message {
            room: p.room.clone(),
            text: p.text.clone(),
            reference: Some(p.reference.clone()),
            reply_to: None,
            action: false,
        }));
    }
}

/// Sends a live room's unsent lines in the order typed, stopping at one
/// that must still wait (so order is kept).
fn flush_outbox(app: &mut App, room: &str, fx: &mut Vec<Effect>) {
    if !app.conn.is_online() {
        return;
    }
    let mut due = Vec::new();
    for p in app.outbox.in_room(room) {
        if p.in_flight {
            continue;
        }
        if p.retry_at.is_some_and(|t| t > app.now) {
            break;
        }
        due.push(p.reference.clone());
    }
    for reference in due {
        send_pending(app, &reference, fx);
    }
}

fn complete(app: &mut App, forward: bool) {
    if app
        .completion
        .as_ref()
        .is_some_and(|c| c.applied != app.input.text())
    {
        app.completion = None;
    }
    if let Some(c) = &mut app.completion {
        let n = c.candidates.len();
        c.index = if forward {
            (c.index + 1) % n
        } else {
            (c.index + n - 1) % n
        };
        let (start, chosen) = (c.start, c.candidates[c.index].clone());
        apply_completion(&mut app.input, start, &chosen);
        c.applied = app.input.text().to_owned();
        return;
    }
    let Some(room) = app.current_room() else {
        return;
    };
    let cursor = app.input.cursor();
    let mut start = cursor;
    while start > 0 && !app.input.slice(start - 1, start).trim().is_empty() {
        start -= 1;
    }
    let word = app.input.slice(start, cursor);
    let (at, prefix) = match word.strip_prefix('@') {
        Some(rest) => ("@", rest),
        None => ("", word),
    };
    if prefix.is_empty() {
        return;
    }
    let prefix = prefix.to_ascii_lowercase();
    // Members first, then recent speakers who may have left.
    let mut candidates: Vec<String> = Vec::new();
    let speakers = room.entries.iter().rev().take(500).filter_map(|e| match e {
        Entry::Message(m) => Some(&m.user),
        _ => None,
    });
    for name in room.members.iter().chain(speakers) {
        if name != &app.user
            && name.to_ascii_lowercase().starts_with(&prefix)
            && !candidates.iter().any(|c| c == &format!("{at}{name}"))
        {
            candidates.push(format!("{at}{name}"));
        }
    }
    if candidates.is_empty() {
        return;
    }
    let index = if forward { 0 } else { candidates.len() - 1 };
    apply_completion(&mut app.input, start, &candidates[index]);
    app.completion = Some(Completion {
        start,
        candidates,
        index,
        applied: app.input.text().to_owned(),
    });
}

fn apply_completion(input: &mut InputLine, start: usize, name: &str) {
    let suffix = if start == 0 { ": " } else { " " };
    input.replace_range(start, input.cursor(), &format!("{name}{suffix}"));
}

// ---------------------------------------------------------------- commands

fn run_command(app: &mut App, command: &str, fx: &mut Vec<Effect>) {
    let command = command.trim();
    let (name, arg) = match command.split_once(char::is_whitespace) {
        Some((name, arg)) => (name, arg.trim()),
        None => (command, ""),
    };
    match name.to_ascii_lowercase().as_str() {
        "join" | "j" => {
            if arg.is_empty() {
                notice(app, "Usage: /join ROOM", Level::Error);
            } else {
                join_room(app, arg, fx);
            }
        }
        "leave" | "part" => leave_room(app, arg, fx),
        "rooms" | "list" => {
            if app.conn.is_online() {
                app.awaiting_rooms = true;
                fx.push(Effect::Send(ClientFrame::rooms()));
            } else {
                notice(app, "Not connected: /rooms needs the server.", Level::Error);
            }
        }
        "who" | "names" => who(app),
        "help" | "h" | "?" => app.mode = Mode::Help,
        "quit" | "exit" | "q" => quit(app, fx),
        "connect" | "reconnect" => match app.conn {
            ConnState::NeedPassword { .. } => app.mode = Mode::Password(InputLine::default()),
            ConnState::Online { .. } => notice(app, "Already connected.", Level::Info),
            _ => {
                app.conn = ConnState::Connecting;
                fx.push(Effect::Reconnect);
            }
        },
        "" => notice(app, "Type /help for the list of commands.", Level::Info),
        other => notice(
            app,
            &format!("Unknown command /{other}. /help lists the commands."),
            Level::Error,
        ),
    }
}

fn join_room(app: &mut App, raw: &str, fx: &mut Vec<Effect>) {
    let raw = raw.trim().trim_start_matches('#');
    let name = match RoomName::parse(raw) {
        Ok(name) => name.into_string(),
        Err(e) => {
            notice(app, &format!("Cannot join {raw:?}: {e}."), Level::Error);
            return;
        }
    };
    if let Some(index) = app.room_index(&name) {
        switch_to(app, index);
        return;
    }
    app.rooms.push(crate::app::Room::new(name));
    let index = app.rooms.len() - 1;
    switch_to(app, index);
    if app.conn.is_online() {
        send_join(app, index, fx);
    }
    fx.push(Effect::SaveState(app.saved_state()));
}

fn leave_room(app: &mut App, arg: &str, fx: &mut Vec<Effect>) {
    let index = if arg.is_empty() {
        if app.rooms.is_empty() {
            notice(app, "You are in no room.", Level::Error);
            return;
        }
        app.current
    } else {
        let wanted = arg.trim_start_matches('#').to_ascii_lowercase();
        match app.room_index(&wanted) {
            Some(index) => index,
            None => {
                notice(app, &format!("You are not in #{wanted}."), Level::Error);
                return;
            }
        }
    };
    let room = app.rooms.remove(index);
    if app.conn.is_online() {
        fx.push(Effect::Send(ClientFrame::Leave {
            room: room.name.clone(),
        }));
    }
    let before = app.outbox.entries.len();
    app.outbox.entries.retain(|p| p.room != room.name);
    let dropped = before - app.outbox.entries.len();
    if index < app.current || (index == app.current && app.current >= app.rooms.len()) {
        app.current = app.current.saturating_sub(1);
    }
    if !app.rooms.is_empty() {
        let current = app.current;
        mark_read(app, current);
    }
    let mut text = format!("Left #{}.", room.name);
    if dropped > 0 {
        text.push_str(&format!(" {dropped} unsent line(s) to it were discarded."));
    }
    notice(app, &text, Level::Info);
    fx.push(Effect::SaveState(app.saved_state()));
}

fn who(app: &mut App) {
    let Some(room) = app.current_room() else {
        notice(app, "You are in no room.", Level::Error);
        return;
    };
    let names: Vec<&str> = room.members.iter().map(String::as_str).collect();
    let text = format!(
        "#{}: {} member{}: {}",
        room.name,
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        names.join(", ")
    );
    notice(app, &text, Level::Info);
}

fn quit(app: &mut App, fx: &mut Vec<Effect>) {
    fx.push(Effect::SaveState(app.saved_state()));
    fx.push(Effect::Quit);
}

// ---------------------------------------------------------------- rooms & scrolling

fn switch_relative(app: &mut App, delta: isize) {
    let n = app.rooms.len();
    if n == 0 {
        return;
    }
    let next = (app.current as isize + delta).rem_euclid(n as isize) as usize;
    switch_to(app, next);
}

fn switch_to(app: &mut App, index: usize) {
    if index >= app.rooms.len() {
        return;
    }
    if index != app.current {
        if let Some(old) = app.rooms.get_mut(app.current) {
            old.new_marker = None;
        }
        let room = &mut app.rooms[index];
        if room.unread > 0 {
            room.new_marker = Some(room.last_read);
        }
    }
    app.current = index;
    app.completion = None;
    mark_read(app, index);
}

/// Everything loaded in the room counts as read.
fn mark_read(app: &mut App, index: usize) {
    let room = &mut app.rooms[index];
    if room.last_seen > room.last_read {
        room.last_read = room.last_seen;
        app.state_dirty = true;
    }
    room.unread = 0;
    room.mentioned = false;
}

fn page_rows(app: &App) -> (u16, usize, usize) {
    let (width, height) = ui::layout::history_size(app.size);
    let height = height as usize;
    (width, height, height.saturating_sub(2).max(1))
}

fn scroll_up(app: &mut App, fx: &mut Vec<Effect>) {
    let (width, height, page) = page_rows(app);
    let Some(room) = app.current_room() else {
        return;
    };
    let want = room.scroll + page;
    let (rows, reached_top) = ui::history::count_rows(app, width, want + height);
    let top = rows.saturating_sub(height);
    if let Some(room) = app.current_room_mut() {
        room.scroll = want.min(top);
    }
    if reached_top && want >= top {
        let current = app.current;
        request_older(app, current, fx);
    }
}

fn scroll_down(app: &mut App) {
    let (_, _, page) = page_rows(app);
    if let Some(room) = app.current_room_mut() {
        room.scroll = room.scroll.saturating_sub(page);
    }
}

/// Asks for the page of history before the oldest loaded message.
fn request_older(app: &mut App, index: usize, fx: &mut Vec<Effect>) {
    if !app.conn.is_online() {
        return;
    }
    let room = &mut app.rooms[index];
    if room.sync != RoomSync::Live || matches!(room.older, Older::Loading | Older::Exhausted) {
        return;
    }
    let before = match room.oldest_id() {
        Some(id) => id,
        None if room.last_read.max(room.last_seen) > 0 => room.last_read.max(room.last_seen) + 1,
        None => {
            // Nothing loaded and nothing ever read: the room is empty.
            room.older = Older::Exhausted;
            return;
        }
    };
    if before <= 1 {
        room.older = Older::Exhausted;
        return;
    }
    room.older = Older::Loading;
    fx.push(Effect::Send(ClientFrame::History {
        room: room.name.clone(),
        before: Some(before),
        after: None,
        limit: Some(OLDER_PAGE),
    }));
}

fn send_join(app: &mut App, index: usize, fx: &mut Vec<Effect>) {
    let room = &mut app.rooms[index];
    let since = room.resume_since();
    room.sync = RoomSync::Joining { since };
    room.held_live.clear();
    fx.push(Effect::Send(ClientFrame::Join {
        room: room.name.clone(),
        since,
        limit: since.map(|_| CATCH_UP_PAGE),
    }));
}

// ---------------------------------------------------------------- network

fn on_net(app: &mut App, event: NetEvent, fx: &mut Vec<Effect>) {
    match event {
        NetEvent::Connecting => {
            if !matches!(app.conn, ConnState::NeedPassword { .. }) {
                app.conn = ConnState::Connecting;
            }
        }
        NetEvent::Connected { epoch } => {
            app.conn = ConnState::Handshaking { epoch };
            fx.push(Effect::Send(ClientFrame::Hello {
                user: app.user.clone(),
                password: app.password.clone(),
            }));
        }
        NetEvent::Disconnected { reason, retry_in } => on_disconnected(app, reason, retry_in),
        NetEvent::Frame(frame) => on_frame(app, frame, fx),
        NetEvent::Undecodable { error } => notice(
            app,
            &format!("The server sent a frame this client cannot read: {error}"),
            Level::Error,
        ),
    }
}

fn on_disconnected(app: &mut App, reason: String, retry_in: Option<Duration>) {
    let was_online = app.conn.is_online();
    for room in &mut app.rooms {
        room.sync = RoomSync::Offline;
        // Dropped with the socket; asked for again after rejoining.
        room.held_live.clear();
        if room.older == Older::Loading {
            room.older = Older::Unknown;
        }
    }
    app.outbox.connection_lost();
    app.awaiting_rooms = false;
    if was_online {
        notice(app, &format!("Disconnected: {reason}"), Level::Info);
    } else if !app.ever_online
        && !app.refused
        && !matches!(app.conn, ConnState::NeedPassword { .. })
        && app.last_failure.as_deref() != Some(reason.as_str())
    {
        let server = app.server.clone();
        notice(
            app,
            &format!("Cannot connect to {server}: {reason}. Retrying."),
            Level::Error,
        );
    }
    app.last_failure = Some(reason.clone());
    app.refused = false;
    match (&app.conn, retry_in) {
        (ConnState::NeedPassword { .. }, _) => {}
        (_, Some(delay)) => {
            app.conn = ConnState::Waiting {
                retry_at: app.now + delay,
                reason,
            };
        }
        (_, None) => app.conn = ConnState::NeedPassword { reason },
    }
}

fn on_frame(app: &mut App, frame: ServerFrame, fx: &mut Vec<Effect>) {
    match frame {
        ServerFrame::Welcome {
            user,
            guest,
            registered,
            server,
            ..
        } => {
            let Some(epoch) = app.conn.epoch() else {
                return;
            };
            app.conn = ConnState::Online { epoch, guest };
            app.last_failure = None;
            app.last_refusal = None;
            let text = if app.ever_online {
                "Reconnected.".to_owned()
            } else {
                let mut text =
                    format!("Connected to {} as {user}", crate::sanitize::inert(&server));
                if guest {
                    text.push_str(" (guest)");
                }
                if registered {
                    text.push_str(" (new account registered)");
                }
                text.push('.');
                text
            };
            app.user = user;
            app.ever_online = true;
            notice(app, &text, Level::Info);
            for index in 0..app.rooms.len() {
                send_join(app, index, fx);
            }
        }
        ServerFrame::Joined {
            room,
            members,
            history,
            more,
            last_id,
            ..
        } => on_joined(app, &room, members, messages_of(history), more, last_id, fx),
        ServerFrame::History {
            room,
            messages,
            more,
        } => on_history(app, &room, messages_of(messages), more, fx),
        ServerFrame::Message(message) => {
            if let Some(reference) = &message.reference {
                app.outbox.take_by_ref(reference);
            }
            let Some(index) = app.room_index(&message.room) else {
                return;
            };
            match app.rooms[index].sync {
                RoomSync::Joining { .. } | RoomSync::CatchingUp => {
                    app.rooms[index].held_live.push(message);
                }
                RoomSync::Live | RoomSync::Offline => absorb(app, index, message, false),
            }
        }
        ServerFrame::Join { room, user, ts } => {
            let Some(index) = app.room_index(&room) else {
                return;
            };
            app.rooms[index].members.insert(user.clone());
            if user != app.user {
                push_entry(app, index, Entry::Join { user, ts });
            }
        }
        ServerFrame::Leave { room, user, ts } => {
            let Some(index) = app.room_index(&room) else {
                return;
            };
            // Our own leave is the confirmation of /leave; the room is gone
            // from the list already.
            if user != app.user {
                app.rooms[index].members.remove(&user);
                push_entry(app, index, Entry::Leave { user, ts });
            }
        }
        ServerFrame::Rooms { mut rooms, .. } => {
            if app.awaiting_rooms {
                app.awaiting_rooms = false;
                rooms.sort_by(|a, b| a.name.cmp(&b.name));
                app.mode = Mode::Rooms(RoomBrowser {
                    rooms,
                    filter: String::new(),
                    selected: 0,
                });
            }
        }
        ServerFrame::Error {
            code,
            message,
            reference,
            ..
        } => on_error(app, code, &message, reference, fx),
        // Protocol-2 frames this client does not show yet.
        ServerFrame::Edit(_)
        | ServerFrame::Delete(_)
        | ServerFrame::React(_)
        | ServerFrame::Unreact(_)
        | ServerFrame::Topic(_)
        | ServerFrame::Role(_)
        | ServerFrame::Kick(_)
        | ServerFrame::Ban(_)
        | ServerFrame::Unban(_)
        | ServerFrame::Invite(_)
        | ServerFrame::Settings(_)
        | ServerFrame::RoomDeleted { .. }
        | ServerFrame::Read { .. }
        | ServerFrame::Typing { .. }
        | ServerFrame::Search { .. } => {}
    }
}

/// The messages of a page; entries of other kinds are not shown yet.
fn messages_of(entries: Vec<chat_proto::Entry>) -> Vec<Message> {
    entries
        .into_iter()
        .filter_map(chat_proto::Entry::into_message)
        .collect()
}

fn on_joined(
    app: &mut App,
    name: &str,
    members: Vec<String>,
    history: Vec<Message>,
    more: bool,
    last_id: u64,
    fx: &mut Vec<Effect>,
) {
    let Some(index) = app.room_index(name) else {
        return;
    };
    let room = &mut app.rooms[index];
    let since = match room.sync {
        RoomSync::Joining { since } => since,
        _ => room.resume_since(),
    };
    room.members = members.into_iter().collect();
    if since.is_some_and(|since| last_id < since) {
        // The server's newest id is older than ours: its history was reset
        // (a new database). Our ids mean nothing there; start afresh.
        room.position_known = false;
        room.last_seen = 0;
        room.last_read = 0;
        room.older = Older::Unknown;
        app.state_dirty = true;
        push_entry(
            app,
            index,
            Entry::Notice {
                text: "The server's history of this room was reset; showing it anew.".into(),
                ts: app.now_ms,
                level: Level::Info,
            },
        );
        send_join(app, index, fx);
        return;
    }
    for message in history {
        absorb(app, index, message, true);
    }
    let room = &mut app.rooms[index];
    room.position_known = true;
    if since.is_none() {
        room.older = if more {
            Older::Available
        } else {
            Older::Exhausted
        };
    }
    if since.is_some() && more {
        room.sync = RoomSync::CatchingUp;
        request_catch_up_page(room, fx);
    } else {
        room_live(app, index, fx);
    }
}

/// Asks for the next page of messages after the newest one seen.
fn request_catch_up_page(room: &crate::app::Room, fx: &mut Vec<Effect>) {
    fx.push(Effect::Send(ClientFrame::History {
        room: room.name.clone(),
        before: None,
        after: Some(room.last_seen),
        limit: Some(CATCH_UP_PAGE),
    }));
}

fn on_history(app: &mut App, name: &str, messages: Vec<Message>, more: bool, fx: &mut Vec<Effect>) {
    let Some(index) = app.room_index(name) else {
        return;
    };
    let room = &app.rooms[index];
    if room.sync == RoomSync::CatchingUp {
        for message in messages {
            absorb(app, index, message, true);
        }
        let room = &mut app.rooms[index];
        if more {
            request_catch_up_page(room, fx);
        } else {
            room_live(app, index, fx);
        }
    } else if room.older == Older::Loading {
        prepend_older(app, index, messages);
        app.rooms[index].older = if more {
            Older::Available
        } else {
            Older::Exhausted
        };
    } else {
        // Not asked for: keep only what is new.
        for message in messages {
            absorb(app, index, message, false);
        }
    }
}

/// The room is caught up: show what was held back, send its pending lines.
fn room_live(app: &mut App, index: usize, fx: &mut Vec<Effect>) {
    let room = &mut app.rooms[index];
    room.sync = RoomSync::Live;
    let held = std::mem::take(&mut room.held_live);
    for message in held {
        absorb(app, index, message, false);
    }
    let name = app.rooms[index].name.clone();
    flush_outbox(app, &name, fx);
    let room = &mut app.rooms[index];
    if room.want_context {
        room.want_context = false;
        let loaded = room
            .entries
            .iter()
            .filter(|e| e.message_id().is_some())
            .count();
        if loaded < OLDER_PAGE as usize {
            request_older(app, index, fx);
        }
    }
}

/// Older history arrived: what is older than every loaded message goes on
/// top, above any notices, since it happened before them.
fn prepend_older(app: &mut App, index: usize, messages: Vec<Message>) {
    let room = &mut app.rooms[index];
    let oldest = room.oldest_id();
    let older: Vec<Entry> = messages
        .into_iter()
        .filter(|m| oldest.is_none_or(|oldest| m.id < oldest))
        .map(Entry::Message)
        .collect();
    if oldest.is_none() {
        // Nothing was loaded: this page is also the newest we have seen.
        let newest = older.iter().filter_map(Entry::message_id).max();
        room.last_seen = room.last_seen.max(newest.unwrap_or(0));
        room.position_known = true;
    }
    room.entries.splice(0..0, older);
}

/// Shows one message from the server unless it is a duplicate, counting
/// it as unread (and maybe a mention) outside the current room. During a
/// catch-up (`catching_up`), an own message without `ref` may be the stored
/// copy of an outbox line whose acknowledgement was lost.
fn absorb(app: &mut App, index: usize, message: Message, catching_up: bool) {
    if catching_up && message.user == app.user && message.reference.is_none() {
        app.outbox.take_stored_copy(&message.room, &message.text);
    }
    let is_current = index == app.current;
    let me = app.user.clone();
    let room = &mut app.rooms[index];
    if message.id <= room.last_seen {
        return;
    }
    room.last_seen = message.id;
    if message.id > room.last_read {
        if is_current {
            room.last_read = message.id;
            app.state_dirty = true;
        } else if message.user != me {
            room.unread += 1;
            if mentions(&message.text, &me) {
                room.mentioned = true;
            }
        }
    }
    push_entry(app, index, Entry::Message(message));
}

/// Appends an entry, keeping a scrolled-up view where it is.
fn push_entry(app: &mut App, index: usize, entry: Entry) {
    if app.rooms[index].scroll > 0 && index == app.current {
        let (width, _) = ui::layout::history_size(app.size);
        let rows = ui::history::entry_height(app, &entry, width);
        app.rooms[index].scroll += rows;
    }
    app.rooms[index].entries.push(entry);
}

fn on_error(
    app: &mut App,
    code: ErrorCode,
    message: &str,
    reference: Option<String>,
    fx: &mut Vec<Effect>,
) {
    let text = crate::sanitize::inert(message);
    match code {
        ErrorCode::AuthFailed | ErrorCode::AuthRequired => {
            app.refused = true;
            app.conn = ConnState::NeedPassword {
                reason: text.clone(),
            };
            app.mode = Mode::Password(InputLine::default());
            fx.push(Effect::HoldConnection);
            let text = format!(
                "Login refused for {}: {text}. Type the password below (Esc cancels).",
                app.user
            );
            notice(app, &text, Level::Error);
            return;
        }
        ErrorCode::NameTaken => {
            // The server closes the socket and the client retries (the other
            // guest may leave); say so once, not on every retry.
            let text = format!(
                "The name {} is in use by another guest; retrying. /quit and pick another --user, or log in with a password.",
                app.user
            );
            if app.last_refusal.as_deref() != Some(text.as_str()) {
                notice(app, &text, Level::Error);
            }
            app.last_refusal = Some(text);
            app.refused = true;
            return;
        }
        ErrorCode::RateLimited | ErrorCode::Internal => {
            if let Some(p) = reference.as_deref().and_then(|r| app.outbox.by_ref_mut(r)) {
                p.in_flight = false;
                p.retry_at = Some(app.now + RESEND_DELAY);
                notice(
                    app,
                    &format!("Server busy ({}): resending shortly.", code.as_str()),
                    Level::Info,
                );
                return;
            }
        }
        _ => {
            if let Some(p) = reference.as_deref().and_then(|r| app.outbox.take_by_ref(r)) {
                let shown = crate::ui::truncate(&crate::sanitize::inert(&p.text), 40);
                let line = format!("Not sent to #{} ({text}): {shown}", p.room);
                match app.room_index(&p.room) {
                    Some(index) => push_entry(
                        app,
                        index,
                        Entry::Notice {
                            text: line,
                            ts: app.now_ms,
                            level: Level::Error,
                        },
                    ),
                    None => notice(app, &line, Level::Error),
                }
                return;
            }
        }
    }
    notice(
        app,
        &format!("Server: {text} ({})", code.as_str()),
        Level::Error,
    );
}

// ---------------------------------------------------------------- clock

fn on_tick(app: &mut App, fx: &mut Vec<Effect>) {
    if matches!(app.conn, ConnState::Waiting { .. }) {
        app.needs_redraw = true;
    }
    let waiting: Vec<String> = app
        .outbox
        .entries
        .iter()
        .filter(|p| !p.in_flight && p.retry_at.is_some_and(|t| t <= app.now))
        .map(|p| p.room.clone())
        .collect();
    for room in waiting {
        if app
            .room_index(&room)
            .is_some_and(|i| app.rooms[i].sync == RoomSync::Live)
        {
            app.needs_redraw = true;
            flush_outbox(app, &room, fx);
        }
    }
    if app.state_dirty {
        app.state_dirty = false;
        fx.push(Effect::SaveState(app.saved_state()));
    }
}

/// Adds a notice line to the current room (or the status log).
fn notice(app: &mut App, text: &str, level: Level) {
    let entry = Entry::Notice {
        text: text.to_owned(),
        ts: app.now_ms,
        level,
    };
    if app.rooms.is_empty() {
        app.status_log.push(entry);
    } else {
        let current = app.current.min(app.rooms.len() - 1);
        push_entry(app, current, entry);
    }
}

#[cfg(test)]
mod tests;
