//! Direct conversations: `/msg NAME [TEXT]` and `/query NAME` open the
//! conversation `@me+name` (its canonical name, which the server answers
//! with too), a conversation message that arrives for one not in the list
//! adds it, and every conversation sits in its own group at the top of
//! the room list.

use chat_proto::{ConversationName, Entry as StreamEntry, UserName};

use super::input::send_line;
use super::rooms::switch_to;
use super::stream::{Via, absorb};
use super::sync::send_join;
use super::{Effect, notice};
use crate::app::{App, Entry, Level, Membership, Room, RoomSync};

/// Adds a room to the list: a conversation at the end of the
/// conversations' group at the top, any other room at the end. The
/// current room stays the current one; returns the new room's index.
pub(super) fn insert_room(app: &mut App, room: Room) -> usize {
    let index = if room.is_conversation() {
        app.rooms.iter().take_while(|r| r.is_conversation()).count()
    } else {
        app.rooms.len()
    };
    if index <= app.current && !app.rooms.is_empty() {
        app.current += 1;
    }
    app.rooms.insert(index, room);
    index
}

/// The canonical conversation with `partner` (`bob`, `@bob`,
/// `@alice+bob`), or why there is none.
fn conversation_with(app: &App, partner: &str) -> Result<String, String> {
    if app.conn.is_online() && app.protocol < 2 {
        return Err("this server has no conversations (it speaks protocol 1)".into());
    }
    if app.conn.is_guest() {
        return Err("conversations are for registered users; log in with a password".into());
    }
    let me = UserName::parse(&app.user).map_err(|e| e.to_string())?;
    // `bob`, `@bob`, or a whole name such as `@alice+bob`.
    let raw = format!("@{}", partner.trim_start_matches('@'));
    let conversation = ConversationName::parse(&raw, &me).map_err(|e| e.to_string())?;
    if !conversation.includes(&me) {
        return Err(format!("{conversation} is not yours"));
    }
    Ok(conversation.as_str().to_owned())
}

/// `/query NAME` (and `/msg NAME` without text): opens the conversation
/// with NAME and switches to it; `/msg NAME TEXT` also sends TEXT there.
pub(super) fn open(app: &mut App, arg: &str, with_text: bool, fx: &mut Vec<Effect>) {
    let (partner, text) = match arg.split_once(char::is_whitespace) {
        Some((partner, text)) => (partner, text.trim()),
        None => (arg, ""),
    };
    if partner.is_empty() {
        let usage = if with_text {
            "Usage: /msg NAME [TEXT]"
        } else {
            "Usage: /query NAME"
        };
        notice(app, usage, Level::Error);
        return;
    }
    let name = match conversation_with(app, partner) {
        Ok(name) => name,
        Err(why) => {
            notice(
                app,
                &format!("No conversation with {partner}: {why}."),
                Level::Error,
            );
            return;
        }
    };
    let index = match app.room_index(&name) {
        Some(index) => index,
        None => insert_room(app, Room::new(name)),
    };
    switch_to(app, index);
    let room = &mut app.rooms[index];
    let join = room.membership != Membership::Member || room.sync == RoomSync::Offline;
    room.membership = Membership::Member;
    if join && app.conn.is_online() {
        send_join(app, index, fx);
    }
    fx.push(Effect::SaveState(app.saved_state()));
    if with_text && !text.is_empty() {
        send_line(app, text, fx);
    }
}

/// A live entry of a conversation of ours that is not in the list (it was
/// started on another device or by the other user, or we had left it):
/// the conversation joins the list, the entry is shown (and counted and
/// announced), and the conversation is joined from there, with a page of
/// what came before. Returns whether the entry was taken.
pub(super) fn arrived(app: &mut App, entry: &StreamEntry, fx: &mut Vec<Effect>) -> bool {
    let name = entry.room();
    let Ok(me) = UserName::parse(&app.user) else {
        return false;
    };
    let Ok(conversation) = ConversationName::parse(name, &me) else {
        return false;
    };
    if conversation.as_str() != name || !conversation.includes(&me) {
        return false;
    }
    let index = match app.room_index(name) {
        Some(index) if app.rooms[index].is_member() => return false,
        Some(index) => {
            app.rooms[index].membership = Membership::Member;
            index
        }
        None => insert_room(app, Room::new(name)),
    };
    app.state_dirty = true;
    absorb(app, index, entry.clone(), Via::Live);
    // Joined from this entry on; what came before is a page of context.
    let room = &mut app.rooms[index];
    room.position_known = true;
    room.want_context = true;
    if app.conn.is_online() && room.sync == RoomSync::Offline {
        send_join(app, index, fx);
    }
    true
}

/// The names `/msg` and `/query` complete to: everyone in or speaking in
/// any room in the list, and the partners of open conversations, but us.
pub(super) fn partner_candidates(app: &App) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let me = app.user.to_ascii_lowercase();
    for room in &app.rooms {
        let label = room.label(&app.user);
        let partner = room
            .is_conversation()
            .then(|| label.trim_start_matches('@').to_owned());
        let speakers = room.entries.iter().filter_map(|e| match e {
            Entry::Message(m) => Some(m.user.clone()),
            _ => None,
        });
        for name in partner
            .into_iter()
            .chain(room.members.iter().cloned())
            .chain(speakers)
        {
            if name.to_ascii_lowercase() != me
                && !names.iter().any(|n| n.eq_ignore_ascii_case(&name))
            {
                names.push(name);
            }
        }
    }
    names.sort_by_key(|n| n.to_ascii_lowercase());
    names
}
