//! `/commands`, looked up in [`crate::keymap::COMMANDS`], and taking a
//! room off the list (`/leave`, a deleted room). The room-management
//! commands are in [`super::manage`].

use chat_proto::{ClientFrame, Role, RoomName};

use super::input::open_editor;
use super::rooms::{mark_read, switch_to};
use super::sync::send_join;
use super::{Effect, manage, notice, quit};
use crate::app::{App, ConnState, HelpView, InputLine, Level, Membership, Mode, Room, Scroll};
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
        Some(SlashCommand::Window) => go_to_window(app, arg),
        Some(SlashCommand::Clear) => clear_pane(app),
        Some(SlashCommand::Editor) => open_editor(app, fx),
        Some(SlashCommand::Rooms) => {
            if app.conn.is_online() {
                app.awaiting_rooms = true;
                fx.push(Effect::Send(ClientFrame::rooms()));
            } else {
                notice(app, "Not connected: /rooms needs the server.", Level::Error);
            }
        }
        Some(SlashCommand::Who) => who(app),
        Some(SlashCommand::Msg) => super::conversation::open(app, arg, true, fx),
        Some(SlashCommand::Query) => super::conversation::open(app, arg, false, fx),
        Some(SlashCommand::Search) if arg.trim().is_empty() => {
            notice(app, "Usage: /search TEXT (or Ctrl-F)", Level::Error);
        }
        Some(SlashCommand::Search) => super::search::open(app, arg, fx),
        Some(SlashCommand::Help) => {
            app.help = HelpView::default();
            app.mode = Mode::Help;
        }
        Some(SlashCommand::Quit) => quit(app, fx),
        Some(SlashCommand::Connect) => connect(app, fx),
        Some(SlashCommand::Me) => super::fix::send_action(app, arg, fx),
        Some(other) => manage::run(app, other, arg, fx),
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

/// `/win N`, `/buffer N`: room N of the list, as Alt-N.
fn go_to_window(app: &mut App, arg: &str) {
    match arg.parse::<usize>() {
        Ok(n) if (1..=app.rooms.len()).contains(&n) => switch_to(app, n - 1),
        Ok(n) => notice(
            app,
            &format!("There is no room {n}: the list has {}.", app.rooms.len()),
            Level::Error,
        ),
        Err(_) => notice(
            app,
            "Usage: /win N (the room's number in the list)",
            Level::Error,
        ),
    }
}

/// `/clear`: the pane starts empty; the history is kept (here and on the
/// server) and what arrives from now on shows as usual.
fn clear_pane(app: &mut App) {
    match app.current_room_mut() {
        Some(room) => {
            room.cleared = room.entries.len();
            room.scroll = Scroll::Bottom;
            room.new_marker = None;
        }
        None => app.status_log.clear(),
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
    if raw.starts_with('@') {
        // `/join @bob` (or `@alice+bob`) is the conversation with bob.
        return super::conversation::open(app, raw, false, fx);
    }
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
        if !app.rooms[index].is_member() {
            rejoin(app, index, fx);
        }
        return;
    }
    let index = super::conversation::insert_room(app, Room::new(name));
    switch_to(app, index);
    if app.conn.is_online() {
        send_join(app, index, fx);
    }
    fx.push(Effect::SaveState(app.saved_state()));
}

/// Back into a room we were put out of or invited to.
fn rejoin(app: &mut App, index: usize, fx: &mut Vec<Effect>) {
    let room = &mut app.rooms[index];
    if matches!(room.membership, Membership::Invited { .. }) && !room.position_known {
        // Only the invitation was shown: its history comes with the join.
        room.entries.clear();
    }
    room.membership = Membership::Member;
    if app.conn.is_online() {
        send_join(app, index, fx);
    }
    fx.push(Effect::SaveState(app.saved_state()));
}

/// Enter on an empty line in a room we are invited to joins it; returns
/// whether it did.
pub(super) fn accept_invitation(app: &mut App, fx: &mut Vec<Effect>) -> bool {
    let current = app.current;
    match app.rooms.get(current).map(|r| &r.membership) {
        Some(Membership::Invited { .. }) => {
            rejoin(app, current, fx);
            true
        }
        _ => false,
    }
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
    if app.conn.is_online() && app.rooms[index].is_member() {
        fx.push(Effect::Send(ClientFrame::Leave {
            room: app.rooms[index].name.clone(),
        }));
    }
    let (room, dropped) = remove_room(app, index);
    let mut text = format!("Left #{}.", room.name);
    if dropped > 0 {
        text.push_str(&format!(" {dropped} unsent line(s) to it were discarded."));
    }
    notice(app, &text, Level::Info);
    fx.push(Effect::SaveState(app.saved_state()));
}

/// Takes a room off the list with its unsent lines; returns it and how
/// many lines were dropped. The current room stays, or becomes a neighbour.
fn remove_room(app: &mut App, index: usize) -> (Room, usize) {
    let room = app.rooms.remove(index);
    let dropped = drop_outbox_lines(app, &room.name);
    if index < app.current || (index == app.current && app.current >= app.rooms.len()) {
        app.current = app.current.saturating_sub(1);
    }
    if !app.rooms.is_empty() {
        let current = app.current;
        mark_read(app, current);
    }
    (room, dropped)
}

/// Drops the outbox's lines and requests for `room`; returns how many.
pub(super) fn drop_outbox_lines(app: &mut App, room: &str) -> usize {
    let before = app.outbox.entries.len();
    app.outbox.entries.retain(|p| p.room != room);
    before - app.outbox.entries.len()
}

/// `room_deleted`: the room leaves the list, and the current room says so.
pub(super) fn room_deleted(app: &mut App, name: &str, by: &str) {
    let Some(index) = app.room_index(name) else {
        return;
    };
    remove_room(app, index);
    app.state_dirty = true;
    let text = if by == app.user {
        format!("You deleted #{name}.")
    } else {
        format!("#{name} was deleted by {}.", crate::sanitize::inert(by))
    };
    notice(app, &text, Level::Info);
}

fn who(app: &mut App) {
    let Some(room) = app.current_room() else {
        notice(app, "You are in no room.", Level::Error);
        return;
    };
    let names = ranked_members(room);
    let text = format!(
        "#{}: {} member{}: {}",
        room.name,
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        names.join(", ")
    );
    notice(app, &text, Level::Info);
}

/// The members, owner (`~`) first, then ops (`@`), then everyone else,
/// each group by name. Without details (protocol 1), just the names.
pub(super) fn ranked_members(room: &Room) -> Vec<String> {
    let rank = |name: &str| match &room.details {
        Some(d) if d.owner.as_deref() == Some(name) => Role::Owner,
        Some(d) if d.ops.iter().any(|op| op == name) => Role::Op,
        _ => Role::Member,
    };
    let mut members: Vec<(Role, &String)> = room.members.iter().map(|m| (rank(m), m)).collect();
    members.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    members
        .into_iter()
        .map(|(role, name)| {
            let mark = match role {
                Role::Owner => "~",
                Role::Op => "@",
                Role::Member => "",
            };
            format!("{mark}{}", crate::sanitize::inert(name))
        })
        .collect()
}
