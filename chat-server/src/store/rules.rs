//! The rules of rooms people own, written once for every store: given what
//! the store holds about a room and the people an entry names
//! ([`Facts`], read inside the writer's transaction), [`decide`] refuses
//! the entry or lists the [`Effect`]s that storing it has. Ranks: admin >
//! owner > op > member; acting on someone needs a higher rank, and an
//! admin may also act on an admin. The rules of fixable messages are in
//! `store/fixable.rs`; who may delete whose message is decided here, by
//! the same ranks.

use chat_proto::{ConversationName, Role};

use super::fixable::{self, Fix, TargetFacts};
use super::{Actor, Change, NewEntry, Refusal};

/// What the store holds about one person in one room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PersonFacts {
    pub op: bool,
    pub banned: bool,
    /// On the private room's access list.
    pub access: bool,
    pub owner: bool,
}

/// What an entry's rules need, read in the transaction that stores it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    /// The room was deleted and not made again.
    pub deleted: bool,
    pub topic: String,
    pub private: bool,
    /// The owner's name as spelled at registration, if the room has one.
    pub owner: Option<String>,
    pub actor: PersonFacts,
    pub subject: PersonFacts,
    /// The subject's account name, when it has one.
    pub subject_account: Option<String>,
    /// Whether the operator named the subject a server admin.
    pub subject_admin: bool,
    /// In a conversation: whether the actor's partner holds an account.
    pub partner_registered: bool,
    /// The message the change targets (or a message's `reply_to`), when
    /// the change has one and it is a message of this room.
    pub target: Option<TargetFacts>,
}

/// A change to the room's stored state that an allowed entry makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// The entry itself, under the room's next id.
    Append,
    Topic(String),
    /// The new owner's name.
    Owner(String),
    Op {
        name: String,
        on: bool,
    },
    Ban {
        name: String,
        on: bool,
    },
    Access {
        name: String,
        on: bool,
    },
    /// Registered users among these names join the access list.
    AccessFromPresent(Vec<String>),
    Private(bool),
    /// Erases the room's entries and state; its ids go on above this one.
    DeleteRoom,
    /// Changes the target message's row (text, deleted, reactions).
    Fix(Fix),
    /// The room leaves this account's remembered rooms (`rooms mine`);
    /// its read marker is kept.
    Unlisted(String),
    /// The room is among these users' rooms (folded names): each entry of
    /// a conversation puts it back in both of its users' rooms.
    RememberRoom(Vec<String>),
}

const ADMIN: u8 = 3;
const OWNER: u8 = 2;
const OP: u8 = 1;

/// Whether `viewer` (`me` in the room, `owner` set) may enter a room:
/// not when banned (admins aside), nor a private room it is not on.
pub(crate) fn may_enter(viewer: &Actor, me: &PersonFacts, private: bool) -> Result<(), Refusal> {
    if me.banned && !viewer.admin {
        return Err(Refusal::forbidden("you are banned from this room"));
    }
    if private && !(viewer.admin || me.owner || me.op || me.access) {
        return Err(Refusal::forbidden("this room is private"));
    }
    Ok(())
}

/// The role `me` (its `owner` set) holds in the room.
pub(crate) fn role_of(me: &PersonFacts) -> Role {
    if me.owner {
        Role::Owner
    } else if me.op {
        Role::Op
    } else {
        Role::Member
    }
}

fn rank(admin: bool, person: &PersonFacts) -> u8 {
    if admin {
        ADMIN
    } else if person.owner {
        OWNER
    } else if person.op {
        OP
    } else {
        0
    }
}

/// A kick's or ban's effects after `first`: off the access list, out of
/// the subject's remembered rooms, and the entry.
fn removal(name: String, mut first: Vec<Effect>) -> Vec<Effect> {
    first.push(Effect::Access {
        name: name.clone(),
        on: false,
    });
    first.extend([Effect::Unlisted(name), Effect::Append]);
    first
}

