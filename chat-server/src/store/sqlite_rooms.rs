//! SQLite's side of rooms people own: reading an entry's [`Facts`] and
//! applying its [`Effect`]s inside the writer's transaction, and reading
//! a room's state and the joiner's place in it for a join. People are
//! keyed by their folded name (`ops`, `bans`, `access`; the owner is kept
//! as spelled and compared folded).

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, HashSet};

use chat_proto::RoomName;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, params};

use super::JoinState;
use super::fingerprint::ResendKey;
use super::rows::EntryRow;
use super::rules::{self, Effect, Facts, PersonFacts};
use super::sqlite_fixable::{apply_fix, target_facts};
use super::sqlite_mine::unlist;
use super::{Actor, Change, NewEntry, RoomState};

/// Schema version 3: the room stream and rooms people own. `messages`
/// becomes `entries` by a rename, so every id is kept; every added column
/// has a constant default, so no row is rewritten.
pub(super) const STREAM_SCHEMA: &str = "
    ALTER TABLE messages RENAME TO entries;
    ALTER TABLE entries ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE entries ADD COLUMN subject TEXT;
    ALTER TABLE entries ADD COLUMN arg TEXT;
    ALTER TABLE entries ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE rooms ADD COLUMN owner TEXT;
    ALTER TABLE rooms ADD COLUMN topic TEXT NOT NULL DEFAULT '';
    ALTER TABLE rooms ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE rooms ADD COLUMN first_id INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE rooms ADD COLUMN deleted_at INTEGER;
    CREATE TABLE ops (
        room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        name_folded TEXT NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (room_id, name_folded)
    ) WITHOUT ROWID;
    CREATE TABLE bans (
        room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        name_folded TEXT NOT NULL,
        PRIMARY KEY (room_id, name_folded)
    ) WITHOUT ROWID;
    CREATE TABLE access (
        room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        name_folded TEXT NOT NULL,
        PRIMARY KEY (room_id, name_folded)
    ) WITHOUT ROWID;";

/// A name as the stores key people by.
pub(super) fn folded(name: &str) -> String {
    // As `UserName::folded` and the `name_folded` columns of schema v2.
    name.to_ascii_lowercase()
}

fn person(conn: &Connection, room_id: i64, name: &str) -> rusqlite::Result<PersonFacts> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM ops WHERE room_id = ?1 AND name_folded = ?2),
                EXISTS (SELECT 1 FROM bans WHERE room_id = ?1 AND name_folded = ?2),
                EXISTS (SELECT 1 FROM access WHERE room_id = ?1 AND name_folded = ?2)",
    )?
    .query_row(params![room_id, folded(name)], |row| {
        Ok(PersonFacts {
            op: row.get(0)?,
            banned: row.get(1)?,
            access: row.get(2)?,
            owner: false,
        })
    })
}

/// The room's own columns: owner, topic, private, deleted.
fn room_row(
    conn: &Connection,
    room_id: i64,
) -> rusqlite::Result<(Option<String>, String, bool, bool)> {
    conn.prepare_cached(
        "SELECT owner, topic, private, deleted_at IS NOT NULL FROM rooms WHERE id = ?1",
    )?
    .query_row([room_id], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    })
}

/// The account registered as `name` in any spelling, as it is spelled.
fn account(conn: &Connection, name: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT name FROM accounts WHERE name_folded = ?1")?
        .query_row([folded(name)], |row| row.get(0))
        .optional()
}

fn owns(owner: &Option<String>, name: &str) -> bool {
    owner.as_deref().is_some_and(|o| folded(o) == folded(name))
}

/// What `entry`'s rules need, as the transaction sees it now (earlier
/// entries of the batch included).
pub(super) fn load_facts(
    conn: &Connection,
    room_id: i64,
    entry: &NewEntry,
) -> rusqlite::Result<Facts> {
    let facts = room_facts(conn, room_id, entry)?;
    with_partner(conn, entry, facts)
}

/// In a conversation, whether the other user has an account.
fn with_partner(conn: &Connection, entry: &NewEntry, mut facts: Facts) -> rusqlite::Result<Facts> {
    if let Some(conversation) = entry.room.conversation() {
        let partner = conversation.partner(&entry.actor.name);
        facts.partner_registered = match partner {
            Some(partner) => account(conn, partner)?.is_some(),
            None => false,
        };
    }
    Ok(facts)
}

