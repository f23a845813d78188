//! The input line: pasted text, Enter (a line to send or a `/command`),
//! the outbox that sends lines in order once their room is caught up, and
//! Tab completion of member names.

use chat_proto::{ClientFrame, validate_text};

use super::commands::run_command;
use super::{Effect, notice};
use crate::app::{App, Completion, Entry, InputLine, Level, Mode, RoomSync, Scroll};

pub(super) fn on_paste(app: &mut App, text: &str) {
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

/// Plain characters typed in a burst: what one key per character would
/// do (a key that closes the help page is used up closing it), as one edit.
pub(super) fn on_typed(app: &mut App, text: &str) {
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match &mut app.mode {
            Mode::Normal => {
                app.completion = None;
                app.sent_lines.stop_browsing();
                app.input.insert_str(rest);
                return;
            }
            Mode::Password(line) => {
                line.insert_str(rest);
                return;
            }
            Mode::Rooms(browser) => {
                browser.filter.push_str(rest);
                browser.selected = 0;
                return;
            }
            Mode::Help => {
                app.mode = Mode::Normal;
                rest = &rest[c.len_utf8()..];
            }
        }
    }
}

pub(super) fn submit(app: &mut App, fx: &mut Vec<Effect>) {
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

pub(super) fn send_line(app: &mut App, text: &str, fx: &mut Vec<Effect>) {
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
        room.scroll = Scroll::Bottom;
        room.new_marker = None;
    }
    if app.conn.is_online() && app.current_room().is_some_and(|r| r.sync == RoomSync::Live) {
        send_pending(app, &reference, fx);
    }
}

/// Sends one outbox line and marks it in flight.
pub(super) fn send_pending(app: &mut App, reference: &str, fx: &mut Vec<Effect>) {
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
pub(super) fn flush_outbox(app: &mut App, room: &str, fx: &mut Vec<Effect>) {
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

pub(super) fn complete(app: &mut App, forward: bool) {
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

pub(super) fn apply_completion(input: &mut InputLine, start: usize, name: &str) {
    let suffix = if start == 0 { ": " } else { " " };
    input.replace_range(start, input.cursor(), &format!("{name}{suffix}"));
}
