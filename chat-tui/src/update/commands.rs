//! `/commands`, looked up in [`crate::keymap::COMMANDS`].

use chat_proto::{ClientFrame, RoomName};

use super::rooms::{mark_read, switch_to};
use super::sync::send_join;
use super::{Effect, notice, quit};
use crate::app::{App, ConnState, HelpView, InputLine, Level, Mode, Room};
use crate::keymap::{self, SlashCommand};

pub(super) fn run_command(app: &mut App, command: &str, fx: &mut Vec<Effect>) {
    let command = command.trim();
    let (name, arg) = match command.split_once(char::is_whitespace) {
        Some((name, arg)) => (name, arg.trim()),
        None => (command, ""),
    };
    match keymap::command_named(name) {
        Some(SlashCommand::Join) if arg.is_empty() => {
            notice(app, "Usage: /join ROOM", Level::Error);
        }
        Some(SlashCommand::Join) => join_room(app, arg, fx),
        Some(SlashCommand::Leave) => leave_room(app, arg, fx),
        Some(SlashCommand::Rooms) => {
            if app.conn.is_online() {
                app.awaiting_rooms = true;
                fx.push(Effect::Send(ClientFrame::rooms()));
            } else {
                notice(app, "Not connected: /rooms needs the server.", Level::Error);
            }
        }
        Some(SlashCommand::Who) => who(app),
        Some(SlashCommand::Help) => {
            app.help = HelpView::default();
            app.mode = Mode::Help;
        }
        Some(SlashCommand::Quit) => quit(app, fx),
        Some(SlashCommand::Connect) => connect(app, fx),
        None if name.is_empty() => {
            notice(app, "Type /help for the list of commands.", Level::Info);
        }
        None => notice(
            app,
            &format!(
                "Unknown command /{}. /help lists the commands.",
                name.to_ascii_lowercase()
            ),
            Level::Error,
        ),
    }
}

/// `/connect`: the password prompt when one is needed, else a reconnect.
fn connect(app: &mut App, fx: &mut Vec<Effect>) {
    match app.conn {
        ConnState::NeedPassword { .. } => app.mode = Mode::Password(InputLine::default()),
        ConnState::Online { .. } => notice(app, "Already connected.", Level::Info),
        _ => {
            app.conn = ConnState::Connecting;
            fx.push(Effect::Reconnect);
        }
    }
}

pub(super) fn join_room(app: &mut App, raw: &str, fx: &mut Vec<Effect>) {
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
    app.rooms.push(Room::new(name));
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
