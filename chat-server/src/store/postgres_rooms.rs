//! PostgreSQL's side of rooms people own: the schema-3 migration, and, in
//! the writer's transaction, locking the batch's rooms, reading each
//! entry's [`Facts`], applying its [`Effect`]s and moving `last_id` past
//! the stored entries only (a refusal uses no id); and the room state a
//! join reads. People are keyed by folded name, as on SQLite.

use std::collections::BTreeMap;

use chat_proto::{Entry, RoomName};
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Statement};

use super::JoinState;
use super::batch::Pending;
use super::fingerprint::ResendKey;
use super::page::{from_sql_id, to_sql_id};
use super::postgres_fixable::{apply_fix, target_facts};
use super::postgres_mine::unlist;
use super::rows::EntryRow;
use super::rules::{self, Effect, Facts, PersonFacts, decide};
use super::sqlite_rooms::folded;
use super::{Actor, NewEntry, Outcome, RoomState, StoreError};

/// Schema version 3 (see `store/sqlite_rooms.rs`); text that may hold NUL
/// (a topic, a reason) is `BYTEA`, as message text is.
pub(super) const STREAM_SCHEMA: &str = "
    ALTER TABLE messages RENAME TO entries;
    ALTER TABLE entries ADD COLUMN kind BIGINT NOT NULL DEFAULT 0,
        ADD COLUMN subject TEXT, ADD COLUMN arg TEXT,
        ADD COLUMN flags BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE rooms ADD COLUMN owner TEXT,
        ADD COLUMN topic BYTEA NOT NULL DEFAULT ''::BYTEA,
        ADD COLUMN private BOOLEAN NOT NULL DEFAULT FALSE,
        ADD COLUMN first_id BIGINT NOT NULL DEFAULT 1,
        ADD COLUMN deleted_at BIGINT;
    CREATE TABLE ops (room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
        name_folded TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (room_id, name_folded));
    CREATE TABLE bans (room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
        name_folded TEXT NOT NULL, PRIMARY KEY (room_id, name_folded));
    CREATE TABLE access (room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
        name_folded TEXT NOT NULL, PRIMARY KEY (room_id, name_folded));";

pub(super) fn db(e: tokio_postgres::Error) -> StoreError {
    StoreError::Database(super::postgres::describe(&e))
}

pub(super) fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

async fn person(
    client: &impl GenericClient,
    room_id: i64,
    name: &str,
) -> Result<PersonFacts, StoreError> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM ops WHERE room_id = $1 AND name_folded = $2),
                    EXISTS (SELECT 1 FROM bans WHERE room_id = $1 AND name_folded = $2),
                    EXISTS (SELECT 1 FROM access WHERE room_id = $1 AND name_folded = $2)",
            &[&room_id, &folded(name)],
        )
        .await
        .map_err(db)?;
    Ok(PersonFacts {
        op: row.try_get(0).map_err(db)?,
        banned: row.try_get(1).map_err(db)?,
        access: row.try_get(2).map_err(db)?,
        owner: false,
    })
}

/// A room's owner, topic, privacy and whether it is deleted.
async fn room_row(
    client: &impl GenericClient,
    room_id: i64,
) -> Result<(Option<String>, String, bool, bool), StoreError> {
    let row = client
        .query_one(
            "SELECT owner, topic, private, deleted_at IS NOT NULL FROM rooms WHERE id = $1",
            &[&room_id],
        )
        .await
        .map_err(db)?;
    Ok((
        row.try_get(0).map_err(db)?,
        text(row.try_get(1).map_err(db)?),
        row.try_get(2).map_err(db)?,
        row.try_get(3).map_err(db)?,
    ))
}

fn owns(owner: &Option<String>, name: &str) -> bool {
    owner.as_deref().is_some_and(|o| folded(o) == folded(name))
}

/// The account registered as `name` in any spelling, as it is spelled.
async fn account(client: &impl GenericClient, name: &str) -> Result<Option<String>, StoreError> {
    let account = client
        .query_opt(
            "SELECT name FROM accounts WHERE name_folded = $1",
            &[&folded(name)],
        )
        .await
        .map_err(db)?;
    account.map(|row| row.try_get(0)).transpose().map_err(db)
}

