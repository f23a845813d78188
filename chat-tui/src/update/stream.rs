//! The room stream: every entry kind, live or in a page, applied once and
//! in id order. A message becomes a line; an edit, deletion or reaction
//! changes the message it targets; a topic, role, kick, ban, unban, invite
//! or settings entry becomes a dim line and changes the room's details.
//! Live entries also act on us: a kick or ban of this user puts the room
//! out of reach, an invitation adds the room to the list.

use chat_proto::{Admittance, Entry as StreamEntry, Message, Role, RoleChange};

use super::commands::drop_outbox_lines;
use super::outbox::acknowledge;
use super::{Effect, notice, push_entry};
use crate::app::{Alert, App, Entry, Level, Membership, Room, RoomSync, apply_fix, mentions};

/// Where an entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    /// A live frame (or one held back while catching up).
    Live,
    /// A page asked for while catching up.
    CatchUp,
    /// A page nobody asked for: only what is new is kept.
    Page,
}

/// A live entry: an acknowledgement if it carries one of our refs, an
/// invitation for us, held back while its room is catching up, else shown.
pub(super) fn on_live(app: &mut App, entry: StreamEntry, fx: &mut Vec<Effect>) {
    if let Some(reference) = entry.reference() {
        acknowledge(app, reference);
    }
    if let StreamEntry::Invite(invite) = &entry
        && invite.subject == app.user
        && !app
            .room_index(&invite.room)
            .is_some_and(|i| app.rooms[i].is_member())
    {
        invited(app, invite);
        return;
    }
    if entry.room().starts_with('@') && super::conversation::arrived(app, &entry, fx) {
        return;
    }
    let Some(index) = app.room_index(entry.room()) else {
        return;
    };
    let room = &mut app.rooms[index];
    if !room.is_member() {
        return;
    }
    match room.sync {
        RoomSync::Joining { .. } | RoomSync::CatchingUp => room.held_live.push(entry),
        RoomSync::Live | RoomSync::Offline => absorb(app, index, entry, Via::Live),
    }
}

/// Applies one entry unless it is a duplicate (its id is not newer than
/// the newest shown).
pub(super) fn absorb(app: &mut App, index: usize, entry: StreamEntry, via: Via) {
    let is_current = index == app.current;
    let room = &mut app.rooms[index];
    let id = entry.id();
    if id <= room.last_seen {
        return;
    }
    room.last_seen = id;
    if is_current && id > room.last_read {
        room.last_read = id;
        app.state_dirty = true;
    }
    match entry {
        StreamEntry::Message(message) => absorb_message(app, index, message, via),
        fix @ (StreamEntry::Edit(_)
        | StreamEntry::Delete(_)
        | StreamEntry::React(_)
        | StreamEntry::Unreact(_)) => absorb_fix(room, fix),
        change => absorb_change(app, index, change, via),
    }
}

/// Counts a message as unread (and maybe a mention) outside the current
/// room, announces a live mention or conversation message there, and
/// shows it. Its author is no longer typing.
fn absorb_message(app: &mut App, index: usize, message: Message, via: Via) {
    let is_current = index == app.current;
    let me = app.user.clone();
    let room = &mut app.rooms[index];
    room.typing.stop(&message.user);
    if !is_current && message.user != me && message.id > room.last_read {
        if message.id > room.unread_counted_to {
            room.unread += 1;
        }
        // A conversation message is always meant for us.
        if room.is_conversation() || mentions(&message.text, &me) {
            room.mentioned = true;
            if via == Via::Live {
                let place = match room.is_conversation() {
                    true => room.label(&me),
                    false => format!("#{}", room.name),
                };
                app.alerts.push(Alert {
                    place,
                    from: message.user.clone(),
                    text: message.text.clone(),
                });
            }
        }
    }
    push_entry(app, index, Entry::Message(message));
}

/// An edit, deletion or reaction: changes its message in place, or is
/// kept for when a page brings the message, if it is not loaded.
fn absorb_fix(room: &mut Room, fix: StreamEntry) {
    let Some(target) = fix.target() else {
        return;
    };
    match room.message_mut(target) {
        Some(message) => apply_fix(message, &fix),
        None => room.keep_unplaced(fix),
    }
}

