//! The input: pasted text (its lines kept), what `$EDITOR` wrote, Enter
//! (a message to send through the outbox, split when over the protocol's
//! limit, or a `/command`), and Tab completion of member names.

use chat_proto::limits::MAX_TEXT_BYTES;
use chat_proto::{ClientFrame, validate_text};
use crossterm::event::KeyCode;

use super::commands::run_command;
use super::outbox::queue;
use super::{Effect, notice};
use crate::app::{App, Completion, ComposeKind, Entry, InputLine, Level, Mode, Scroll};

/// Text from outside (a paste, the editor) as the input takes it: line
/// ends as `\n`, a tab as spaces (a raw tab would let the terminal pick
/// the column), other control characters dropped rather than sent to
/// other people's screens.
pub(super) fn clean_text(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\t', "    ")
        .chars()
        .filter(|&c| c == '\n' || !c.is_control())
        .collect()
}

pub(super) fn on_paste(app: &mut App, text: &str) {
    let clean = clean_text(text);
    match &mut app.mode {
        Mode::Normal => {
            let lines = clean.split('\n').count();
            if app.paste_max_lines > 0 && lines > app.paste_max_lines {
                app.mode = Mode::ConfirmPaste(clean);
            } else {
                insert_paste(app, &clean);
            }
        }
        // One-line fields: the lines joined.
        Mode::Password(line) => line.insert_str(clean.replace('\n', " ").trim()),
        Mode::Rooms(browser) => {
            browser.filter.push_str(clean.replace('\n', " ").trim());
            browser.selected = 0;
        }
        Mode::React(prompt) => prompt.line.insert_str(clean.replace('\n', " ").trim()),
        Mode::Search(view) => view.input.insert_str(clean.replace('\n', " ").trim()),
        Mode::Help | Mode::ConfirmPaste(_) | Mode::Confirm(_) | Mode::Pick(_) => {}
    }
}

/// A paste of many lines waits: y or Enter puts it in the input, n or Esc
/// drops it; other keys are ignored.
pub(super) fn answer_paste(app: &mut App, key: KeyCode) {
    let Mode::ConfirmPaste(text) = &mut app.mode else {
        return;
    };
    match key {
        KeyCode::Char('y' | 'Y') | KeyCode::Enter => {
            let text = std::mem::take(text);
            app.mode = Mode::Normal;
            insert_paste(app, &text);
        }
        KeyCode::Char('n' | 'N') | KeyCode::Esc => {
            app.mode = Mode::Normal;
            notice(app, "Paste dropped.", Level::Info);
        }
        _ => {}
    }
}

/// Puts pasted (already cleaned) text in the input at the cursor.
pub(super) fn insert_paste(app: &mut App, clean: &str) {
    app.key_prefix = None;
    app.completion = None;
    app.sent_lines.stop_browsing();
    app.input.insert_str(clean);
}

/// Ctrl-X Ctrl-E, `/editor`: the runner suspends the screen and opens the
/// editor on what the input holds; [`on_edited`] takes the result.
pub(super) fn open_editor(app: &mut App, fx: &mut Vec<Effect>) {
    app.completion = None;
    app.sent_lines.stop_browsing();
    fx.push(Effect::Edit(app.input.text().to_owned()));
}

/// What the editor left: the new input (its last line end dropped, as
/// editors add one), or why there is none (the input is then unchanged).
pub(super) fn on_edited(app: &mut App, outcome: Result<String, String>) {
    match outcome {
        Ok(text) => {
            let clean = clean_text(&text);
            let clean = clean.strip_suffix('\n').unwrap_or(&clean);
            app.input.set(clean);
        }
        Err(problem) => notice(app, &format!("Editor: {problem}"), Level::Error),
    }
}