async fn load_facts(
    client: &impl GenericClient,
    room_id: i64,
    entry: &NewEntry,
) -> Result<Facts, StoreError> {
    let (owner, topic, private, deleted) = room_row(client, room_id).await?;
    let actor_name = entry.actor.name.as_str();
    let mut actor = person(client, room_id, actor_name).await?;
    actor.owner = owns(&owner, actor_name);
    let mut facts = Facts {
        deleted,
        actor,
        topic,
        private,
        ..Facts::default()
    };
    if let Some(subject) = entry.change.subject() {
        let mut of = person(client, room_id, subject.as_str()).await?;
        of.owner = owns(&owner, subject.as_str());
        facts.subject = of;
        facts.subject_account = account(client, subject.as_str()).await?;
        facts.subject_admin = entry.seen.subject_admin;
    }
    if let Some(conversation) = entry.room.conversation() {
        facts.partner_registered = match conversation.partner(&entry.actor.name) {
            Some(partner) => account(client, partner).await?.is_some(),
            None => false,
        };
    }
    facts.target = target_facts(client, room_id, entry, owner.as_deref()).await?;
    facts.owner = owner;
    Ok(facts)
}

/// Stores a batch in the open transaction: its rooms locked in name order
/// (so two nodes cannot deadlock), each entry decided in queue order
/// against what the transaction sees, the room's `last_id` moved once.
pub(super) async fn store_batch(
    client: &impl GenericClient,
    batch: &[Pending],
    ts: i64,
) -> Result<Vec<Outcome>, StoreError> {
    let mut rooms: BTreeMap<&str, (i64, u64)> = BTreeMap::new();
    for pending in batch {
        rooms.entry(pending.entry.room.as_str()).or_default();
    }
    for (name, row) in rooms.iter_mut() {
        client
            .execute(
                "INSERT INTO rooms (name, last_id, created_at) VALUES ($1, 0, $2)
                 ON CONFLICT (name) DO NOTHING",
                &[name, &ts],
            )
            .await
            .map_err(db)?;
        let locked = client
            .query_one(
                "SELECT id, last_id FROM rooms WHERE name = $1 FOR UPDATE",
                &[name],
            )
            .await
            .map_err(db)?;
        *row = (
            locked.try_get(0).map_err(db)?,
            from_sql_id(locked.try_get(1).map_err(db)?),
        );
    }
    let before = rooms.clone();
    let mut outcomes = Vec::with_capacity(batch.len());
    for pending in batch {
        let entry = &pending.entry;
        let Some((room_id, last_id)) = rooms.get_mut(entry.room.as_str()) else {
            continue;
        };
        // Hashed once: the probe and the stored row share it.
        let key = ResendKey::of(entry);
        if let Some(stored) = find_resent(client, *room_id, entry, key.as_ref()).await? {
            outcomes.push(Outcome::Duplicate(stored));
            continue;
        }
        let facts = load_facts(client, *room_id, entry).await?;
        match decide(entry, &facts) {
            Err(refusal) => outcomes.push(Outcome::Refused(refusal)),
            Ok(effects) => {
                let id = *last_id + 1;
                for effect in effects {
                    apply(client, *room_id, id, entry, key.as_ref(), ts, effect).await?;
                }
                *last_id = id;
                outcomes.push(Outcome::Stored(id));
            }
        }
    }
    for (name, (room_id, last_id)) in &rooms {
        if before.get(name).is_some_and(|(_, old)| old != last_id) {
            client
                .execute(
                    "UPDATE rooms SET last_id = $1 WHERE id = $2",
                    &[&to_sql_id(*last_id), room_id],
                )
                .await
                .map_err(db)?;
        }
    }
    Ok(outcomes)
}

/// The entry the same request stored before (same user, room, `ref` and
/// content), with its `ref`: one probe of the `entries_ref` index, under
/// the room's row lock, so a commit whose answer was lost, retried on any
/// node, finds its own row.
async fn find_resent(
    client: &impl GenericClient,
    room_id: i64,
    entry: &NewEntry,
    key: Option<&ResendKey>,
) -> Result<Option<Entry>, StoreError> {
    let Some(key) = key else {
        return Ok(None);
    };
    let reference = key.reference.as_bytes();
    let row = client
        .query_opt(
            "SELECT id, user_name, text, ts, kind, subject, arg, flags, target, edited_ts, deleted
             FROM entries
             WHERE room_id = $1 AND ref_user = $2 AND client_ref = $3 AND fingerprint = $4",
            &[&room_id, &key.user, &reference, &&key.fingerprint[..]],
        )
        .await
        .map_err(db)?;
    let Some(row) = row else { return Ok(None) };
    let stored = EntryRow {
        text: text(row.try_get(2).map_err(db)?),
        kind: row.try_get(4).map_err(db)?,
        subject: row.try_get(5).map_err(db)?,
        arg: row.try_get(6).map_err(db)?,
        flags: row.try_get(7).map_err(db)?,
        target: row
            .try_get::<_, Option<i64>>(8)
            .map_err(db)?
            .map(from_sql_id),
        edited: row.try_get(9).map_err(db)?,
        deleted: row.try_get(10).map_err(db)?,
    };
    let id = from_sql_id(row.try_get(0).map_err(db)?);
    let user = row.try_get(1).map_err(db)?;
    let ts = row.try_get(3).map_err(db)?;
    Ok(stored
        .entry(entry.room.as_str(), id, user, ts)
        .map(|stored| stored.with_reference(Some(key.reference.clone()))))
}

