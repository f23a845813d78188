//! State changes: [`update`] turns one [`Action`] into changes to [`App`]
//! and a list of [`Effect`]s (frames to send, state to save, quitting) that
//! the runner performs. Nothing here touches the terminal, the socket, the
//! disk or the clock, and nothing here draws or measures rows (a scrolled
//! view is an anchor in the state, see [`crate::app::scroll`]), so every
//! behaviour is a plain unit test.
//!
//! One module per topic: [`keys`] (what a key does, from
//! [`crate::keybind`]), [`mouse`] (the wheel and clicks), [`input`] (the
//! input, pastes, the editor's result, completion), [`outbox`] (queueing,
//! sending and acknowledging requests), [`commands`] (`/commands`),
//! [`fix`] (picking a message to reply to, edit, delete or react to;
//! `/me`),
//! [`manage`] (the room-management commands), [`rooms`] (switching, read
//! marks, paging), [`search`] (the search popup and jumping to a found
//! message), [`sync`] (joining, catching up, older pages), [`stream`]
//! (applying every kind of room entry), [`conversation`] (`/msg`,
//! `/query` and conversations that start elsewhere), [`marks`] (read
//! markers shared with the server, `rooms mine`, typing),
//! [`network`] (socket events and server frames) and [`clock`] (ticks).
//!
//! # Reconnection without loss or duplication
//! - Each room remembers `last_seen`, the newest entry id shown (a message
//!   or a room change). After a `welcome` every room we are in is joined
//!   again with `since = last_seen` (with `limit` 500) and, while `more`,
//!   paged on with `history` `after`. Live entries that arrive during that
//!   paging are held back and shown after it, so ids are absorbed in order.
//! - Any entry whose id is at or below `last_seen` is a duplicate and is
//!   dropped.
//! - Typed lines (and any other request that makes an entry) go to the
//!   outbox with a `ref` unique to this installation, and the state with
//!   the outbox is put on disk ([`Effect::SaveStateDurably`]) before the
//!   request is first sent. A line is drawn dimmed until the server's copy
//!   with its `ref` comes back (sent only after the server stored it);
//!   only then does it leave the outbox. Requests of a room are sent only
//!   while that room is caught up, so after a reconnect or a restart they
//!   go out after the missed messages, in the order made, with their
//!   original `ref`.
//! - A request can be stored while its acknowledgement is lost with the
//!   socket (or the client dies). It is then sent again with the same
//!   `ref`, and the server, which keeps the `ref` with the entry, answers
//!   with the stored entry instead of storing it again; that copy's id is
//!   not newer than what catch-up already showed, so it is not shown twice.

mod clock;
mod commands;
mod conversation;
mod fix;
mod input;
mod keys;
mod manage;
mod marks;
mod mouse;
mod network;
mod outbox;
mod rooms;
mod search;
mod stream;
mod sync;

use std::time::Duration;

use chat_proto::ClientFrame;
use chat_proto::limits::MAX_HISTORY_LIMIT;

use crate::action::Action;
use crate::app::{App, Entry, Level, Mode, Size};
use crate::state::SavedState;

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
    /// Write the state file when convenient (the newest state wins).
    SaveState(SavedState),
    /// Write the state file and wait until it is on disk before performing
    /// the next effect: the outbox gained a request that is about to be
    /// sent, and a client killed after sending must find it there.
    SaveStateDurably(SavedState),
    /// Connect now.
    Reconnect,
    /// Stop retrying until `Reconnect` (the login was refused).
    HoldConnection,
    /// Repaint the whole terminal.
    ClearScreen,
    /// Suspend the screen and compose the input in `$VISUAL` / `$EDITOR`,
    /// starting from this text; the outcome comes back as
    /// [`Action::Edited`].
    Edit(String),
    /// Ring the bell and/or show a desktop notification: written to the
    /// terminal as it is.
    Notify(crate::notify::Notification),
    Quit,
}

/// Applies one action.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    let mut fx = Vec::new();
    let input_before = app.send_typing.then(|| app.input.text().to_owned());
    apply(app, action, &mut fx);
    if let Some(before) = input_before {
        marks::typed_in_input(app, &before, &mut fx);
    }
    marks::send_read(app, &mut fx);
    marks::announce(app, &mut fx);
    fx
}

/// What one action changes, before the checks every update ends with.
fn apply(app: &mut App, action: Action, fx: &mut Vec<Effect>) {
    match action {
        Action::Key(key) => {
            app.needs_redraw = true;
            keys::on_key(app, key, fx);
        }
        Action::Typed(text) => {
            app.needs_redraw = true;
            typed(app, &text, fx);
        }
        Action::Paste(text) => {
            app.needs_redraw = true;
            input::on_paste(app, &text);
        }
        Action::Resize { width, height } => {
            app.needs_redraw = true;
            app.size = Size { width, height };
        }
        Action::Net(event) => {
            app.needs_redraw = true;
            network::on_net(app, event, fx);
        }
        Action::Mouse(event) => mouse::on_mouse(app, event, fx),
        Action::Edited(outcome) => {
            app.needs_redraw = true;
            input::on_edited(app, outcome);
        }
        Action::Tick => clock::on_tick(app, fx),
        Action::Terminate => quit(app, fx),
    }
}

/// Characters typed in a burst, to whatever has the keyboard.
fn typed(app: &mut App, text: &str, fx: &mut Vec<Effect>) {
    match app.mode {
        Mode::Confirm(_) => manage::answer_typed(app, text, fx),
        Mode::Pick(_) | Mode::React(_) => fix::pick_typed(app, text, fx),
        Mode::Search(_) => search::search_typed(app, text),
        _ => input::on_typed(app, text),
    }
}

fn quit(app: &mut App, fx: &mut Vec<Effect>) {
    fx.push(Effect::SaveState(app.saved_state()));
    fx.push(Effect::Quit);
}

/// Appends an entry to a room. A scrolled-up view stays where it is: its
/// anchor is in the entries above.
fn push_entry(app: &mut App, index: usize, entry: Entry) {
    app.rooms[index].entries.push(entry);
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