/// Plain characters typed in a burst: what one key per character would
/// do (a key that closes the help page is used up closing it), as one edit.
pub(super) fn on_typed(app: &mut App, text: &str) {
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match &mut app.mode {
            // Typed keys answer the question one by one (a single key
            // press arrives as typed text too).
            Mode::ConfirmPaste(_) => {
                answer_paste(app, KeyCode::Char(c));
                rest = &rest[c.len_utf8()..];
            }
            // Ctrl-X then a character: no binding, both used up.
            Mode::Normal if app.key_prefix.take().is_some() => {
                rest = &rest[c.len_utf8()..];
            }
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
            // Answered by `manage::answer_typed` and `fix::pick_typed`
            // before this is reached.
            Mode::Confirm(_) | Mode::Pick(_) | Mode::React(_) | Mode::Search(_) => return,
        }
    }
}

pub(super) fn submit(app: &mut App, fx: &mut Vec<Effect>) {
    let line = app.input.take();
    if line.trim().is_empty() {
        match app.compose.take() {
            Some(compose) if compose.kind == ComposeKind::Edit => {
                super::fix::submit_compose(app, compose, &line, fx);
            }
            // An empty reply is nothing to send yet.
            Some(compose) => app.compose = Some(compose),
            None => {
                super::commands::accept_invitation(app, fx);
            }
        }
        return;
    }
    app.sent_lines.push(&line);
    let text = if line.starts_with("//") {
        &line[1..]
    } else if let Some(command) = line.strip_prefix('/') {
        return run_command(app, command, fx);
    } else {
        &line
    };
    let here = app.current_room().map(|r| r.name.clone());
    match app.compose.take() {
        Some(compose) if Some(&compose.room) == here.as_ref() => {
            super::fix::submit_compose(app, compose, text, fx);
        }
        _ => send_line(app, text, fx),
    }
}

/// Queues a message (several, in order, when it is over the protocol's
/// limit: cut at word boundaries) and sends it if its room is live.
pub(super) fn send_line(app: &mut App, text: &str, fx: &mut Vec<Effect>) {
    send_message(app, text, None, false, fx);
}

/// [`send_line`] for a reply to message `reply_to` (its first piece, when
/// cut) or an action (`/me`; every piece).
pub(super) fn send_message(
    app: &mut App,
    text: &str,
    reply_to: Option<u64>,
    action: bool,
    fx: &mut Vec<Effect>,
) {
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
    let pieces = crate::text::split_message(text, MAX_TEXT_BYTES);
    if let Some(e) = validate_text(text)
        .err()
        .filter(|_| pieces.len() < 2)
        .or_else(|| pieces.iter().find_map(|p| validate_text(p).err()))
    {
        app.input.set(text);
        notice(app, &format!("Not sent: {e}."), Level::Error);
        return;
    }
    let name = room.name.clone();
    if let Some(room) = app.current_room_mut() {
        room.scroll = Scroll::Bottom;
        room.new_marker = None;
    }
    // Each piece in order, each saved before it is sent.
    for (i, piece) in pieces.iter().enumerate() {
        let reply_to = reply_to.filter(|_| i == 0);
        queue(
            app,
            &name,
            None,
            |r| ClientFrame::Message {
                room: name.clone(),
                text: piece.clone(),
                reference: Some(r),
                reply_to,
                action,
            },
            fx,
        );
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
    // After a room-management command, the names it can act on (offered
    // before anything is typed, too).
    let before = app.input.slice(0, start);
    let subjects = super::manage::subject_candidates(room, before)
        .or_else(|| partners_after_command(app, before));
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

/// After `/msg ` or `/query `: the names a conversation can be with.
fn partners_after_command(app: &App, before: &str) -> Option<Vec<String>> {
    let command = before.strip_suffix(' ')?.strip_prefix('/')?;
    match crate::keymap::command_named(command)? {
        crate::keymap::SlashCommand::Msg | crate::keymap::SlashCommand::Query => {
            Some(super::conversation::partner_candidates(app))
        }
        _ => None,
    }
}

pub(super) fn apply_completion(input: &mut InputLine, start: usize, name: &str) {
    let suffix = if start == 0 { ": " } else { " " };
    input.replace_range(start, input.cursor(), &format!("{name}{suffix}"));
}
