//! SQLite's side of search: reading the `search` FTS5 index (schema 7,
//! `schema/sqlite_07_search.sql`) on the reader thread. A message's index
//! rowid is `room_id << 36 | id`, so one room's matches are one rowid
//! range that FTS5 walks newest first and stops at the limit; a search of
//! every room reads every match and keeps those of rooms the searcher may
//! read, newest `ts` first.

use chat_proto::Entry;
use rusqlite::{Connection, params};

use super::rows::attach_reactions;
use super::search::{SearchPage, SearchQuery, SearchScope};
use super::sqlite::stored_entry;
use super::sqlite_fixable::page_reactions;
use super::sqlite_rooms::{JoinState, folded, join_state};
use super::{Actor, Refusal};

/// How far a room id is shifted in an index rowid: ids below 2^36 fit.
const ROOM_SHIFT: u32 = 36;
/// The largest message id an index rowid holds, plus one.
const ID_SPAN: u64 = 1 << ROOM_SHIFT;

/// The largest room id an index rowid holds, plus one.
const ROOM_SPAN: i64 = 1 << 27;

/// Indexes a message just stored, in its transaction. Done here rather
/// than by a trigger: a trigger's statement is a savepoint, and FTS5
/// flushes its pending terms at every savepoint, writing an index segment
/// per message (`chat-bench/scripts/fts_trigger_sketch.py`: 12 µs per row
/// by trigger, 5 µs by statement). Edits and deletes, which are rare, keep
/// their triggers.
pub(super) fn index_message(
    conn: &Connection,
    room_id: i64,
    id: u64,
    text: &str,
) -> rusqlite::Result<()> {
    if id >= ID_SPAN || !(0..ROOM_SPAN).contains(&room_id) {
        return Ok(());
    }
    let key = (room_id << ROOM_SHIFT) | id as i64;
    conn.prepare_cached("INSERT INTO search (rowid, text) VALUES (?1, ?2)")?
        .execute(params![key, text])
        .map(drop)
}

/// One room's matches below a rowid bound, newest first. `CROSS JOIN`
/// keeps the index the outer loop, so it is read in rowid order and
/// stops at the limit.
const ROOM_MATCHES: &str = "SELECT e.id, e.user, e.text, e.ts, e.kind, e.subject, e.arg,
         e.flags, e.target, e.edited_ts, e.deleted
     FROM search s CROSS JOIN entries e
     WHERE search MATCH ?1 AND s.rowid >= ?2 AND s.rowid < ?3
       AND e.room_id = ?4 AND e.id = s.rowid - ?2
     ORDER BY s.rowid DESC LIMIT ?5";

/// Every room's matches below a `ts`, in rooms `?4` may read (every room
/// when `?3`, an admin): not deleted, not banned from, and public or
/// listing it as owner, op or on the access list; of conversations
/// (`@a+b`, names sorted) only `?4`'s own, admin or not.
const EVERYWHERE_MATCHES: &str = "SELECT e.id, e.user, e.text, e.ts, e.kind, e.subject, e.arg,
         e.flags, e.target, e.edited_ts, e.deleted, r.name, r.id
     FROM search s CROSS JOIN entries e JOIN rooms r ON r.id = e.room_id
     WHERE search MATCH ?1 AND e.room_id = (s.rowid >> 36) AND e.id = (s.rowid & 68719476735)
       AND e.ts < ?2 AND r.deleted_at IS NULL
       AND (?3 OR NOT EXISTS (SELECT 1 FROM bans WHERE room_id = r.id AND name_folded = ?4))
       AND (?3 OR r.private = 0 OR lower(r.owner) = ?4
         OR EXISTS (SELECT 1 FROM ops WHERE room_id = r.id AND name_folded = ?4)
         OR EXISTS (SELECT 1 FROM access WHERE room_id = r.id AND name_folded = ?4))
       AND (substr(r.name, 1, 1) <> '@'
         OR substr(r.name, 1, length(?4) + 2) = '@' || ?4 || '+'
         OR substr(r.name, -length(?4) - 1) = '+' || ?4)
     ORDER BY e.ts DESC, s.rowid DESC LIMIT ?5";