/// Refuses `entry`, or lists what storing it changes.
pub(crate) fn decide(entry: &NewEntry, facts: &Facts) -> Result<Vec<Effect>, Refusal> {
    if facts.deleted {
        return Err(Refusal::not_found("no such room"));
    }
    if let Some(conversation) = entry.room.conversation() {
        return conversation_effects(entry, facts, &conversation);
    }
    let actor = rank(entry.actor.admin, &facts.actor);
    let subject = rank(facts.subject_admin, &facts.subject);
    let subject_name = entry.change.subject().map(|s| s.to_string());
    let needs = |least: u8, reason| {
        (actor >= least)
            .then_some(())
            .ok_or(Refusal::forbidden(reason))
    };
    let outranks = || {
        (actor > subject || actor == ADMIN)
            .then_some(())
            .ok_or(Refusal::forbidden("you do not outrank them in this room"))
    };
    let name = subject_name.unwrap_or_default();
    match &entry.change {
        Change::Message { .. }
        | Change::Edit { .. }
        | Change::Delete { .. }
        | Change::React { .. }
        | Change::Unreact { .. } => message_effects(entry, facts, actor),
        Change::Topic { topic } => {
            needs(OP, "only the owner and ops may set the topic")?;
            unchanged_if(*topic == facts.topic, "that is the topic already")?;
            Ok(vec![Effect::Topic(topic.clone()), Effect::Append])
        }
        Change::Role { role, .. } => {
            needs(OWNER, "only the owner and admins may give roles")?;
            let account = registered_subject(entry, facts)?;
            role_effects(*role, account, facts, outranks)
        }
        Change::Kick { .. } => {
            needs(OP, "only the owner and ops may kick")?;
            outranks()?;
            let here = entry.seen.subject_present || facts.subject.access;
            unchanged_if(!here, "they are neither in the room nor on its list")?;
            Ok(removal(name, vec![]))
        }
        Change::Ban { .. } => {
            needs(OP, "only the owner and ops may ban")?;
            outranks()?;
            unchanged_if(facts.subject.banned, "they are banned already")?;
            let ban = Effect::Ban {
                name: name.clone(),
                on: true,
            };
            Ok(removal(name, vec![ban]))
        }
        Change::Unban { .. } => {
            needs(OP, "only the owner and ops may unban")?;
            unchanged_if(!facts.subject.banned, "they are not banned")?;
            Ok(vec![Effect::Ban { name, on: false }, Effect::Append])
        }
        Change::Invite { .. } => {
            needs(OP, "only the owner and ops may invite")?;
            let account = registered_subject(entry, facts)?;
            unchanged_if(facts.subject.access, "they are invited already")?;
            let on = Effect::Access {
                name: account,
                on: true,
            };
            Ok(vec![on, Effect::Append])
        }
        Change::Settings { private } => {
            needs(OWNER, "only the owner and admins may change settings")?;
            settings_effects(*private, entry, facts)
        }
        Change::DeleteRoom => {
            needs(OWNER, "only the owner and admins may delete the room")?;
            Ok(vec![Effect::DeleteRoom])
        }
    }
}

/// A conversation's rules: only its two users, both registered, may make
/// its entries, and only messages and changes to them (it has no owner,
/// ops, topic or moderation). Every entry remembers the room for both.
fn conversation_effects(
    entry: &NewEntry,
    facts: &Facts,
    conversation: &ConversationName,
) -> Result<Vec<Effect>, Refusal> {
    if !entry.actor.registered || !conversation.includes(&entry.actor.name) {
        return Err(Refusal::forbidden(
            "only its two users may use a conversation",
        ));
    }
    if !facts.partner_registered {
        return Err(Refusal::not_found("no such user"));
    }
    let mut effects = match entry.change {
        Change::Message { .. }
        | Change::Edit { .. }
        | Change::Delete { .. }
        | Change::React { .. }
        | Change::Unreact { .. } => message_effects(entry, facts, 0)?,
        _ => {
            return Err(Refusal::forbidden(
                "a conversation has no owner, ops, topic, moderation or settings",
            ));
        }
    };
    let (first, second) = conversation.users();
    effects.push(Effect::RememberRoom(vec![first.into(), second.into()]));
    Ok(effects)
}

