//! SQLite's side of fixable messages: reading the [`TargetFacts`] of the
//! message a change targets and applying a [`Fix`] to its row, both in
//! the writer's transaction, and reading a page's reactions in the
//! reader's. Erasing runs with `secure_delete` on (set at open, see
//! `store/sqlite.rs`), so the freed bytes of an erased text are zeroed.

use rusqlite::{Connection, OptionalExtension, params};

use super::fixable::{Fix, TargetFacts};
use super::rows::{EDIT, MESSAGE};
use super::{Change, NewEntry};

/// Erases the text of a message's edits. Named index: without table
/// statistics SQLite prefers the primary key's `room_id` prefix, which
/// would read the whole room.
const ERASE_EDITS: &str = "UPDATE entries INDEXED BY entries_target SET text = ''
     WHERE room_id = ?1 AND target = ?2 AND kind = ?3";

/// What the rules need about the message `entry` targets, or `None` when
/// there is no message of that id in the room.
pub(super) fn target_facts(
    conn: &Connection,
    room_id: i64,
    entry: &NewEntry,
    owner: Option<&str>,
) -> rusqlite::Result<Option<TargetFacts>> {
    let Some(target) = entry.change.target() else {
        return Ok(None);
    };
    let row = conn
        .prepare_cached(
            "SELECT user, text, deleted, edits FROM entries
             WHERE room_id = ?1 AND id = ?2 AND kind = ?3",
        )?
        .query_row(params![room_id, target, MESSAGE], |row| {
            Ok(TargetFacts {
                author: row.get(0)?,
                text: row.get(1)?,
                deleted: row.get(2)?,
                edits: row.get(3)?,
                ..TargetFacts::default()
            })
        })
        .optional()?;
    let Some(mut facts) = row else {
        return Ok(None);
    };
    let author = facts.author.to_ascii_lowercase();
    facts.author_owner = owner.is_some_and(|o| o.eq_ignore_ascii_case(&author));
    facts.author_admin = entry
        .seen
        .admins
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&author));
    facts.author_op = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM ops WHERE room_id = ?1 AND name_folded = ?2)",
        )?
        .query_row(params![room_id, author], |row| row.get(0))?;
    if let Change::React { emoji, .. } | Change::Unreact { emoji, .. } = &entry.change {
        reaction_facts(conn, room_id, target, emoji, entry, &mut facts)?;
    }
    Ok(Some(facts))
}

/// Whether the actor's reaction is there, whether the emoji is, and (only
/// when it is not) how many distinct emoji the message has.
fn reaction_facts(
    conn: &Connection,
    room_id: i64,
    target: u64,
    emoji: &str,
    entry: &NewEntry,
    facts: &mut TargetFacts,
) -> rusqlite::Result<()> {
    let me = entry.actor.name.folded();
    (facts.reacted, facts.emoji_present) = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM reactions WHERE room_id = ?1 AND target = ?2
                            AND emoji = ?3 AND user_folded = ?4),
                    EXISTS (SELECT 1 FROM reactions WHERE room_id = ?1 AND target = ?2
                            AND emoji = ?3)",
        )?
        .query_row(params![room_id, target, emoji, me.as_str()], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    if !facts.emoji_present && matches!(entry.change, Change::React { .. }) {
        facts.emoji_count = conn
            .prepare_cached(
                "SELECT count(DISTINCT emoji) FROM reactions WHERE room_id = ?1 AND target = ?2",
            )?
            .query_row(params![room_id, target], |row| row.get(0))?;
    }
    Ok(())
}

/// Applies `fix`, made by `entry` stored as `id` at `ts`, to its target.
pub(super) fn apply_fix(
    conn: &Connection,
    room_id: i64,
    id: u64,
    entry: &NewEntry,
    ts: i64,
    fix: Fix,
) -> rusqlite::Result<()> {
    let me = entry.actor.name.folded();
    match fix {
        Fix::EditText { target, text } => conn
            .prepare_cached(
                "UPDATE entries SET text = ?1, edited_ts = ?2, edits = edits + 1
                 WHERE room_id = ?3 AND id = ?4",
            )?
            .execute(params![text, ts, room_id, target])
            .map(drop),
        Fix::Erase { target } => {
            conn.prepare_cached(
                "UPDATE entries SET text = '', deleted = 1 WHERE room_id = ?1 AND id = ?2",
            )?
            .execute(params![room_id, target])?;
            conn.prepare_cached(ERASE_EDITS)?
                .execute(params![room_id, target, EDIT])?;
            conn.prepare_cached("DELETE FROM reactions WHERE room_id = ?1 AND target = ?2")?
                .execute(params![room_id, target])
                .map(drop)
        }
        Fix::React { target, emoji } => conn
            .prepare_cached(
                "INSERT INTO reactions (room_id, target, emoji, user_folded, user, id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                room_id,
                target,
                emoji,
                me.as_str(),
                entry.actor.name.as_str(),
                id
            ])
            .map(drop),
        Fix::Unreact { target, emoji } => conn
            .prepare_cached(
                "DELETE FROM reactions WHERE room_id = ?1 AND target = ?2 AND emoji = ?3
                 AND user_folded = ?4",
            )?
            .execute(params![room_id, target, emoji, me.as_str()])
            .map(drop),
    }
}

/// The reactions on the messages with ids in `low..=high`, as (message,
/// emoji, user), in emoji order and then in the order users reacted.
pub(super) fn page_reactions(
    conn: &Connection,
    room_id: i64,
    low: u64,
    high: u64,
) -> rusqlite::Result<Vec<(u64, String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT target, emoji, user FROM reactions
         WHERE room_id = ?1 AND target BETWEEN ?2 AND ?3 ORDER BY target, emoji, id",
    )?;
    let rows = stmt.query_map(params![room_id, low, high], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metrics::Metrics;
    use crate::store::{CommitListener, Committed, MessageStore, SqliteStore, SyncMode};

    struct Quiet;

    impl CommitListener for Quiet {
        fn committed(&self, _batch: &[Committed]) {}
    }

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(params![1, 2, 3], |row| row.get::<_, String>(3))
            .unwrap();
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
            .join("; ")
    }

    #[tokio::test]
    async fn erasing_and_reading_reactions_never_scan_the_room() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite3");
        let store = SqliteStore::open(
            &path,
            SyncMode::Normal,
            Arc::new(Quiet),
            Arc::new(Metrics::default()),
        )
        .unwrap();
        store.close().await.unwrap();
        let conn = Connection::open(&path).unwrap();
        let erase = plan(&conn, ERASE_EDITS);
        assert!(
            erase.contains("INDEX entries_target (room_id=? AND target=?)"),
            "{erase}"
        );
        let reactions = plan(
            &conn,
            "SELECT target, emoji, user FROM reactions
             WHERE room_id = ?1 AND target BETWEEN ?2 AND ?3 ORDER BY target, emoji, id",
        );
        assert!(
            reactions.contains("PRIMARY KEY (room_id=? AND target>? AND target<?)"),
            "{reactions}"
        );
    }
}