/// [`load_facts`] about the room and the people the entry names. A plain
/// message reads less, through what the writer remembers ([`PlainRules`]).
fn room_facts(conn: &Connection, room_id: i64, entry: &NewEntry) -> rusqlite::Result<Facts> {
    let (owner, topic, private, deleted) = room_row(conn, room_id)?;
    let actor_name = entry.actor.name.as_str();
    let mut actor = person(conn, room_id, actor_name)?;
    actor.owner = owns(&owner, actor_name);
    let mut facts = Facts {
        deleted,
        actor,
        ..Facts::default()
    };
    facts.target = target_facts(conn, room_id, entry, owner.as_deref())?;
    if let Some(subject) = entry.change.subject() {
        let mut facts_of = person(conn, room_id, subject.as_str())?;
        facts_of.owner = owns(&owner, subject.as_str());
        facts.subject = facts_of;
        facts.subject_account = account(conn, subject.as_str())?;
        facts.subject_admin = entry.seen.subject_admin;
    }
    facts.topic = topic;
    facts.private = private;
    facts.owner = owner;
    Ok(facts)
}

/// What a plain message's rules read of its room, remembered by the
/// writer so that storing a message reads nothing before its insert. A
/// message's rules ask only whether the room was deleted and whether the
/// author is banned; those change only by an entry with an effect other
/// than its append (a ban, an unban, the room deleted), which forgets the
/// room ([`PlainRules::applying`]), or by a write outside the entries (a
/// room made again), which forgets every room. A failed transaction
/// forgets every room too, as what it read may not have been committed.
#[derive(Debug, Default)]
pub(super) struct PlainRules {
    rooms: HashMap<i64, RoomRules>,
}

#[derive(Debug)]
struct RoomRules {
    deleted: bool,
    /// Folded names; usually none.
    banned: HashSet<String>,
}

/// The room's deleted flag and banned names, one read per room.
pub(super) const ROOM_RULES: &str = "SELECT deleted_at IS NOT NULL,
        (SELECT json_group_array(name_folded) FROM bans WHERE room_id = ?1)
     FROM rooms WHERE id = ?1";

impl PlainRules {
    /// A plain message's facts (a message that is no reply), read from
    /// what is remembered of its room, or `None` for any other entry.
    pub(super) fn facts(
        &mut self,
        conn: &Connection,
        room_id: i64,
        entry: &NewEntry,
    ) -> rusqlite::Result<Option<Facts>> {
        let Change::Message { reply_to: None, .. } = entry.change else {
            return Ok(None);
        };
        let rules = match self.rooms.entry(room_id) {
            MapEntry::Occupied(known) => known.into_mut(),
            MapEntry::Vacant(unknown) => unknown.insert(room_rules(conn, room_id)?),
        };
        let facts = Facts {
            deleted: rules.deleted,
            actor: PersonFacts {
                // Folding allocates: only asked when someone is banned.
                banned: !rules.banned.is_empty()
                    && rules.banned.contains(&folded(entry.actor.name.as_str())),
                ..PersonFacts::default()
            },
            ..Facts::default()
        };
        with_partner(conn, entry, facts).map(Some)
    }

    /// `effects` are about to be applied to the room: forgets it unless
    /// each leaves its deleted flag and bans as they were (a message, a
    /// fix of one, a conversation remembered).
    pub(super) fn applying(&mut self, room_id: i64, effects: &[Effect]) {
        let keeps = |effect: &Effect| {
            matches!(
                effect,
                Effect::Append | Effect::Fix(_) | Effect::RememberRoom(_)
            )
        };
        if !effects.iter().all(keeps) {
            self.rooms.remove(&room_id);
        }
    }

    pub(super) fn forget_all(&mut self) {
        self.rooms.clear();
    }
}

fn room_rules(conn: &Connection, room_id: i64) -> rusqlite::Result<RoomRules> {
    let (deleted, banned): (bool, String) = conn
        .prepare_cached(ROOM_RULES)?
        .query_row([room_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let banned = serde_json::from_str(&banned)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, Type::Text, Box::new(e)))?;
    Ok(RoomRules { deleted, banned })
}

