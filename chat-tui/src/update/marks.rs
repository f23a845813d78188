//! What the server keeps for us across devices and what we tell the
//! room as we go: read markers (`read` both ways, `rooms mine` with the
//! server's unread counts), our own `typing`, and the announcements of
//! mentions and conversation messages.

use chat_proto::{ClientFrame, ErrorCode, RoomInfo};

use super::Effect;
use super::conversation::insert_room;
use super::sync::send_join;
use crate::app::{App, Entry, Mode, Room, RoomSync, Scroll, TYPING_SEND_INTERVAL};
use crate::notify::{Desktop, Notification};

/// The `ref` every `read` carries: a `read` has no answer but an error,
/// and this tells that error from the others.
pub(super) const READ_REF: &str = "read-marker";

/// The answer to `rooms mine`: every room and conversation the server
/// remembers for us, with where we stopped reading. Rooms not in the list
/// yet join it (and are joined from the marker); each room's count is the
/// server's `last_id - read_id`, which catching up does not add to.
pub(super) fn on_rooms_mine(app: &mut App, rooms: Vec<RoomInfo>, fx: &mut Vec<Effect>) {
    for info in rooms {
        let read_id = info.read_id.unwrap_or(0);
        let index = match app.room_index(&info.name) {
            Some(index) => index,
            None => {
                let mut room = Room::new(info.name.clone());
                room.last_read = read_id;
                room.want_context = read_id > 0;
                let index = insert_room(app, room);
                if app.conn.is_online() {
                    send_join(app, index, fx);
                }
                app.state_dirty = true;
                index
            }
        };
        let is_current = index == app.current;
        let room = &mut app.rooms[index];
        if !room.is_member() {
            continue;
        }
        if read_id > room.last_read {
            room.last_read = read_id;
            app.state_dirty = true;
        }
        room.read_sent = room.read_sent.max(read_id);
        room.unread_counted_to = room.unread_counted_to.max(info.last_id);
        if !is_current {
            let unread = info.last_id.saturating_sub(room.last_read);
            room.unread = u32::try_from(unread).unwrap_or(u32::MAX);
            if room.is_conversation() && unread > 0 {
                room.mentioned = true;
            }
        }
    }
}

/// Another device of ours read `room` up to `id`: the marker follows, and
/// what is unread below it is read.
pub(super) fn on_read(app: &mut App, name: &str, id: u64) {
    let Some(index) = app.room_index(name) else {
        return;
    };
    let me = app.user.clone();
    let room = &mut app.rooms[index];
    room.read_sent = room.read_sent.max(id);
    if id <= room.last_read {
        return;
    }
    room.last_read = id;
    app.state_dirty = true;
    if id >= room.last_seen.max(room.unread_counted_to) {
        room.unread = 0;
        room.mentioned = false;
    } else {
        let still = room
            .entries
            .iter()
            .filter(|e| matches!(e, Entry::Message(m) if m.id > id && m.user != me))
            .count();
        room.unread = u32::try_from(still).unwrap_or(u32::MAX);
        room.mentioned = room.mentioned && room.unread > 0;
    }
}

/// An error answering one of our `read`s: a server that does not serve
/// them (`unknown_type`) gets no more; any other refusal (the room just
/// left, say) is not worth a line. Returns whether the error was a read's.
pub(super) fn read_refused(app: &mut App, code: ErrorCode, reference: Option<&str>) -> bool {
    if reference != Some(READ_REF) {
        return false;
    }
    if code == ErrorCode::UnknownType {
        app.reads_unserved = true;
    }
    true
}

/// `user` is typing in `room`: shown for a while, unless it is us.
pub(super) fn on_typing(app: &mut App, room: &str, user: &str) {
    if user != app.user
        && let Some(index) = app.room_index(room)
    {
        app.rooms[index].typing.renew(user, app.now);
    }
}

/// The current room was read further than the server knows: one `read`
/// with the newest entry there (protocol 2, once the room is live), while
/// the pane shows the newest lines; scrolled up, the newest are not in
/// view, and the `read` waits until they are.
pub(super) fn send_read(app: &mut App, fx: &mut Vec<Effect>) {
    if app.protocol < 2 || !app.conn.is_online() || app.reads_unserved {
        return;
    }
    let current = app.current;
    let Some(room) = app.rooms.get_mut(current) else {
        return;
    };
    if room.sync != RoomSync::Live
        || !room.is_member()
        || room.scroll != Scroll::Bottom
        || room.last_read <= room.read_sent
    {
        return;
    }
    room.read_sent = room.last_read;
    fx.push(Effect::Send(ClientFrame::Read {
        room: room.name.clone(),
        id: room.last_read,
        reference: Some(READ_REF.to_owned()),
    }));
}

/// The input changed while `send_typing` is on: tells the current room,
/// at most once per [`TYPING_SEND_INTERVAL`], unless the line is a
/// command or empty.
pub(super) fn typed_in_input(app: &mut App, before: &str, fx: &mut Vec<Effect>) {
    let text = app.input.text();
    if app.mode != Mode::Normal
        || text == before
        || text.trim().is_empty()
        || text.starts_with('/')
        || app.protocol < 2
        || !app.conn.is_online()
    {
        return;
    }
    let now = app.now;
    let current = app.current;
    let Some(room) = app.rooms.get_mut(current) else {
        return;
    };
    if room.sync != RoomSync::Live
        || !room.is_member()
        || room
            .typing_sent
            .is_some_and(|at| now.duration_since(at) < TYPING_SEND_INTERVAL)
    {
        return;
    }
    room.typing_sent = Some(now);
    fx.push(Effect::Send(ClientFrame::Typing {
        room: room.name.clone(),
        reference: None,
    }));
}

/// The mentions and conversation messages this update brought, as one
/// announcement (several at once ring once), when the config wants any.
pub(super) fn announce(app: &mut App, fx: &mut Vec<Effect>) {
    let alerts = std::mem::take(&mut app.alerts);
    let settings = app.notify;
    let Some(last) = alerts.last() else {
        return;
    };
    if !settings.bell && !settings.desktop {
        return;
    }
    let desktop = settings.desktop.then(|| Desktop {
        title: match alerts.len() {
            1 => format!("{} in {}", last.from, last.place),
            n => format!("{} in {} (and {} more)", last.from, last.place, n - 1),
        },
        body: last.text.clone(),
    });
    fx.push(Effect::Notify(Notification {
        bell: settings.bell,
        desktop,
    }));
}
