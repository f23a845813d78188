//! The input line: pasted text, Enter (a line to send through the outbox,
//! or a `/command`), and Tab completion of member names.

use chat_proto::{ClientFrame, validate_text};

use super::commands::run_command;
use super::outbox::queue;
use super::{Effect, notice};
use crate::app::{App, Completion, Entry, InputLine, Level, Mode, Scroll};

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
        Mode::Help | Mode::Confirm(_) => {}
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
            // Answered by `manage::answer_typed` before this is reached.
            Mode::Confirm(_) => return,
        }
    }
}

pub(super) fn submit(app: &mut App, fx: &mut Vec<Effect>) {
    let line = app.input.take();
    if line.trim().is_empty() {
        super::commands::accept_invitation(app, fx);
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
    if !room.is_member() {
        let problem = format!("Not sent: you are not in #{}; /join it first.", room.name);
        app.input.set(text);
        notice(app, &problem, Level::Error);
        return;
    }
    if let Err(e) = validate_text(text) {
        app.input.set(text);
        notice(app, &format!("Not sent: {e}."), Level::Error);
        return;
    }
    let name = room.name.clone();
    if let Some(room) = app.current_room_mut() {
        room.scroll = Scroll::Bottom;
        room.new_marker = None;
    }
    queue(
        app,
        &name,
        None,
        |r| ClientFrame::message(&name, text, Some(r)),
        fx,
    );
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
    // After a room-management command, the names it can act on (offered
    // before anything is typed, too).
    let subjects = super::manage::subject_candidates(room, app.input.slice(0, start));
    if prefix.is_empty() && subjects.is_none() {
        return;
    }
    let prefix = prefix.to_ascii_lowercase();
    // Members first, then recent speakers who may have left.
    let mut candidates: Vec<String> = Vec::new();
    let speakers = room.entries.iter().rev().take(500).filter_map(|e| match e {
        Entry::Message(m) => Some(&m.user),
        _ => None,
    });
    let pool: Box<dyn Iterator<Item = &String>> = match &subjects {
        Some(names) => Box::new(names.iter()),
        None => Box::new(room.members.iter().chain(speakers)),
    };
    for name in pool {
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