/// A topic, role, kick, ban, unban, invite or settings entry: the room's
/// details follow it, a line shows it, and a live kick or ban of this user
/// puts the room out of reach.
fn absorb_change(app: &mut App, index: usize, change: StreamEntry, via: Via) {
    let me = app.user.clone();
    let room = &mut app.rooms[index];
    if let Some(details) = &mut room.details {
        match &change {
            StreamEntry::Topic(t) => details.topic = t.topic.clone(),
            StreamEntry::Settings(s) => details.private = s.private,
            StreamEntry::Role(r) => apply_role(details, r, &me),
            _ => {}
        }
    }
    let removal = match via {
        Via::Live => removal_of(&change, &me),
        Via::CatchUp | Via::Page => None,
    };
    push_entry(app, index, Entry::Change(change));
    if let Some(why) = removal {
        put_out(app, index, why);
    }
}

/// Why we are out, when `entry` kicks or bans `me`.
fn removal_of(entry: &StreamEntry, me: &str) -> Option<String> {
    match entry {
        StreamEntry::Kick(k) | StreamEntry::Ban(k) if k.subject == me => {
            Some(crate::ui::change::describe(entry, me))
        }
        _ => None,
    }
}

/// Shows what arrived live while the room was catching up; returns
/// whether we are still in the room. A kick or ban of us among it puts us
/// out even when a catch-up page showed the same entry first (a page
/// cannot tell an old kick from one that holds now; a live one can).
pub(super) fn absorb_held(app: &mut App, index: usize) -> bool {
    let held = std::mem::take(&mut app.rooms[index].held_live);
    let me = app.user.clone();
    let removal = held.iter().find_map(|e| removal_of(e, &me));
    for entry in held {
        absorb(app, index, entry, Via::Live);
    }
    if let Some(why) = removal
        && app.rooms[index].is_member()
    {
        put_out(app, index, why);
    }
    app.rooms[index].is_member()
}

/// A role entry: `owner` hands the room over (the old owner becomes an op).
fn apply_role(details: &mut chat_proto::RoomDetails, change: &RoleChange, me: &str) {
    let subject = &change.subject;
    details.ops.retain(|op| op != subject);
    match change.role {
        Role::Op => details.ops.push(subject.clone()),
        Role::Member => {}
        Role::Owner => {
            if let Some(old) = details.owner.replace(subject.clone())
                && old != *subject
            {
                if old == me {
                    details.role = Role::Op;
                }
                details.ops.push(old);
            }
        }
    }
    if subject == me {
        details.role = change.role;
    }
}

/// We were kicked or banned: the room stays in the list, marked as left
/// with why, and its unsent lines are dropped.
fn put_out(app: &mut App, index: usize, why: String) {
    let room = &mut app.rooms[index];
    room.membership = Membership::Removed { why };
    room.sync = RoomSync::Offline;
    room.members.clear();
    room.held_live.clear();
    let name = room.name.clone();
    app.state_dirty = true;
    let dropped = drop_outbox_lines(app, &name);
    if dropped > 0 {
        push_entry(
            app,
            index,
            Entry::Notice {
                text: format!("{dropped} unsent line(s) to #{name} were discarded."),
                ts: app.now_ms,
                level: Level::Info,
            },
        );
    }
}

/// An invitation to a room we are not in: said in the current room, and
/// the room joins the list, to be joined on Enter.
fn invited(app: &mut App, invite: &Admittance) {
    let by = crate::sanitize::inert(&invite.user);
    let index = match app.room_index(&invite.room) {
        Some(index) => index,
        None => {
            app.rooms.push(Room::new(invite.room.clone()));
            app.rooms.len() - 1
        }
    };
    let place = match index {
        0..=8 => format!(" (Alt-{})", index + 1),
        _ => String::new(),
    };
    let text = format!(
        "{by} invited you to #{}: it is in the room list{place}; Enter there joins it.",
        invite.room
    );
    let room = &mut app.rooms[index];
    room.membership = Membership::Invited {
        by: invite.user.clone(),
    };
    notice(app, &text, Level::Info);
}