/// Applies one effect of `entry`, stored as `id` at `ts`; false when
/// it is the append and the same request was stored before (the insert
/// met the `entries_ref` key and stored nothing).
pub(super) fn apply(
    conn: &Connection,
    room_id: i64,
    id: u64,
    entry: &NewEntry,
    key: Option<&ResendKey>,
    ts: i64,
    effect: Effect,
) -> rusqlite::Result<bool> {
    let set = |sql: &str, name: &str, on: bool| -> rusqlite::Result<()> {
        let sql = if on {
            format!("INSERT OR IGNORE INTO {sql} (room_id, name_folded) VALUES (?1, ?2)")
        } else {
            format!("DELETE FROM {sql} WHERE room_id = ?1 AND name_folded = ?2")
        };
        conn.prepare_cached(&sql)?
            .execute(params![room_id, folded(name)])
            .map(drop)
    };
    let applied = match effect {
        Effect::Append => return append(conn, room_id, id, entry, key, ts),
        Effect::Topic(topic) => conn
            .prepare_cached("UPDATE rooms SET topic = ?1 WHERE id = ?2")?
            .execute(params![topic, room_id])
            .map(drop),
        Effect::Owner(name) => conn
            .prepare_cached("UPDATE rooms SET owner = ?1 WHERE id = ?2")?
            .execute(params![name, room_id])
            .map(drop),
        Effect::Op { name, on: true } => conn
            .prepare_cached(
                "INSERT OR IGNORE INTO ops (room_id, name_folded, name) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![room_id, folded(&name), name])
            .map(drop),
        Effect::Op { name, on: false } => conn
            .prepare_cached("DELETE FROM ops WHERE room_id = ?1 AND name_folded = ?2")?
            .execute(params![room_id, folded(&name)])
            .map(drop),
        Effect::Ban { name, on } => set("bans", &name, on),
        Effect::Access { name, on } => set("access", &name, on),
        Effect::AccessFromPresent(names) => {
            let mut insert = conn.prepare_cached(
                "INSERT OR IGNORE INTO access (room_id, name_folded)
                 SELECT ?1, name_folded FROM accounts WHERE name_folded = ?2",
            )?;
            for name in names {
                insert.execute(params![room_id, folded(&name)])?;
            }
            Ok(())
        }
        Effect::Private(private) => conn
            .prepare_cached("UPDATE rooms SET private = ?1 WHERE id = ?2")?
            .execute(params![private, room_id])
            .map(drop),
        Effect::DeleteRoom => delete_room(conn, room_id, id, ts),
        Effect::Fix(fix) => apply_fix(conn, room_id, id, entry, ts, fix),
        Effect::Unlisted(name) => unlist(conn, room_id, &name),
        Effect::RememberRoom(users) => users
            .iter()
            .try_for_each(|user| remember_room_for_user(conn, room_id, user)),
    };
    applied.map(|()| true)
}

/// Puts the room among `user`'s remembered rooms (kept once).
pub(super) fn remember_room_for_user(
    conn: &Connection,
    room_id: i64,
    user: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO memberships (account_id, room_id, read_id, listed)
         SELECT id, ?2, 0, 1 FROM accounts WHERE name_folded = ?1
         ON CONFLICT (account_id, room_id) DO UPDATE SET listed = 1
         WHERE memberships.listed = 0",
    )?
    .execute(params![folded(user), room_id])
    .map(drop)
}

fn append(
    conn: &Connection,
    room_id: i64,
    id: u64,
    entry: &NewEntry,
    key: Option<&ResendKey>,
    ts: i64,
) -> rusqlite::Result<bool> {
    let Some(row) = EntryRow::of(&entry.change) else {
        return Ok(true);
    };
    let inserted = conn
        .prepare_cached(
            "INSERT INTO entries (room_id, id, user, text, ts, kind, subject, arg, flags, target,
              client_ref, ref_user, fingerprint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (room_id, ref_user, client_ref, fingerprint) WHERE client_ref IS NOT NULL
         DO NOTHING",
        )?
        .execute(params![
            room_id,
            id,
            entry.actor.name.as_str(),
            row.text,
            ts,
            row.kind,
            row.subject,
            row.arg,
            row.flags,
            row.target,
            key.map(|key| key.reference.as_str()),
            key.map(|key| key.user.as_str()),
            key.map(|key| &key.fingerprint[..]),
        ])?;
    Ok(inserted == 1)
}

