//! Room changes in words: the system line a topic, role, kick, ban,
//! unban, invite or settings entry is drawn as. Names and the topic are
//! made inert here, since they come from the network.

use chat_proto::{Entry, Role};

use crate::sanitize::inert;

/// `name`, or "you" when it is this user's.
fn who(name: &str, me: &str) -> String {
    if name == me {
        "you".to_owned()
    } else {
        inert(name)
    }
}

/// `": reason"` when there is one.
fn because(reason: Option<&String>) -> String {
    match reason {
        Some(reason) if !reason.is_empty() => format!(": {}", inert(reason)),
        _ => String::new(),
    }
}

/// The line for a room change; `me` is this user's name. Messages, edits,
/// deletions and reactions are not lines of their own and get `None`.
pub fn line(entry: &Entry, me: &str) -> Option<String> {
    let actor = who(entry.user(), me);
    Some(match entry {
        Entry::Topic(t) if t.topic.is_empty() => format!("{actor} cleared the topic"),
        Entry::Topic(t) => format!("{actor} set the topic: {}", inert(&t.topic)),
        Entry::Role(r) => {
            let subject = who(&r.subject, me);
            match r.role {
                Role::Owner => format!("{actor} handed the room to {subject}"),
                Role::Op => format!("{actor} made {subject} an op"),
                Role::Member => format!("{actor} made {subject} a member"),
            }
        }
        Entry::Kick(k) | Entry::Ban(k) => {
            let verb = if matches!(entry, Entry::Kick(_)) {
                "kicked"
            } else {
                "banned"
            };
            let subject = who(&k.subject, me);
            let be = if subject == "you" { "were" } else { "was" };
            format!(
                "{subject} {be} {verb} by {actor}{}",
                because(k.reason.as_ref())
            )
        }
        Entry::Unban(u) => format!("{actor} lifted the ban on {}", who(&u.subject, me)),
        Entry::Invite(i) => format!("{actor} invited {}", who(&i.subject, me)),
        Entry::Settings(s) => {
            let now = if s.private { "private" } else { "public" };
            format!("the room is now {now} (set by {actor})")
        }
        Entry::Message(_)
        | Entry::Edit(_)
        | Entry::Delete(_)
        | Entry::React(_)
        | Entry::Unreact(_) => return None,
    })
}

/// [`line`] for an entry known to be a room change.
pub fn describe(entry: &Entry, me: &str) -> String {
    line(entry, me).unwrap_or_default()
}