async fn apply(
    client: &impl GenericClient,
    room_id: i64,
    id: u64,
    entry: &NewEntry,
    key: Option<&ResendKey>,
    ts: i64,
    effect: Effect,
) -> Result<(), StoreError> {
    let id = to_sql_id(id);
    let (sql, name): (&str, String) = match effect {
        Effect::Append => return append(client, room_id, id, entry, key, ts).await,
        Effect::Topic(topic) => {
            let topic = topic.into_bytes();
            return exec(
                client,
                "UPDATE rooms SET topic = $1 WHERE id = $2",
                &[&topic, &room_id],
            )
            .await;
        }
        Effect::Owner(owner) => {
            return exec(
                client,
                "UPDATE rooms SET owner = $1 WHERE id = $2",
                &[&owner, &room_id],
            )
            .await;
        }
        Effect::Op { name, on: true } => {
            return exec(
                client,
                "INSERT INTO ops (room_id, name_folded, name) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&room_id, &folded(&name), &name],
            )
            .await;
        }
        Effect::Op { name, on: false } => (
            "DELETE FROM ops WHERE room_id = $1 AND name_folded = $2",
            name,
        ),
        Effect::Ban { name, on: true } => (
            "INSERT INTO bans VALUES ($1, $2) ON CONFLICT DO NOTHING",
            name,
        ),
        Effect::Ban { name, on: false } => (
            "DELETE FROM bans WHERE room_id = $1 AND name_folded = $2",
            name,
        ),
        Effect::Access { name, on: true } => (
            "INSERT INTO access VALUES ($1, $2) ON CONFLICT DO NOTHING",
            name,
        ),
        Effect::Access { name, on: false } => (
            "DELETE FROM access WHERE room_id = $1 AND name_folded = $2",
            name,
        ),
        Effect::AccessFromPresent(names) => {
            return access_from_present(client, room_id, &names).await;
        }
        Effect::Private(private) => {
            return exec(
                client,
                "UPDATE rooms SET private = $1 WHERE id = $2",
                &[&private, &room_id],
            )
            .await;
        }
        Effect::DeleteRoom => return delete_room(client, room_id, id, ts).await,
        Effect::Fix(fix) => return apply_fix(client, room_id, id, entry, ts, fix).await,
        Effect::Unlisted(name) => return unlist(client, room_id, &name).await,
        Effect::RememberRoom(users) => {
            for user in &users {
                remember_room_for_user(client, room_id, user).await?;
            }
            return Ok(());
        }
    };
    exec(client, sql, &[&room_id, &folded(&name)]).await
}

/// Puts the room among `user`'s remembered rooms (kept once).
pub(super) async fn remember_room_for_user(
    client: &impl GenericClient,
    room_id: i64,
    user: &str,
) -> Result<(), StoreError> {
    exec(
        client,
        "INSERT INTO memberships (account_id, room_id, read_id, listed)
         SELECT id, $2, 0, TRUE FROM accounts WHERE name_folded = $1
         ON CONFLICT (account_id, room_id) DO UPDATE SET listed = TRUE
         WHERE NOT memberships.listed",
        &[&folded(user), &room_id],
    )
    .await
}

/// Gives access to those of `names` who hold an account, in any spelling.
async fn access_from_present(
    client: &impl GenericClient,
    room_id: i64,
    names: &[String],
) -> Result<(), StoreError> {
    let names: Vec<String> = names.iter().map(|name| folded(name)).collect();
    exec(
        client,
        "INSERT INTO access (room_id, name_folded)
         SELECT $1, name_folded FROM accounts WHERE name_folded = ANY($2)
         ON CONFLICT DO NOTHING",
        &[&room_id, &names],
    )
    .await
}

