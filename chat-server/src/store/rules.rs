//! The rules of rooms people own, written once for every store: given what
//! the store holds about a room and the people an entry names
//! ([`Facts`], read inside the writer's transaction), [`decide`] refuses
//! the entry or lists the [`Effect`]s that storing it has. Ranks: admin >
//! owner > op > member; acting on someone needs a higher rank, and an
//! admin may also act on an admin.

use chat_proto::Role;

use super::{Change, NewEntry, Refusal};

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
}

const ADMIN: u8 = 3;
const OWNER: u8 = 2;
const OP: u8 = 1;

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

/// Refuses `entry`, or lists what storing it changes.
pub(crate) fn decide(entry: &NewEntry, facts: &Facts) -> Result<Vec<Effect>, Refusal> {
    if facts.deleted {
        return Err(Refusal::not_found("no such room"));
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
        Change::Message { .. } if facts.actor.banned => {
            Err(Refusal::forbidden("you are banned from this room"))
        }
        Change::Message { .. } => Ok(vec![Effect::Append]),
        Change::Topic { topic } => {
            needs(OP, "only the owner and ops may set the topic")?;
            unchanged_if(*topic == facts.topic, "that is the topic already")?;
            Ok(vec![Effect::Topic(topic.clone()), Effect::Append])
        }
        Change::Role { role, .. } => {
            needs(OWNER, "only the owner and admins may give roles")?;
            let account = facts.subject_account.clone();
            let account = account.ok_or(Refusal::not_found("no such user"))?;
            role_effects(*role, account, facts, outranks)
        }
        Change::Kick { .. } => {
            needs(OP, "only the owner and ops may kick")?;
            outranks()?;
            let here = entry.seen.subject_present || facts.subject.access;
            unchanged_if(!here, "they are neither in the room nor on its list")?;
            Ok(vec![Effect::Access { name, on: false }, Effect::Append])
        }
        Change::Ban { .. } => {
            needs(OP, "only the owner and ops may ban")?;
            outranks()?;
            unchanged_if(facts.subject.banned, "they are banned already")?;
            let off = Effect::Access {
                name: name.clone(),
                on: false,
            };
            Ok(vec![Effect::Ban { name, on: true }, off, Effect::Append])
        }
        Change::Unban { .. } => {
            needs(OP, "only the owner and ops may unban")?;
            unchanged_if(!facts.subject.banned, "they are not banned")?;
            Ok(vec![Effect::Ban { name, on: false }, Effect::Append])
        }
        Change::Invite { .. } => {
            needs(OP, "only the owner and ops may invite")?;
            let account = facts.subject_account.clone();
            let account = account.ok_or(Refusal::not_found("no such user"))?;
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
