//! The room-management commands (`/topic`, `/op`, `/deop`, `/owner`,
//! `/kick`, `/ban`, `/unban`, `/invite`, `/private`, `/delete-room`):
//! checked here, asked about first when they cannot be undone, then queued
//! in the outbox with a `ref` and sent once the room is caught up, like a
//! line. The server's answer is the entry carrying that `ref`, or an
//! `error` whose reason is shown in the room.

use chat_proto::{Role, UserName, validate_reason, validate_topic};

use super::outbox;
use super::{Effect, notice};
use crate::app::{App, Confirm, Entry, Level, Membership, Mode, Room, RoomRequest};
use crate::keymap::{self, SlashCommand};

/// Runs one of the room-management commands in the current room.
pub(super) fn run(app: &mut App, command: SlashCommand, arg: &str, fx: &mut Vec<Effect>) {
    if command == SlashCommand::Topic && arg.is_empty() {
        show_topic(app);
        return;
    }
    let Some(room) = usable_room(app) else {
        return;
    };
    let request = match request_for(command, arg) {
        Ok(request) => request,
        Err(problem) => {
            notice(app, &problem, Level::Error);
            return;
        }
    };
    let question = match &request {
        RoomRequest::Role {
            subject,
            role: Role::Owner,
        } => Some(format!(
            "Hand #{room} over to {subject}? You will be an op there."
        )),
        RoomRequest::DeleteRoom => Some(format!(
            "Delete #{room} with all its history, for everyone?"
        )),
        _ => None,
    };
    match question {
        Some(question) => {
            app.mode = Mode::Confirm(Confirm {
                room,
                request,
                question,
            })
        }
        None => queue(app, &room, request, fx),
    }
}

/// The current room when it can take a request: we are in it and the
/// server speaks protocol 2. Else says why not.
fn usable_room(app: &mut App) -> Option<String> {
    let problem = match app.current_room() {
        None => "You are in no room.".to_owned(),
        Some(room) => match &room.membership {
            Membership::Member if app.protocol == 1 => {
                "This server speaks protocol 1: it has no topics, roles or moderation.".to_owned()
            }
            Membership::Member => return Some(room.name.clone()),
            Membership::Removed { .. } => {
                format!("You are not in #{} any more: /join it first.", room.name)
            }
            Membership::Invited { .. } => {
                format!("You are only invited to #{}: Enter joins it.", room.name)
            }
        },
    };
    notice(app, &problem, Level::Error);
    None
}

/// The request a command asks for, or what is wrong with its arguments.
fn request_for(command: SlashCommand, arg: &str) -> Result<RoomRequest, String> {
    let usage = || {
        let usage = keymap::COMMANDS
            .iter()
            .find(|row| row.command == command)
            .map_or("", |row| row.usage);
        format!("Usage: {usage}")
    };
    let (first, rest) = match arg.split_once(char::is_whitespace) {
        Some((first, rest)) => (first, rest.trim()),
        None => (arg, ""),
    };
    let subject = || -> Result<String, String> {
        if first.is_empty() {
            return Err(usage());
        }
        let name = first.trim_start_matches('@');
        UserName::parse(name)
            .map(UserName::into_string)
            .map_err(|e| format!("{name:?} is no user name: {e}."))
    };
    let alone = |request: RoomRequest| {
        if rest.is_empty() {
            Ok(request)
        } else {
            Err(usage())
        }
    };
    let reason = || -> Result<Option<String>, String> {
        if rest.is_empty() {
            return Ok(None);
        }
        validate_reason(rest).map_err(|e| format!("Not sent: the reason {e}."))?;
        Ok(Some(rest.to_owned()))
    };
    match command {
        SlashCommand::Topic if arg == "--clear" => Ok(RoomRequest::Topic(String::new())),
        SlashCommand::Topic => validate_topic(arg)
            .map(|()| RoomRequest::Topic(arg.to_owned()))
            .map_err(|e| format!("Not sent: the topic {e}.")),
        SlashCommand::Op => role(subject()?, Role::Op).and_then(alone),
        SlashCommand::Deop => role(subject()?, Role::Member).and_then(alone),
        SlashCommand::Owner => role(subject()?, Role::Owner).and_then(alone),
        SlashCommand::Kick => Ok(RoomRequest::Kick {
            subject: subject()?,
            reason: reason()?,
        }),
        SlashCommand::Ban => Ok(RoomRequest::Ban {
            subject: subject()?,
            reason: reason()?,
        }),
        SlashCommand::Unban => alone(RoomRequest::Unban {
            subject: subject()?,
        }),
        SlashCommand::Invite => alone(RoomRequest::Invite {
            subject: subject()?,
        }),
        SlashCommand::Private => match arg.to_ascii_lowercase().as_str() {
            "on" => Ok(RoomRequest::Private(true)),
            "off" => Ok(RoomRequest::Private(false)),
            _ => Err(usage()),
        },
        SlashCommand::DeleteRoom if arg.is_empty() => Ok(RoomRequest::DeleteRoom),
        _ => Err(usage()),
    }
}