/// What a message, or a change to one, does: `actor` is the actor's rank.
fn message_effects(entry: &NewEntry, facts: &Facts, actor: u8) -> Result<Vec<Effect>, Refusal> {
    let me = entry.actor.name.as_str();
    let target = facts.target.as_ref();
    let fix = |fix: Result<Fix, Refusal>| Ok(vec![Effect::Fix(fix?), Effect::Append]);
    let deleting = matches!(entry.change, Change::Delete { .. });
    if facts.actor.banned && !deleting {
        return Err(Refusal::forbidden("you are banned from this room"));
    }
    match &entry.change {
        Change::Message { reply_to, .. } => {
            if reply_to.is_some() {
                fixable::reply(target)?;
            }
            Ok(vec![Effect::Append])
        }
        Change::Edit { target: id, text } => fix(fixable::edit(me, target, *id, text)),
        Change::Delete { target: id } => {
            let outranks_author = target.is_some_and(|t| {
                let author = PersonFacts {
                    op: t.author_op,
                    owner: t.author_owner,
                    ..PersonFacts::default()
                };
                let author = rank(t.author_admin, &author);
                actor > author || actor == ADMIN
            });
            fix(fixable::delete(me, outranks_author, target, *id))
        }
        Change::React { target: id, emoji } => fix(fixable::react(target, *id, emoji)),
        Change::Unreact { target: id, emoji } => fix(fixable::unreact(target, *id, emoji)),
        _ => Ok(vec![Effect::Append]),
    }
}

/// The account a role or an invitation is for: a guest in the room is
/// `forbidden` (roles and access are for accounts), a name with no
/// account otherwise `not_found`.
fn registered_subject(entry: &NewEntry, facts: &Facts) -> Result<String, Refusal> {
    match &facts.subject_account {
        Some(account) => Ok(account.clone()),
        None if entry.seen.subject_present => Err(Refusal::forbidden(
            "roles and invitations are for registered users",
        )),
        None => Err(Refusal::not_found("no such user")),
    }
}

fn settings_effects(
    private: bool,
    entry: &NewEntry,
    facts: &Facts,
) -> Result<Vec<Effect>, Refusal> {
    unchanged_if(private == facts.private, "the room is so already")?;
    let mut effects = vec![Effect::Private(private)];
    if private {
        effects.push(Effect::AccessFromPresent(entry.seen.present.clone()));
    }
    effects.push(Effect::Append);
    Ok(effects)
}

fn unchanged_if(same: bool, reason: &'static str) -> Result<(), Refusal> {
    if same {
        Err(Refusal::unchanged(reason))
    } else {
        Ok(())
    }
}

/// What giving `account` the role `role` changes.
fn role_effects(
    role: Role,
    account: String,
    facts: &Facts,
    outranks: impl Fn() -> Result<(), Refusal>,
) -> Result<Vec<Effect>, Refusal> {
    let held = if facts.subject.owner {
        Role::Owner
    } else if facts.subject.op {
        Role::Op
    } else {
        Role::Member
    };
    unchanged_if(held == role, "they have that role already")?;
    if held == Role::Owner {
        return Err(Refusal::forbidden(
            "the owner's role changes only by handing the room over",
        ));
    }
    outranks()?;
    let mut effects = Vec::new();
    match role {
        Role::Owner => {
            if let Some(old) = &facts.owner {
                effects.push(Effect::Op {
                    name: old.clone(),
                    on: true,
                });
            }
            effects.push(Effect::Op {
                name: account.clone(),
                on: false,
            });
            effects.push(Effect::Owner(account));
        }
        Role::Op | Role::Member => effects.push(Effect::Op {
            name: account,
            on: role == Role::Op,
        }),
    }
    effects.push(Effect::Append);
    Ok(effects)
}

#[cfg(test)]
mod tests {
    use chat_proto::{ErrorCode, RoomName, UserName};

    use super::*;
    use crate::store::{Actor, ConnId, Seen};

    fn entry(admin: bool, change: Change) -> NewEntry {
        NewEntry {
            room: RoomName::parse("r").unwrap(),
            actor: Actor {
                name: UserName::parse("me").unwrap(),
                registered: true,
                admin,
            },
            change,
            reference: None,
            origin: ConnId(1),
            seen: Seen::default(),
        }
    }

    fn kick() -> Change {
        Change::Kick {
            subject: UserName::parse("them").unwrap(),
            reason: None,
        }
    }

    fn code(result: Result<Vec<Effect>, Refusal>) -> Option<ErrorCode> {
        result.err().map(|refusal| refusal.code)
    }

