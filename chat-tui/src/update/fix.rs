//! Fixing messages from the keyboard: picking one in the history (Alt-P,
//! then [`crate::keymap::PICK_KEYS`]), replying to it, editing it, deleting
//! it (asked first), reacting to it (a prompt with a quick set), Up on an
//! empty input editing our last message, and `/me`. Each request goes
//! through the outbox like a line, with its own `ref`.

use chat_proto::limits::MAX_TEXT_BYTES;
use chat_proto::{ClientFrame, validate_emoji, validate_text};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::input::send_message;
use super::outbox::queue;
use super::sync::request_older;
use super::{Effect, notice};
use crate::app::{
    App, Compose, ComposeKind, Confirm, Level, Membership, Mode, ReactPrompt, RoomRequest, Scroll,
};
use crate::keymap::{KeyCommand, QUICK_REACTIONS};

/// The current room's name when its messages can be fixed: we are in it
/// and the server speaks protocol 2. Else says why not.
fn fixable_room(app: &mut App) -> Option<String> {
    let problem = match app.current_room() {
        None => "You are in no room.".to_owned(),
        Some(room) if room.membership != Membership::Member => {
            format!("You are not in #{}: /join it first.", room.name)
        }
        Some(_) if app.protocol < 2 => {
            "This server speaks protocol 1: messages cannot be replied to, edited or deleted there."
                .to_owned()
        }
        Some(room) => return Some(room.name.clone()),
    };
    notice(app, &problem, Level::Error);
    None
}

/// Alt-P: picks the newest message shown.
pub(super) fn start_pick(app: &mut App) {
    if fixable_room(app).is_none() {
        return;
    }
    match app.current_room().and_then(|r| r.newest_message_id()) {
        Some(id) => pick(app, id),
        None => notice(app, "There is no message here to pick.", Level::Info),
    }
}

/// Picks message `id` of the current room and scrolls it into view.
pub(super) fn pick(app: &mut App, id: u64) {
    app.mode = Mode::Pick(id);
    app.completion = None;
    let Some(room) = app.current_room_mut() else {
        return;
    };
    let Some(index) = room.message_index(id) else {
        return;
    };
    let shown = room.viewport.shown;
    if shown.is_some_and(|(first, last)| (first..=last).contains(&index)) {
        return;
    }
    room.scroll = if index + 2 >= room.entries.len() {
        Scroll::Bottom
    } else {
        // The pane ends with the entry after it, whose last row the "more
        // lines" hint takes: the picked one shows whole above.
        Scroll::Anchored {
            entries: index + 2,
            rows_up: 0,
        }
    };
}

/// A key while a message is picked.
pub(super) fn pick_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Mode::Pick(id) = app.mode else {
        return;
    };
    match app.keymap.lookup_pick(&key) {
        Some(KeyCommand::PickOlder) => pick_neighbour(app, id, true, fx),
        Some(KeyCommand::PickNewer) => pick_neighbour(app, id, false, fx),
        Some(KeyCommand::PickReply) => start_compose(app, id, ComposeKind::Reply),
        Some(KeyCommand::PickEdit) => start_edit(app, id),
        Some(KeyCommand::PickDelete) => ask_delete(app, id),
        Some(KeyCommand::PickReact) => start_react(app, id),
        Some(KeyCommand::PickLeave) => leave_pick(app),
        _ => {}
    }
}

/// Characters typed while a message is picked (or at the reaction
/// prompt): each one as its key; once that leaves both, the rest goes to
/// what has the keyboard then (the question before a deletion, the input).
pub(super) fn pick_typed(app: &mut App, text: &str, fx: &mut Vec<Effect>) {
    for (at, c) in text.char_indices() {
        let key = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        match app.mode {
            Mode::Pick(_) => pick_key(app, key, fx),
            Mode::React(_) => react_key(app, key, fx),
            _ => {
                super::typed(app, &text[at..], fx);
                return;
            }
        }
    }
}

/// The message above or below; past the newest, back to the input; past
/// the oldest loaded, older history is asked for.
fn pick_neighbour(app: &mut App, id: u64, older: bool, fx: &mut Vec<Effect>) {
    let Some(room) = app.current_room() else {
        return;
    };
    match room.neighbour_message_id(id, older) {
        Some(next) => pick(app, next),
        None if older => {
            let current = app.current;
            request_older(app, current, fx);
        }
        None => leave_pick(app),
    }
}

