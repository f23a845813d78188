//! Keeping a room in step with the server: joining with `since`, paging
//! forward while catching up, fetching older pages, and absorbing each
//! entry exactly once (through [`super::stream`]).

use chat_proto::{ClientFrame, Entry as StreamEntry, RoomDetails};

use super::outbox::flush_outbox;
use super::stream::{Via, absorb, absorb_held};
use super::{CATCH_UP_PAGE, Effect, OLDER_PAGE, push_entry};
use crate::app::{App, Entry, Level, Older, Room, RoomSync, apply_fix};

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

/// What `joined` says of a room.
pub(super) struct Joined {
    pub members: Vec<String>,
    pub history: Vec<StreamEntry>,
    pub more: bool,
    pub last_id: u64,
    pub details: Option<RoomDetails>,
}

pub(super) fn on_joined(app: &mut App, name: &str, joined: Joined, fx: &mut Vec<Effect>) {
    let Joined {
        members,
        history,
        more,
        last_id,
        details,
    } = joined;
    let Some(index) = app.room_index(name) else {
        return;
    };
    let room = &mut app.rooms[index];
    if !room.is_member() {
        // Left (kicked) or only invited meanwhile: not ours to show.
        return;
    }
    if let Some(read_id) = details.as_ref().map(|d| d.read_id) {
        // The server's marker is the truth; ours may be behind it.
        room.read_sent = room.read_sent.max(read_id);
        if read_id > room.last_read {
            room.last_read = read_id;
            app.state_dirty = true;
        }
    }
    let room = &mut app.rooms[index];
    room.details = details;
    if index == app.current
        && room.new_marker.is_none()
        && room.last_read > 0
        && last_id > room.last_read
    {
        // Opening the client on a room with unread entries.
        room.new_marker = Some(room.last_read);
    }
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
        // Kept fixes name messages of the old history.
        room.unplaced_fixes.clear();
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
    for entry in in_id_order(history) {
        absorb(app, index, entry, Via::CatchUp);
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
    entries: Vec<StreamEntry>,
    more: bool,
    fx: &mut Vec<Effect>,
) {
    let Some(index) = app.room_index(name) else {
        return;
    };
    let room = &app.rooms[index];
    if !room.is_member() {
        return;
    }
    let entries = in_id_order(entries);
    if room.sync == RoomSync::CatchingUp {
        for entry in entries {
            absorb(app, index, entry, Via::CatchUp);
        }
        let room = &mut app.rooms[index];
        if more {
            request_catch_up_page(room, fx);
        } else {
            room_live(app, index, fx);
        }
    } else if room.older == Older::Loading {
        prepend_older(app, index, entries);
        app.rooms[index].older = if more {
            Older::Available
        } else {
            Older::Exhausted
        };
    } else {
        // Not asked for: keep only what is new.
        for entry in entries {
            absorb(app, index, entry, Via::Page);
        }
    }
}

/// The room is caught up: show what was held back, send its pending lines.
pub(super) fn room_live(app: &mut App, index: usize, fx: &mut Vec<Effect>) {
    app.rooms[index].sync = RoomSync::Live;
    if !absorb_held(app, index) {
        // Kicked in what was held back: nothing more to show or send.
        return;
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

/// A page's entries sorted by id: the contract sends them in id order,
/// and applying them in any other would show an older state last.
fn in_id_order(mut entries: Vec<StreamEntry>) -> Vec<StreamEntry> {
    entries.sort_by_key(StreamEntry::id);
    entries
}

/// Older history arrived: what is older than every loaded entry goes on
/// top, above any notices, since it happened before them. Its messages
/// are already in their page state and the room's details are newer than
/// its changes, so room changes only add their lines, and its edits,
/// deletions and reactions nothing. The fixes of its messages that
/// arrived before it are applied over them in id order: the page may have
/// been built before them, and applying one it holds changes nothing.
pub(super) fn prepend_older(app: &mut App, index: usize, entries: Vec<StreamEntry>) {
    let room = &mut app.rooms[index];
    let oldest = room.oldest_id();
    let mut older: Vec<Entry> = entries
        .into_iter()
        .filter(|e| oldest.is_none_or(|oldest| e.id() < oldest))
        .filter_map(|e| match e {
            StreamEntry::Message(m) => Some(Entry::Message(m)),
            StreamEntry::Edit(_)
            | StreamEntry::Delete(_)
            | StreamEntry::React(_)
            | StreamEntry::Unreact(_) => None,
            change => Some(Entry::Change(change)),
        })
        .collect();
    if oldest.is_none() {
        // Nothing was loaded: this page is also the newest we have seen.
        let newest = older.iter().filter_map(Entry::stream_id).max();
        room.last_seen = room.last_seen.max(newest.unwrap_or(0));
        room.position_known = true;
    }
    room.scroll = room.scroll.entries_prepended(older.len());
    if room.cleared > 0 {
        // Older than what `/clear` hid: hidden too.
        room.cleared += older.len();
    }
    place_fixes(room, &mut older);
    room.entries.splice(0..0, older);
}

/// Applies the kept fixes whose message is among `entries`, and forgets
/// them.
fn place_fixes(room: &mut Room, entries: &mut [Entry]) {
    room.unplaced_fixes.retain(|fix| {
        let message = entries.iter_mut().find_map(|e| match e {
            Entry::Message(m) if Some(m.id) == fix.target() => Some(m),
            _ => None,
        });
        match message {
            Some(message) => {
                apply_fix(message, fix);
                false
            }
            None => true,
        }
    });
}