    #[test]
    fn acting_on_someone_needs_a_higher_rank_and_admins_act_on_admins() {
        let op = PersonFacts {
            op: true,
            ..PersonFacts::default()
        };
        let owner = PersonFacts {
            owner: true,
            ..PersonFacts::default()
        };
        let on_the_list = PersonFacts {
            access: true,
            ..PersonFacts::default()
        };
        let facts = |actor, subject, subject_admin| Facts {
            actor,
            subject: PersonFacts {
                access: true,
                ..subject
            },
            subject_admin,
            ..Facts::default()
        };
        let ops_kick = |subject| code(decide(&entry(false, kick()), &facts(op, subject, false)));
        assert_eq!(ops_kick(PersonFacts::default()), None);
        assert_eq!(ops_kick(op), Some(ErrorCode::Forbidden), "an op on an op");
        assert_eq!(
            ops_kick(owner),
            Some(ErrorCode::Forbidden),
            "nobody on the owner"
        );
        let owner_on_admin = facts(owner, PersonFacts::default(), true);
        assert_eq!(
            code(decide(&entry(false, kick()), &owner_on_admin)),
            Some(ErrorCode::Forbidden)
        );
        let admin_on_admin = facts(PersonFacts::default(), PersonFacts::default(), true);
        assert_eq!(code(decide(&entry(true, kick()), &admin_on_admin)), None);
        let nobody_here = Facts {
            actor: op,
            ..Facts::default()
        };
        assert_eq!(
            code(decide(&entry(false, kick()), &nobody_here)),
            Some(ErrorCode::Unchanged),
            "neither present nor on the list"
        );
        let listed_only = Facts {
            actor: op,
            subject: on_the_list,
            ..Facts::default()
        };
        assert_eq!(
            decide(&entry(false, kick()), &listed_only),
            Ok(vec![
                Effect::Access {
                    name: "them".into(),
                    on: false
                },
                Effect::Unlisted("them".into()),
                Effect::Append
            ])
        );
    }

    #[test]
    fn handing_over_makes_the_old_owner_an_op_and_a_deleted_room_takes_nothing() {
        let owner = PersonFacts {
            owner: true,
            ..PersonFacts::default()
        };
        let facts = Facts {
            owner: Some("me".into()),
            actor: owner,
            subject_account: Some("them".into()),
            ..Facts::default()
        };
        let hand_over = Change::Role {
            subject: UserName::parse("them").unwrap(),
            role: Role::Owner,
        };
        assert_eq!(
            decide(&entry(false, hand_over.clone()), &facts),
            Ok(vec![
                Effect::Op {
                    name: "me".into(),
                    on: true
                },
                Effect::Op {
                    name: "them".into(),
                    on: false
                },
                Effect::Owner("them".into()),
                Effect::Append
            ])
        );
        let deleted = Facts {
            deleted: true,
            ..facts
        };
        assert_eq!(
            code(decide(&entry(false, hand_over), &deleted)),
            Some(ErrorCode::NotFound)
        );
    }

    #[test]
    fn a_conversation_is_its_two_registered_users_and_has_no_moderation() {
        let in_conversation = |name: &str, registered: bool, change: Change| NewEntry {
            room: RoomName::parse_for("@me+you", &UserName::parse("me").unwrap()).unwrap(),
            actor: Actor {
                name: UserName::parse(name).unwrap(),
                registered,
                admin: true,
            },
            ..entry(false, change)
        };
        let message = || Change::Message {
            text: "hi".into(),
            reply_to: None,
            action: false,
        };
        let facts = Facts {
            partner_registered: true,
            ..Facts::default()
        };
        assert_eq!(
            decide(&in_conversation("You", true, message()), &facts),
            Ok(vec![
                Effect::Append,
                Effect::RememberRoom(vec!["me".into(), "you".into()])
            ])
        );
        // Not even an admin may use another pair's conversation, nor a
        // guest its own.
        for (name, registered) in [("admin", true), ("me", false)] {
            assert_eq!(
                code(decide(
                    &in_conversation(name, registered, message()),
                    &facts
                )),
                Some(ErrorCode::Forbidden),
                "{name}"
            );
        }
        let no_partner = Facts::default();
        assert_eq!(
            code(decide(&in_conversation("me", true, message()), &no_partner)),
            Some(ErrorCode::NotFound)
        );
        let topic = Change::Topic {
            topic: "ours".into(),
        };
        for change in [topic, kick(), Change::DeleteRoom] {
            assert_eq!(
                code(decide(&in_conversation("me", true, change), &facts)),
                Some(ErrorCode::Forbidden)
            );
        }
    }
}