fn leave_pick(app: &mut App) {
    app.mode = Mode::Normal;
    if let Some(room) = app.current_room_mut() {
        room.scroll = Scroll::Bottom;
    }
}

/// The input becomes a reply to (or the new text of) message `target`.
fn start_compose(app: &mut App, target: u64, kind: ComposeKind) {
    let Some(room) = fixable_room(app) else {
        app.mode = Mode::Normal;
        return;
    };
    app.mode = Mode::Normal;
    app.compose = Some(Compose { room, target, kind });
    if let Some(room) = app.current_room_mut() {
        room.scroll = Scroll::Bottom;
    }
}

/// Edits message `target` if it is ours: its text goes in the input.
fn start_edit(app: &mut App, target: u64) {
    let me = app.user.clone();
    let text = match app.current_room().and_then(|r| r.message(target)) {
        Some(m) if m.user == me && !m.deleted => m.text.clone(),
        Some(m) if m.deleted => return notice(app, "That message was deleted.", Level::Error),
        _ => return notice(app, "Only your own messages can be edited.", Level::Error),
    };
    start_compose(app, target, ComposeKind::Edit);
    if app.compose.is_some() {
        app.input.set(text);
    }
}

/// Up on an empty input: edits our newest message in the room; returns
/// whether there was one (else Up goes through the earlier lines).
pub(super) fn edit_last(app: &mut App) -> bool {
    if app.protocol < 2 || !app.input.is_empty() || app.compose.is_some() {
        return false;
    }
    let me = app.user.clone();
    let Some(target) = app
        .current_room()
        .filter(|r| r.is_member())
        .and_then(|r| r.last_own_message(&me))
        .map(|m| m.id)
    else {
        return false;
    };
    start_edit(app, target);
    true
}

/// Esc: the reply or edit is dropped; an edit's text goes with it.
pub(super) fn cancel_compose(app: &mut App) {
    if let Some(compose) = app.compose.take()
        && compose.kind == ComposeKind::Edit
    {
        app.input.take();
    }
}

/// Enter with a reply or an edit under way (`line` is not a command).
pub(super) fn submit_compose(app: &mut App, compose: Compose, line: &str, fx: &mut Vec<Effect>) {
    match compose.kind {
        ComposeKind::Reply => send_message(app, line, Some(compose.target), false, fx),
        ComposeKind::Edit => send_edit(app, compose, line, fx),
    }
}

/// Sends the edit of `compose.target` to `text`, unless it is no text, too
/// long, or the same (the input and the edit are kept to be fixed then).
fn send_edit(app: &mut App, compose: Compose, text: &str, fx: &mut Vec<Effect>) {
    let old = app
        .room_index(&compose.room)
        .and_then(|i| app.rooms[i].message(compose.target))
        .map(|m| m.text.clone());
    let problem = if text.trim().is_empty() {
        Some(format!(
            "An edit cannot be empty; to delete the message, pick it ({}) and press {}.",
            app.keymap.first_key(KeyCommand::Pick),
            app.keymap.first_key(KeyCommand::PickDelete)
        ))
    } else if text.len() > MAX_TEXT_BYTES {
        Some(format!(
            "Not saved: an edit holds at most {MAX_TEXT_BYTES} bytes."
        ))
    } else {
        validate_text(text)
            .err()
            .map(|e| format!("Not saved: {e}."))
    };
    if let Some(problem) = problem {
        app.input.set(text);
        app.compose = Some(compose);
        notice(app, &problem, Level::Error);
        return;
    }
    if old.as_deref() == Some(text) {
        notice(app, "Not changed: the text is the same.", Level::Info);
        return;
    }
    let (room, target, text) = (compose.room.clone(), compose.target, text.to_owned());
    let what = Some("editing a message".to_owned());
    queue(
        app,
        &compose.room,
        what,
        |reference| ClientFrame::Edit {
            room,
            target,
            text,
            reference: Some(reference),
        },
        fx,
    );
}

