//! PostgreSQL's side of fixable messages: reading the [`TargetFacts`] of
//! the message a change targets and applying a [`Fix`] to its row, in the
//! writer's transaction (the room's row is locked, so no other node
//! changes that message meanwhile). An erased text is gone from every
//! query at commit; its old row version stays on disk as a dead tuple
//! until vacuum (see docs/protocol.md, "Fixable messages").

use tokio_postgres::GenericClient;

use super::StoreError;
use super::fixable::{Fix, TargetFacts};
use super::page::to_sql_id;
use super::rows::{EDIT, MESSAGE};
use super::{Change, NewEntry};

fn db(e: tokio_postgres::Error) -> StoreError {
    StoreError::Database(super::postgres::describe(&e))
}

/// What the rules need about the message `entry` targets, or `None` when
/// there is no message of that id in the room.
pub(super) async fn target_facts(
    client: &impl GenericClient,
    room_id: i64,
    entry: &NewEntry,
    owner: Option<&str>,
) -> Result<Option<TargetFacts>, StoreError> {
    let Some(target) = entry.change.target() else {
        return Ok(None);
    };
    let target = to_sql_id(target);
    let emoji = match &entry.change {
        Change::React { emoji, .. } | Change::Unreact { emoji, .. } => emoji.as_str(),
        _ => "",
    };
    let me = entry.actor.name.folded();
    let row = client
        .query_opt(
            "SELECT e.user_name, e.text, e.deleted, e.edits,
                EXISTS (SELECT 1 FROM ops WHERE room_id = $1 AND name_folded = lower(e.user_name)),
                EXISTS (SELECT 1 FROM reactions WHERE room_id = $1 AND target = $2
                        AND emoji = $4 AND user_folded = $5),
                EXISTS (SELECT 1 FROM reactions WHERE room_id = $1 AND target = $2
                        AND emoji = $4),
                (SELECT count(DISTINCT emoji) FROM reactions WHERE room_id = $1 AND target = $2)
             FROM entries e WHERE e.room_id = $1 AND e.id = $2 AND e.kind = $3",
            &[&room_id, &target, &MESSAGE, &emoji, &me.as_str()],
        )
        .await
        .map_err(db)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let author: String = row.try_get(0).map_err(db)?;
    let text: Vec<u8> = row.try_get(1).map_err(db)?;
    let edits: i64 = row.try_get(3).map_err(db)?;
    let emoji_count: i64 = row.try_get(7).map_err(db)?;
    Ok(Some(TargetFacts {
        author_owner: owner.is_some_and(|o| o.eq_ignore_ascii_case(&author)),
        author_admin: entry
            .seen
            .admins
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&author)),
        author_op: row.try_get(4).map_err(db)?,
        author,
        text: String::from_utf8_lossy(&text).into_owned(),
        deleted: row.try_get(2).map_err(db)?,
        edits: u32::try_from(edits).unwrap_or(u32::MAX),
        reacted: row.try_get(5).map_err(db)?,
        emoji_present: row.try_get(6).map_err(db)?,
        emoji_count: u32::try_from(emoji_count).unwrap_or(u32::MAX),
    }))
}

/// Applies `fix`, made by `entry` stored as `id` at `ts`, to its target.
pub(super) async fn apply_fix(
    client: &impl GenericClient,
    room_id: i64,
    id: i64,
    entry: &NewEntry,
    ts: i64,
    fix: Fix,
) -> Result<(), StoreError> {
    let me = entry.actor.name.folded();
    let user = entry.actor.name.as_str();
    let result = match fix {
        Fix::EditText { target, text } => {
            client
                .execute(
                    "UPDATE entries SET text = $1, edited_ts = $2, edits = edits + 1
                     WHERE room_id = $3 AND id = $4",
                    &[&text.into_bytes(), &ts, &room_id, &to_sql_id(target)],
                )
                .await
        }
        Fix::Erase { target } => {
            let target = to_sql_id(target);
            // Two statements, so each finds its rows by an index (the
            // primary key, then `entries_target`), never by a room scan.
            client
                .execute(
                    "UPDATE entries SET text = ''::BYTEA, deleted = TRUE
                     WHERE room_id = $1 AND id = $2",
                    &[&room_id, &target],
                )
                .await
                .map_err(db)?;
            client
                .execute(
                    "UPDATE entries SET text = ''::BYTEA
                     WHERE room_id = $1 AND target = $2 AND kind = $3",
                    &[&room_id, &target, &EDIT],
                )
                .await
                .map_err(db)?;
            client
                .execute(
                    "DELETE FROM reactions WHERE room_id = $1 AND target = $2",
                    &[&room_id, &target],
                )
                .await
        }
        Fix::React { target, emoji } => {
            client
                .execute(
                    "INSERT INTO reactions (room_id, target, emoji, user_folded, user_name, id)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &room_id,
                        &to_sql_id(target),
                        &emoji,
                        &me.as_str(),
                        &user,
                        &id,
                    ],
                )
                .await
        }
        Fix::Unreact { target, emoji } => {
            client
                .execute(
                    "DELETE FROM reactions WHERE room_id = $1 AND target = $2 AND emoji = $3
                     AND user_folded = $4",
                    &[&room_id, &to_sql_id(target), &emoji, &me.as_str()],
                )
                .await
        }
    };
    result.map(drop).map_err(db)
}