fn role(subject: String, role: Role) -> Result<RoomRequest, String> {
    Ok(RoomRequest::Role { subject, role })
}

/// `/topic` alone: the topic as the server last said it.
fn show_topic(app: &mut App) {
    let Some(room) = app.current_room() else {
        notice(app, "You are in no room.", Level::Error);
        return;
    };
    let text = match &room.details {
        None => format!("The server does not say what #{}'s topic is.", room.name),
        Some(d) if d.topic.is_empty() => format!("#{} has no topic.", room.name),
        Some(d) => format!(
            "The topic of #{}: {}",
            room.name,
            crate::sanitize::inert(&d.topic)
        ),
    };
    notice(app, &text, Level::Info);
}

/// Queues a request in the outbox, and sends it now if its room is live.
fn queue(app: &mut App, room: &str, request: RoomRequest, fx: &mut Vec<Effect>) {
    let what = request.describe();
    outbox::queue(app, room, Some(what), |r| request.frame(room, &r), fx);
}

/// The answer to the question asked before a request: `y`
/// queues it, anything else drops it.
pub(super) fn answer(app: &mut App, yes: bool, fx: &mut Vec<Effect>) {
    let Mode::Confirm(confirm) = std::mem::replace(&mut app.mode, Mode::Normal) else {
        return;
    };
    if yes {
        queue(app, &confirm.room, confirm.request, fx);
    } else {
        let text = format!("Not done: {}.", confirm.request.describe());
        notice(app, &text, Level::Info);
    }
}

/// Typed characters while a question is asked: the first one answers it
/// (`y` is yes), the rest go to the input line.
pub(super) fn answer_typed(app: &mut App, text: &str, fx: &mut Vec<Effect>) {
    let mut chars = text.chars();
    let yes = matches!(chars.next(), Some('y' | 'Y'));
    answer(app, yes, fx);
    let rest = chars.as_str();
    if !rest.is_empty() {
        super::input::on_typed(app, rest);
    }
}

/// The names the command in `before` (the line before the word being
/// completed) acts on, when that word is its first argument: members not
/// yet ops for `/op`, the ops for `/deop`, members for `/owner`, `/kick`
/// and `/ban`, the names banned here for `/unban`, and names seen here
/// that are not members for `/invite`. `None`: not such a command.
pub(super) fn subject_candidates(room: &Room, before: &str) -> Option<Vec<String>> {
    let command = before.trim_end().strip_prefix('/')?;
    if command.contains(char::is_whitespace) || !before.ends_with(char::is_whitespace) {
        return None;
    }
    let is_op = |name: &str| {
        room.details
            .as_ref()
            .is_some_and(|d| d.owner.as_deref() == Some(name) || d.ops.iter().any(|op| op == name))
    };
    let members = room.members.iter().cloned();
    let names: Vec<String> = match keymap::command_named(command)? {
        SlashCommand::Op => members.filter(|m| !is_op(m)).collect(),
        SlashCommand::Deop => room.details.as_ref().map(|d| d.ops.clone())?,
        SlashCommand::Owner | SlashCommand::Kick | SlashCommand::Ban => members.collect(),
        SlashCommand::Unban => banned_here(room),
        SlashCommand::Invite => seen_here(room)
            .into_iter()
            .filter(|n| !room.members.contains(n))
            .collect(),
        _ => return None,
    };
    Some(names)
}

/// The names banned in what is loaded of the room and not unbanned since.
fn banned_here(room: &Room) -> Vec<String> {
    let mut banned: Vec<String> = Vec::new();
    for entry in &room.entries {
        match entry {
            Entry::Change(chat_proto::Entry::Ban(ban)) if !banned.contains(&ban.subject) => {
                banned.push(ban.subject.clone());
            }
            Entry::Change(chat_proto::Entry::Unban(unban)) => {
                banned.retain(|b| *b != unban.subject);
            }
            _ => {}
        }
    }
    banned
}

/// Every name in what is loaded of the room, newest first.
fn seen_here(room: &Room) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for entry in room.entries.iter().rev() {
        let names = match entry {
            Entry::Message(m) => vec![m.user.as_str()],
            Entry::Change(change) => vec![Some(change.user()), change.subject()]
                .into_iter()
                .flatten()
                .collect(),
            Entry::Join { user, .. } | Entry::Leave { user, .. } => vec![user.as_str()],
            Entry::Notice { .. } => vec![],
        };
        for name in names {
            if !seen.iter().any(|s| s == name) {
                seen.push(name.to_owned());
            }
        }
    }
    seen
}