/// `d`: asks before deleting message `target`, if we may.
fn ask_delete(app: &mut App, target: u64) {
    let Some(room_name) = fixable_room(app) else {
        return;
    };
    let (me, admin) = (app.user.clone(), app.admin);
    let Some(room) = app.current_room() else {
        return;
    };
    let problem = match room.message(target) {
        None => Some("That message is not loaded any more."),
        Some(m) if m.deleted => Some("That message is already deleted."),
        Some(m) if !room.may_delete(m, &me, admin) => {
            Some("Only its author, the room's owner and ops can delete that message.")
        }
        Some(_) => None,
    };
    if let Some(problem) = problem {
        return notice(app, problem, Level::Error);
    }
    let question = match room.message(target) {
        Some(m) if m.user == me => "Delete your message, for everyone?".to_owned(),
        Some(m) => format!(
            "Delete {}'s message, for everyone?",
            crate::sanitize::inert(&m.user)
        ),
        None => return,
    };
    app.mode = Mode::Confirm(Confirm {
        room: room_name,
        request: RoomRequest::DeleteMessage { target },
        question,
    });
}

/// `+`: the reaction prompt for message `target`.
fn start_react(app: &mut App, target: u64) {
    match app.current_room().and_then(|r| r.message(target)) {
        Some(m) if m.deleted => notice(app, "That message was deleted.", Level::Error),
        Some(_) => {
            app.mode = Mode::React(ReactPrompt {
                target,
                line: Default::default(),
            })
        }
        None => notice(app, "That message is not loaded any more.", Level::Error),
    }
}

/// A key at the reaction prompt: a digit on an empty prompt sends that
/// quick reaction, Enter sends what is typed, Esc goes back to the pick.
pub(super) fn react_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Mode::React(prompt) = &mut app.mode else {
        return;
    };
    let target = prompt.target;
    if let KeyCode::Char(c @ '1'..='9') = key.code
        && prompt.line.is_empty()
        && let Some(emoji) = QUICK_REACTIONS.get(c as usize - '1' as usize)
    {
        app.mode = Mode::Normal;
        toggle_reaction(app, target, emoji, fx);
        return;
    }
    match key.code {
        KeyCode::Esc => app.mode = Mode::Pick(target),
        KeyCode::Enter => {
            let emoji = prompt.line.take().trim().to_owned();
            app.mode = Mode::Normal;
            toggle_reaction(app, target, &emoji, fx);
        }
        KeyCode::Backspace => prompt.line.backspace(),
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => prompt.line.insert(c),
        _ => {}
    }
}

/// Reacts to `target` with `emoji`, or takes our reaction back if it is
/// already there.
fn toggle_reaction(app: &mut App, target: u64, emoji: &str, fx: &mut Vec<Effect>) {
    if let Err(e) = validate_emoji(emoji) {
        return notice(app, &format!("Not a reaction: {e}."), Level::Error);
    }
    let Some(room) = fixable_room(app) else {
        return;
    };
    let me = app.user.clone();
    let mine = app
        .current_room()
        .and_then(|r| r.message(target))
        .and_then(|m| m.reactions.get(emoji))
        .is_some_and(|users| users.contains(&me));
    let (name, emoji) = (room.clone(), emoji.to_owned());
    let what = if mine {
        format!("taking back {emoji}")
    } else {
        format!("reacting with {emoji}")
    };
    queue(
        app,
        &room,
        Some(crate::sanitize::inert(&what)),
        move |reference| {
            let (room, reference) = (name, Some(reference));
            if mine {
                ClientFrame::Unreact {
                    room,
                    target,
                    emoji,
                    reference,
                }
            } else {
                ClientFrame::React {
                    room,
                    target,
                    emoji,
                    reference,
                }
            }
        },
        fx,
    );
}

/// `/me TEXT`: an action, shown as `* alice TEXT`.
pub(super) fn send_action(app: &mut App, text: &str, fx: &mut Vec<Effect>) {
    if text.trim().is_empty() {
        return notice(app, "Usage: /me TEXT", Level::Error);
    }
    if fixable_room(app).is_none() {
        app.input.set(format!("/me {text}"));
        return;
    }
    send_message(app, text, None, true, fx);
}