/// Erases the room's entries and state; `id` closes it, so a room made
/// again under the name continues above it.
fn delete_room(conn: &Connection, room_id: i64, id: u64, ts: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE rooms SET owner = NULL, topic = '', private = 0, first_id = ?1 + 1,
         deleted_at = ?2 WHERE id = ?3",
    )?
    .execute(params![id, ts, room_id])?;
    for table in [
        "entries",
        "reactions",
        "ops",
        "bans",
        "access",
        "memberships",
    ] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE room_id = ?1"))?
            .execute([room_id])?;
    }
    Ok(())
}

/// Makes a deleted room live again, owned by `owner` (a registered
/// joiner) or by nobody. False when it was not deleted.
pub(super) fn revive(
    conn: &Connection,
    room_id: i64,
    owner: Option<&str>,
) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "UPDATE rooms SET deleted_at = NULL, owner = ?1 WHERE id = ?2 AND deleted_at IS NOT NULL",
    )?
    .execute(params![owner, room_id])
    .map(|rows| rows == 1)
}

/// The room's columns, the viewer's place in it and, for a registered
/// viewer, its membership row: everything a join decides by, in one
/// statement (`?3` is whether the viewer is registered: a guest has no
/// membership even under a registered name's spelling).
const JOIN_STATE: &str = "
    SELECT r.id, r.last_id, r.owner, r.topic, r.private, r.deleted_at IS NOT NULL,
           EXISTS (SELECT 1 FROM ops WHERE room_id = r.id AND name_folded = ?2),
           EXISTS (SELECT 1 FROM bans WHERE room_id = r.id AND name_folded = ?2),
           EXISTS (SELECT 1 FROM access WHERE room_id = r.id AND name_folded = ?2),
           COALESCE(m.read_id, 0), COALESCE(m.listed, 0)
    FROM rooms r
    LEFT JOIN accounts a ON ?3 AND a.name_folded = ?2
    LEFT JOIN memberships m ON m.account_id = a.id AND m.room_id = r.id
    WHERE r.name = ?1";

/// What a join of `room` by `viewer` reads besides the page; `None` when
/// the room does not exist or is deleted (it must be made first).
pub(super) fn join_state(
    conn: &Connection,
    room: &RoomName,
    viewer: &Actor,
) -> rusqlite::Result<Option<JoinState>> {
    let name = viewer.name.as_str();
    let row = conn
        .prepare_cached(JOIN_STATE)?
        .query_row(
            params![room.as_str(), folded(name), viewer.registered],
            |row| {
                let me = PersonFacts {
                    op: row.get(6)?,
                    banned: row.get(7)?,
                    access: row.get(8)?,
                    owner: false,
                };
                // Ops and role once the owner is compared and entry allowed.
                let state = RoomState {
                    topic: row.get(3)?,
                    owner: row.get(2)?,
                    private: row.get(4)?,
                    read_id: row.get(9)?,
                    listed: row.get(10)?,
                    ..RoomState::default()
                };
                Ok((row.get(0)?, row.get(1)?, row.get::<_, bool>(5)?, me, state))
            },
        )
        .optional()?;
    let Some((room_id, last_id, false, mut me, mut state)) = row else {
        return Ok(None);
    };
    me.owner = owns(&state.owner, name);
    state.role = rules::role_of(&me);
    let state = match rules::may_enter(viewer, &me, state.private) {
        Err(refusal) => Err(refusal),
        Ok(()) => {
            let mut stmt =
                conn.prepare_cached("SELECT name FROM ops WHERE room_id = ?1 ORDER BY name")?;
            state.ops = stmt
                .query_map([room_id], |row| row.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(state)
        }
    };
    Ok(Some(JoinState {
        room_id,
        last_id,
        state,
    }))
}
