//! Socket events from the network task and the frames the server sends.

use std::time::Duration;

use chat_proto::{ClientFrame, Entry as StreamEntry, ErrorCode, RoomInfo, ServerFrame};

use super::commands::room_deleted;
use super::stream::on_live;
use super::sync::{Joined, on_history, on_joined, send_join};
use super::{Effect, RESEND_DELAY, notice, push_entry};
use crate::app::{
    App, ConnState, Entry, InputLine, Level, Membership, Mode, Older, Pending, RoomBrowser,
    RoomSync,
};
use crate::net::NetEvent;

pub(super) fn on_net(app: &mut App, event: NetEvent, fx: &mut Vec<Effect>) {
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
        NetEvent::Frame(frame) => {
            on_frame(app, frame, fx);
            // A joined room or a page may hold the message a search jump
            // waits for.
            super::search::after_page(app, fx);
        }
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
        let next = match retry_in {
            Some(delay) => format!("retrying in {} s", whole_seconds(delay)),
            None => "not retrying until a password is given".to_owned(),
        };
        notice(
            app,
            &format!("Disconnected: {reason}; {next}."),
            Level::Info,
        );
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

/// A delay as whole seconds, rounded up: "in 0 s" would read as a
/// promise already broken.
fn whole_seconds(delay: Duration) -> u128 {
    delay.as_millis().div_ceil(1000).max(1)
}

fn on_frame(app: &mut App, frame: ServerFrame, fx: &mut Vec<Effect>) {
    let frame = match StreamEntry::try_from(frame) {
        Ok(entry) => return on_live(app, entry, fx),
        Err(frame) => frame,
    };
    match frame {
        ServerFrame::Welcome {
            user,
            guest,
            registered,
            server,
            protocol,
            admin,
        } => {
            app.protocol = protocol;
            app.admin = admin;
            on_welcome(app, user, guest, registered, &server, fx);
        }
        ServerFrame::Joined {
            room,
            members,
            history,
            more,
            last_id,
            details,
        } => {
            let joined = Joined {
                members,
                history,
                more,
                last_id,
                details,
            };
            on_joined(app, &room, joined, fx);
        }
        ServerFrame::History {
            room,
            messages,
            more,
        } => on_history(app, &room, messages, more, fx),
        search @ ServerFrame::Search { .. } => super::search::on_results(app, search),
        ServerFrame::Join { room, user, ts } => on_presence(app, &room, user, ts, true),
        ServerFrame::Leave { room, user, ts } => on_presence(app, &room, user, ts, false),
        ServerFrame::Rooms { rooms, mine, .. } if mine => {
            super::marks::on_rooms_mine(app, rooms, fx)
        }
        ServerFrame::Rooms { rooms, .. } => on_rooms(app, rooms),
        ServerFrame::Typing { room, user } => super::marks::on_typing(app, &room, &user),
        ServerFrame::Read { room, id } => super::marks::on_read(app, &room, id),
        ServerFrame::RoomDeleted { room, user, .. } => room_deleted(app, &room, &user),
        // A refused `read` is no news for the user.
        ServerFrame::Error {
            code, reference, ..
        } if super::marks::read_refused(app, code, reference.as_deref()) => {}
        ServerFrame::Error {
            code,
            message,
            reference,
            ..
        } => on_error(app, code, &message, reference, fx),
        // Entries came out above; protocol-2 frames this client does not
        // show yet (a protocol-1 server sends none of them).
        _ => {}
    }
}

/// Presence: `user` came into (`joined`) or left `room`.
fn on_presence(app: &mut App, room: &str, user: String, ts: i64, joined: bool) {
    let Some(index) = app.room_index(room) else {
        return;
    };
    if joined {
        app.rooms[index].members.insert(user.clone());
        if user != app.user {
            push_entry(app, index, Entry::Join { user, ts });
        }
    } else if user != app.user {
        // Our own leave is the confirmation of /leave; the room is gone
        // from the list already.
        app.rooms[index].members.remove(&user);
        // Gone, so no longer typing here.
        app.rooms[index].typing.stop(&user);
        push_entry(app, index, Entry::Leave { user, ts });
    }
}

/// Logged in: say so once (or that we are back), then join every room.
fn on_welcome(
    app: &mut App,
    user: String,
    guest: bool,
    registered: bool,
    server: &str,
    fx: &mut Vec<Effect>,
) {
    let Some(epoch) = app.conn.epoch() else {
        return;
    };
    app.conn = ConnState::Online { epoch, guest };
    app.reads_unserved = false;
    app.last_failure = None;
    app.last_refusal = None;
    let text = if app.ever_online {
        "Reconnected.".to_owned()
    } else {
        let mut text = format!("Connected to {} as {user}", crate::sanitize::inert(server));
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
    if app.protocol >= 2 && !guest {
        // Asked first, so its counts are in before the catch-up pages.
        fx.push(Effect::Send(ClientFrame::Rooms {
            mine: true,
            query: None,
            limit: None,
            after: None,
        }));
    }
    for index in 0..app.rooms.len() {
        if app.rooms[index].is_member() {
            send_join(app, index, fx);
        }
    }
}

/// The server's rooms: opens the browser if `/rooms` asked for them.
fn on_rooms(app: &mut App, mut rooms: Vec<RoomInfo>) {
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
            // guest may leave); say so once, not on every retry. A password
            // is no way out: the server refuses to register or log in a
            // name while a live guest holds it.
            let text = format!(
                "The name {} is in use by another guest; retrying until it is free. To use another name now, /quit and start again with a different --user.",
                app.user
            );
            if app.last_refusal.as_deref() != Some(text.as_str()) {
                notice(app, &text, Level::Error);
            }
            app.last_refusal = Some(text);
            app.refused = true;
            return;
        }
        ErrorCode::Forbidden if reference.is_none() && join_refused(app, &text) => return,
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
                app.state_dirty = true;
                let line = refusal(&p, &text);
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

/// The line that says an outbox line or request was refused, and why.
fn refusal(pending: &Pending, why: &str) -> String {
    match pending.text() {
        Some(_) => format!(
            "Not sent to #{} ({why}): {}",
            pending.room,
            pending.describe()
        ),
        None => format!("#{}: {} refused: {why}", pending.room, pending.describe()),
    }
}

/// A `forbidden` without `ref` while a room is joining: the server refused
/// the `join` (a ban, a private room). The server answers a socket's
/// requests in order, so it is the room whose join went out first, which
/// is the first one still joining. That room is marked as left with the
/// reason instead of waiting forever; returns whether there was one.
fn join_refused(app: &mut App, why: &str) -> bool {
    let Some(index) = app
        .rooms
        .iter()
        .position(|r| matches!(r.sync, RoomSync::Joining { .. }))
    else {
        return false;
    };
    let room = &mut app.rooms[index];
    room.sync = RoomSync::Offline;
    room.membership = Membership::Removed {
        why: format!("the server refused to let you in: {why}"),
    };
    app.state_dirty = true;
    let text = format!("Cannot join #{}: {why}", room.name);
    push_entry(
        app,
        index,
        Entry::Notice {
            text,
            ts: app.now_ms,
            level: Level::Error,
        },
    );
    true
}