/// Runs `query` for `viewer` in one read transaction: the page, or why
/// the viewer may not read the room it names. A room that does not exist
/// has no matches.
pub(super) fn search(
    conn: &Connection,
    viewer: &Actor,
    query: &SearchQuery,
) -> rusqlite::Result<Result<SearchPage, Refusal>> {
    if query.words.is_empty() {
        return Ok(Ok(SearchPage::default()));
    }
    let tx = conn.unchecked_transaction()?;
    let found = match &query.scope {
        SearchScope::Room { room, before } => {
            // A room missing or deleted has no matches.
            match join_state(&tx, room, viewer)? {
                None => Ok(Vec::new()),
                Some(JoinState {
                    state: Err(refusal),
                    ..
                }) => Err(refusal),
                Some(JoinState { room_id, .. }) => {
                    room_matches(&tx, query, room_id, room.as_str(), *before).map(Ok)?
                }
            }
        }
        SearchScope::Everywhere { before_ts } => {
            everywhere_matches(&tx, query, viewer, *before_ts).map(Ok)?
        }
    };
    tx.commit()?;
    Ok(found.map(|rows| query.finish(rows)))
}

fn room_matches(
    conn: &Connection,
    query: &SearchQuery,
    room_id: i64,
    room: &str,
    before: Option<u64>,
) -> rusqlite::Result<Vec<Entry>> {
    let Ok(low) = u64::try_from(room_id).map(|id| id << ROOM_SHIFT) else {
        return Ok(Vec::new());
    };
    let high = low + before.unwrap_or(ID_SPAN).min(ID_SPAN);
    let mut stmt = conn.prepare_cached(ROOM_MATCHES)?;
    let rows = stmt.query_map(
        params![query.fts5_match(), low, high, room_id, query.fetch()],
        |row| stored_entry(row, room),
    )?;
    let mut entries = Vec::new();
    for entry in rows {
        entries.extend(entry?);
    }
    for entry in &mut entries {
        with_reactions(conn, room_id, entry)?;
    }
    Ok(entries)
}

fn everywhere_matches(
    conn: &Connection,
    query: &SearchQuery,
    viewer: &Actor,
    before_ts: Option<i64>,
) -> rusqlite::Result<Vec<Entry>> {
    let me = folded(viewer.name.as_str());
    let mut stmt = conn.prepare_cached(EVERYWHERE_MATCHES)?;
    let rows = stmt.query_map(
        params![
            query.fts5_match(),
            before_ts.unwrap_or(i64::MAX),
            viewer.admin,
            me,
            query.fetch()
        ],
        |row| {
            let room: String = row.get(11)?;
            Ok((row.get::<_, i64>(12)?, stored_entry(row, &room)?))
        },
    )?;
    let mut entries = Vec::new();
    for row in rows {
        let (room_id, entry) = row?;
        if let Some(mut entry) = entry {
            with_reactions(conn, room_id, &mut entry)?;
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// Puts a message's reactions on it, as its page shows them.
fn with_reactions(conn: &Connection, room_id: i64, entry: &mut Entry) -> rusqlite::Result<()> {
    let id = entry.id();
    let reactions = page_reactions(conn, room_id, id, id)?;
    if !reactions.is_empty() {
        attach_reactions(std::slice::from_mut(entry), reactions);
    }
    Ok(())
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
            .query_map(params!["x*", 1, 2, 1, 5], |row| row.get::<_, String>(3))
            .unwrap();
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
            .join("; ")
    }

    #[tokio::test]
    async fn searches_walk_the_index_and_look_messages_up_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let store = SqliteStore::open(
            &path,
            SyncMode::Normal,
            Arc::new(Quiet),
            Arc::new(Metrics::default()),
        )
        .unwrap();
        store.close().await.unwrap();
        let conn = Connection::open(&path).unwrap();
        for sql in [ROOM_MATCHES, EVERYWHERE_MATCHES] {
            let shown = plan(&conn, sql);
            assert!(shown.starts_with("SCAN s VIRTUAL TABLE INDEX"), "{shown}");
            assert!(
                shown.contains("SEARCH e USING PRIMARY KEY (room_id=? AND id=?)"),
                "{shown}"
            );
            assert!(!shown.contains("SCAN e"), "{shown}");
        }
        let room = plan(&conn, ROOM_MATCHES);
        assert!(
            !room.contains("TEMP B-TREE"),
            "newest first without sorting: {room}"
        );
    }

    #[test]
    fn a_rooms_rowids_hold_every_id_below_the_span() {
        assert_eq!(
            ID_SPAN, 68_719_476_736,
            "as the triggers of schema 7 spell it"
        );
        assert_eq!((1u64 << ROOM_SHIFT) - 1, 68_719_476_735);
    }
}