async fn exec(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<(), StoreError> {
    client.execute(sql, params).await.map(drop).map_err(db)
}

async fn append(
    client: &impl GenericClient,
    room_id: i64,
    id: i64,
    entry: &NewEntry,
    key: Option<&ResendKey>,
    ts: i64,
) -> Result<(), StoreError> {
    let Some(row) = EntryRow::of(&entry.change) else {
        return Ok(());
    };
    let body = row.text.into_bytes();
    let reference = key.map(|key| key.reference.as_bytes());
    let ref_user = key.map(|key| key.user.as_str());
    let fingerprint = key.map(|key| &key.fingerprint[..]);
    exec(
        client,
        "INSERT INTO entries (room_id, id, user_name, text, ts, kind, subject, arg, flags, target,
              client_ref, ref_user, fingerprint)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &room_id,
            &id,
            &entry.actor.name.as_str(),
            &body,
            &ts,
            &row.kind,
            &row.subject,
            &row.arg,
            &row.flags,
            &row.target.map(to_sql_id),
            &reference,
            &ref_user,
            &fingerprint,
        ],
    )
    .await
}

async fn delete_room(
    client: &impl GenericClient,
    room_id: i64,
    id: i64,
    ts: i64,
) -> Result<(), StoreError> {
    exec(
        client,
        "UPDATE rooms SET owner = NULL, topic = ''::BYTEA, private = FALSE, first_id = $1::BIGINT + 1,
         deleted_at = $2 WHERE id = $3",
        &[&id, &ts, &room_id],
    )
    .await?;
    for table in [
        "entries",
        "reactions",
        "ops",
        "bans",
        "access",
        "memberships",
    ] {
        exec(
            client,
            &format!("DELETE FROM {table} WHERE room_id = $1"),
            &[&room_id],
        )
        .await?;
    }
    Ok(())
}

/// Makes a deleted room live again, owned by `owner` or nobody.
pub(super) async fn revive(
    client: &impl GenericClient,
    room: &str,
    owner: Option<&str>,
) -> Result<(), StoreError> {
    exec(
        client,
        "UPDATE rooms SET deleted_at = NULL, owner = $1 WHERE name = $2 AND deleted_at IS NOT NULL",
        &[&owner, &room],
    )
    .await
}

/// Everything a join decides by, in one statement: the room's columns,
/// the viewer's place in it, the ops in name order and, for a registered
/// viewer (`$3`), its membership row (a guest has none, even under a
/// registered name's spelling). Prepare it with the client's statement
/// cache and hand it to [`join_state`].
pub(super) const JOIN_STATE: &str = "
    SELECT r.id, r.last_id, r.owner, r.topic, r.private, r.deleted_at IS NOT NULL,
           EXISTS (SELECT 1 FROM ops WHERE room_id = r.id AND name_folded = $2),
           EXISTS (SELECT 1 FROM bans WHERE room_id = r.id AND name_folded = $2),
           EXISTS (SELECT 1 FROM access WHERE room_id = r.id AND name_folded = $2),
           ARRAY(SELECT name FROM ops WHERE room_id = r.id ORDER BY name),
           COALESCE(m.read_id, 0), COALESCE(m.listed, FALSE)
    FROM rooms r
    LEFT JOIN accounts a ON $3 AND a.name_folded = $2
    LEFT JOIN memberships m ON m.account_id = a.id AND m.room_id = r.id
    WHERE r.name = $1";

/// What a join of `room` by `viewer` reads besides the page, one round
/// trip with `statement` ([`JOIN_STATE`], prepared on this connection);
/// `None` when the room does not exist or is deleted.
pub(super) async fn join_state(
    client: &impl GenericClient,
    statement: &Statement,
    room: &RoomName,
    viewer: &Actor,
) -> Result<Option<JoinState>, StoreError> {
    let name = viewer.name.as_str();
    let params: [&(dyn ToSql + Sync); 3] = [&room.as_str(), &folded(name), &viewer.registered];
    let Some(row) = client.query_opt(statement, &params).await.map_err(db)? else {
        return Ok(None);
    };
    if row.try_get::<_, bool>(5).map_err(db)? {
        return Ok(None);
    }
    let owner: Option<String> = row.try_get(2).map_err(db)?;
    let me = PersonFacts {
        op: row.try_get(6).map_err(db)?,
        banned: row.try_get(7).map_err(db)?,
        access: row.try_get(8).map_err(db)?,
        owner: owns(&owner, name),
    };
    let private = row.try_get(4).map_err(db)?;
    let state = match rules::may_enter(viewer, &me, private) {
        Err(refusal) => Err(refusal),
        Ok(()) => Ok(RoomState {
            topic: text(row.try_get(3).map_err(db)?),
            owner,
            ops: row.try_get(9).map_err(db)?,
            private,
            role: rules::role_of(&me),
            read_id: from_sql_id(row.try_get(10).map_err(db)?),
            listed: row.try_get(11).map_err(db)?,
        }),
    };
    Ok(Some(JoinState {
        room_id: row.try_get(0).map_err(db)?,
        last_id: from_sql_id(row.try_get(1).map_err(db)?),
        state,
    }))
}
