//! State changes: [`update`] turns one [`Action`] into changes to [`App`]
//! and a list of [`Effect`]s (frames to send, state to save, quitting) that
//! the runner performs. Nothing here touches the terminal, the socket, the
//! disk or the clock, and nothing here draws or measures rows (a scrolled
//! view is an anchor in the state, see [`crate::app::scroll`]), so every
//! behaviour is a plain unit test.
//!
//! One module per topic: [`keys`] (what a key does, from
//! [`crate::keymap`]), [`input`] (the input line, the outbox, completion),
//! [`commands`] (`/commands`), [`rooms`] (switching, read marks, paging),
//! [`sync`] (joining, catching up, older pages, absorbing messages),
//! [`network`] (socket events and server frames) and [`clock`] (ticks).
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

mod clock;
mod commands;
mod input;
mod keys;
mod network;
mod rooms;
mod sync;

use std::time::Duration;

use chat_proto::ClientFrame;
use chat_proto::limits::MAX_HISTORY_LIMIT;

use crate::action::Action;
use crate::app::{App, Entry, Level, Size};
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
            keys::on_key(app, key, &mut fx);
        }
        Action::Typed(text) => {
            app.needs_redraw = true;
            input::on_typed(app, &text);
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
            network::on_net(app, event, &mut fx);
        }
        Action::Tick => clock::on_tick(app, &mut fx),
        Action::Terminate => quit(app, &mut fx),
    }
    fx
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
