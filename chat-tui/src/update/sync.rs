//! Keeping a room in step with the server: joining with `since`, paging
//! forward while catching up, fetching older pages, and absorbing each
//! message exactly once.

use chat_proto::{ClientFrame, Message};

use super::input::flush_outbox;
use super::{CATCH_UP_PAGE, Effect, OLDER_PAGE, push_entry};
use crate::app::{App, Entry, Level, Older, Room, RoomSync, mentions};

/// Asks for the page of history before the oldest loaded message.
pub(super) fn request_older(app: &mut App, index: usize, fx: &mut Vec<Effect>) {
    if !app.conn.is_online() {
        return;
    }
    let room = &mut app.rooms[index];
    if room.sync != RoomSync::Live || matches!(room.older, Older::Loading | Older::Exhausted) {
        return;
    }
    let before = match room.oldest_id() {
        Some(id) => id,
        None if room.last_read.max(room.last_seen) > 0 => room.last_read.max(room.last_seen) + 1,
        None => {
            // Nothing loaded and nothing ever read: the room is empty.
            room.older = Older::Exhausted;
            return;
        }
    };
    if before <= 1 {
        room.older = Older::Exhausted;
        return;
    }
    room.older = Older::Loading;
    fx.push(Effect::Send(ClientFrame::History {
        room: room.name.clone(),
        before: Some(before),
        after: None,
        limit: Some(OLDER_PAGE),
    }));
}

pub(super) fn send_join(app: &mut App, index: usize, fx: &mut Vec<Effect>) {
    let room = &mut app.rooms[index];
    let since = room.resume_since();
    room.sync = RoomSync::Joining { since };
    room.held_live.clear();
    fx.push(Effect::Send(ClientFrame::Join {
        room: room.name.clone(),
        since,
        limit: since.map(|_| CATCH_UP_PAGE),
    }));
}

pub(super) fn on_joined(
    app: &mut App,
    name: &str,
    members: Vec<String>,
    history: Vec<Message>,
    more: bool,
    last_id: u64,
    fx: &mut Vec<Effect>,
) {
    let Some(index) = app.room_index(name) else {
        return;
    };
    let room = &mut app.rooms[index];
    let since = match room.sync {
        RoomSync::Joining { since } => since,
        _ => room.resume_since(),
    };
    room.members = members.into_iter().collect();
    if since.is_some_and(|since| last_id < since) {
        // The server's newest id is older than ours: its history was reset
        // (a new database). Our ids mean nothing there; start afresh.
        room.position_known = false;
        room.last_seen = 0;
        room.last_read = 0;
        room.older = Older::Unknown;
        app.state_dirty = true;
        push_entry(
            app,
            index,
            Entry::Notice {
                text: "The server's history of this room was reset; showing it anew.".into(),
                ts: app.now_ms,
                level: Level::Info,
            },
        );
        send_join(app, index, fx);
        return;
    }
    for message in history {
        absorb(app, index, message, true);
    }
    let room = &mut app.rooms[index];
    room.position_known = true;
    if since.is_none() {
        room.older = if more {
            Older::Available
        } else {
            Older::Exhausted
        };
    }
    if since.is_some() && more {
        room.sync = RoomSync::CatchingUp;
        request_catch_up_page(room, fx);
    } else {
        room_live(app, index, fx);
    }
}

/// Asks for the next page of messages after the newest one seen.
pub(super) fn request_catch_up_page(room: &Room, fx: &mut Vec<Effect>) {
    fx.push(Effect::Send(ClientFrame::History {
        room: room.name.clone(),
        before: None,
        after: Some(room.last_seen),
        limit: Some(CATCH_UP_PAGE),
    }));
}

pub(super) fn on_history(
    app: &mut App,
    name: &str,
    messages: Vec<Message>,
    more: bool,
    fx: &mut Vec<Effect>,
) {
    let Some(index) = app.room_index(name) else {
        return;
    };
    let room = &app.rooms[index];
    if room.sync == RoomSync::CatchingUp {
        for message in messages {
            absorb(app, index, message, true);
        }
        let room = &mut app.rooms[index];
        if more {
            request_catch_up_page(room, fx);
        } else {
            room_live(app, index, fx);
        }
    } else if room.older == Older::Loading {
        prepend_older(app, index, messages);
        app.rooms[index].older = if more {
            Older::Available
        } else {
            Older::Exhausted
        };
    } else {
        // Not asked for: keep only what is new.
        for message in messages {
            absorb(app, index, message, false);
        }
    }
}

/// The room is caught up: show what was held back, send its pending lines.
pub(super) fn room_live(app: &mut App, index: usize, fx: &mut Vec<Effect>) {
    let room = &mut app.rooms[index];
    room.sync = RoomSync::Live;
    let held = std::mem::take(&mut room.held_live);
    for message in held {
        absorb(app, index, message, false);
    }
    let name = app.rooms[index].name.clone();
    flush_outbox(app, &name, fx);
    let room = &mut app.rooms[index];
    if room.want_context {
        room.want_context = false;
        let loaded = room
            .entries
            .iter()
            .filter(|e| e.message_id().is_some())
            .count();
        if loaded < OLDER_PAGE as usize {
            request_older(app, index, fx);
        }
    }
}

/// Older history arrived: what is older than every loaded message goes on
/// top, above any notices, since it happened before them.
pub(super) fn prepend_older(app: &mut App, index: usize, messages: Vec<Message>) {
    let room = &mut app.rooms[index];
    let oldest = room.oldest_id();
    let older: Vec<Entry> = messages
        .into_iter()
        .filter(|m| oldest.is_none_or(|oldest| m.id < oldest))
        .map(Entry::Message)
        .collect();
    if oldest.is_none() {
        // Nothing was loaded: this page is also the newest we have seen.
        let newest = older.iter().filter_map(Entry::message_id).max();
        room.last_seen = room.last_seen.max(newest.unwrap_or(0));
        room.position_known = true;
    }
    room.scroll = room.scroll.entries_prepended(older.len());
    room.entries.splice(0..0, older);
}

/// Shows one message from the server unless it is a duplicate, counting
/// it as unread (and maybe a mention) outside the current room. During a
/// catch-up (`catching_up`), an own message without `ref` may be the stored
/// copy of an outbox line whose acknowledgement was lost.
pub(super) fn absorb(app: &mut App, index: usize, message: Message, catching_up: bool) {
    if catching_up && message.user == app.user && message.reference.is_none() {
        app.outbox.take_stored_copy(&message.room, &message.text);
    }
    let is_current = index == app.current;
    let me = app.user.clone();
    let room = &mut app.rooms[index];
    if message.id <= room.last_seen {
        return;
    }
    room.last_seen = message.id;
    if message.id > room.last_read {
        if is_current {
            room.last_read = message.id;
            app.state_dirty = true;
        } else if message.user != me {
            room.unread += 1;
            if mentions(&message.text, &me) {
                room.mentioned = true;
            }
        }
    }
    push_entry(app, index, Entry::Message(message));
}
