//! SQLite's side of search: keeping the `search` FTS5 index (schema 7,
//! `schema/sqlite_07_search.sql`; indexed in batches since schema 8, no
//! column sizes since 9) on
//! the writer thread, and reading it on the reader thread. A message's index
//! rowid is `room_id << 36 | id`, so one room's matches are one rowid
//! range that FTS5 walks newest first and stops at the limit; a search of
//! every room reads every match and keeps those of rooms the searcher may
//! read, newest `ts` first.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chat_proto::Entry;
use rusqlite::{Connection, params};
use tokio::sync::{Notify, mpsc};

use super::JoinState;
use super::rows::attach_reactions;
use super::search::{SearchPage, SearchQuery, SearchScope};
use super::sqlite::stored_entry;
use super::sqlite_fixable::page_reactions;
use super::sqlite_rooms::{folded, join_state};
use super::{Actor, Refusal};

/// How far a room id is shifted in an index rowid: ids below 2^36 fit.
const ROOM_SHIFT: u32 = 36;
/// The largest message id an index rowid holds, plus one.
const ID_SPAN: u64 = 1 << ROOM_SHIFT;

/// The largest room id an index rowid holds, plus one.
const ROOM_SPAN: i64 = 1 << 27;

/// One room's messages the index lacks: ids in `(after, through]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Unindexed {
    pub room_id: i64,
    pub after: u64,
    pub through: u64,
}

/// The messages of the ranges in `?1` (a JSON array of `[room_id, after,
/// through]`), each range read by primary key.
const INDEX_RANGES: &str = "INSERT INTO search (rowid, text)
     SELECT (e.room_id << 36) | e.id, e.text FROM json_each(?1) AS r CROSS JOIN entries AS e
     WHERE e.room_id = r.value ->> 0 AND e.id > r.value ->> 1 AND e.id <= r.value ->> 2
       AND e.id < ?2 AND e.room_id < ?3 AND e.kind = 0 AND e.deleted = 0";

/// Indexes every range's messages as they read now (an edit made
/// meanwhile is indexed by its new text, a deleted message not at all),
/// and records each range's end as its room's mark, in the caller's
/// transaction. One statement for all of them: FTS5 flushes what it
/// holds at each statement that writes to it, so a statement per room
/// would write a segment per room.
pub(super) fn index_ranges(conn: &Connection, ranges: &[Unindexed]) -> rusqlite::Result<()> {
    if ranges.is_empty() {
        return Ok(());
    }
    let ranges = ranges
        .iter()
        .map(|r| format!("[{},{},{}]", r.room_id, r.after, r.through))
        .collect::<Vec<_>>()
        .join(",");
    let ranges = format!("[{ranges}]");
    conn.prepare_cached(INDEX_RANGES)?
        .execute(params![ranges, ID_SPAN, ROOM_SPAN])?;
    conn.prepare_cached(
        "UPDATE rooms SET indexed_through = r.value ->> 2 FROM json_each(?1) AS r
         WHERE rooms.id = r.value ->> 0",
    )?
    .execute([ranges])
    .map(drop)
}

/// The rooms holding messages the index does not have yet, kept by the
/// writer. New messages are indexed in batches, off the commit path:
/// FTS5 writes an index segment per transaction it is fed in, so one
/// message per commit costs several times what a batch of a thousand
/// does per message (`chat-bench/scripts/fts_trigger_sketch.py`). A batch
/// runs once [`BACKLOG_ROWS`] entries wait, [`BACKLOG_DELAY`] after the
/// first one when fewer do, before every search (so a search finds every
/// message acknowledged before it) and at close.
pub(super) struct SearchBacklog {
    rooms: HashSet<String>,
    entries: usize,
    /// Tells the store's timer that the backlog is no longer empty.
    wake: Arc<Notify>,
    /// The last try to index failed.
    failing: bool,
}

/// Entries waiting that make the writer index them after its commit.
pub(super) const BACKLOG_ROWS: usize = 512;
/// The most entries one indexing transaction takes: an append that
/// arrives meanwhile waits for one chunk (a few milliseconds), not for a
/// whole backlog (a database written by another program, a crash under
/// load). Big enough that FTS5 writes few segments.
const CHUNK_ENTRIES: usize = 256;

/// Rooms taken from the backlog for one indexing transaction: those with
/// messages to index, each with its range, and those found with none.
#[derive(Debug, Default)]
pub(super) struct Chunk {
    pub rooms: Vec<String>,
    pub ranges: Vec<Unindexed>,
    pub caught_up: Vec<String>,
    /// The room whose range stops short of its newest message.
    cut: Option<String>,
    entries: usize,
}
/// How long the newest messages may wait unindexed when nobody searches.
pub(super) const BACKLOG_DELAY: Duration = Duration::from_millis(250);

impl SearchBacklog {
    /// The backlog of rooms found at open with messages above their mark
    /// (the process stopped before it indexed them).
    pub(super) fn new<'a>(behind: impl Iterator<Item = &'a str>, wake: Arc<Notify>) -> Self {
        let mut backlog = Self {
            rooms: HashSet::new(),
            entries: 0,
            wake,
            failing: false,
        };
        behind.for_each(|room| backlog.note(room));
        backlog
    }

    /// An entry stored in `room` (the writer's transaction committed or
    /// not: a room with nothing above its mark is skipped).
    pub(super) fn note(&mut self, room: &str) {
        if self.rooms.is_empty() {
            self.wake.notify_one();
        }
        if !self.rooms.contains(room) {
            self.rooms.insert(room.to_owned());
        }
        self.entries += 1;
    }

    pub(super) fn is_due(&self) -> bool {
        self.entries >= BACKLOG_ROWS
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// The next rooms to index, at most [`CHUNK_ENTRIES`] entries of
    /// them (the last room's range cut short when it holds more), by
    /// what `range` says each room lacks (nothing for a room it does not
    /// know).
    pub(super) fn chunk(&self, range: impl Fn(&str) -> Option<Unindexed>) -> Chunk {
        let mut chunk = Chunk::default();
        for room in self.rooms.iter().take(CHUNK_ENTRIES) {
            let left = (CHUNK_ENTRIES - chunk.entries) as u64;
            if left == 0 {
                break;
            }
            let Some(mut behind) = range(room).filter(|r| r.through > r.after) else {
                chunk.caught_up.push(room.clone());
                continue;
            };
            if behind.through - behind.after > left {
                behind.through = behind.after + left;
                chunk.cut = Some(room.clone());
            }
            chunk.entries += (behind.through - behind.after) as usize;
            chunk.rooms.push(room.clone());
            chunk.ranges.push(behind);
        }
        chunk
    }

    /// The chunk is in the index now: its rooms leave the backlog, but
    /// for the one whose range was cut short.
    pub(super) fn done(&mut self, chunk: &Chunk) {
        for room in chunk.rooms.iter().chain(&chunk.caught_up) {
            if chunk.cut.as_ref() != Some(room) {
                self.rooms.remove(room);
            }
        }
        self.entries = match self.rooms.is_empty() {
            true => 0,
            false => self.entries.saturating_sub(chunk.entries),
        };
    }

    /// A try to index failed: true when the one before did not.
    pub(super) fn failed(&mut self) -> bool {
        !std::mem::replace(&mut self.failing, true)
    }

    pub(super) fn recovered(&mut self) {
        self.failing = false;
    }

    /// Lets the timer run once more, to see that the writer has stopped.
    pub(super) fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The store's timer: [`BACKLOG_DELAY`] after the backlog stops being
/// empty, asks the writer (through `ask`) to index it. Stops once the
/// writer's queue is closed.
pub(super) async fn index_later<C>(
    commands: mpsc::WeakSender<C>,
    wake: Arc<Notify>,
    ask: impl Fn() -> C,
) {
    loop {
        wake.notified().await;
        tokio::time::sleep(BACKLOG_DELAY).await;
        let Some(commands) = commands.upgrade() else {
            return;
        };
        if commands.send(ask()).await.is_err() {
            return;
        }
    }
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
    use std::path::Path;
    use std::sync::Arc;

    use chat_proto::{RoomName, UserName};

    use super::*;
    use crate::metrics::Metrics;
    use crate::store::search::query_words;
    use crate::store::{
        Change, CommitListener, Committed, ConnId, MessageStore, NewEntry, Outcome, Seen,
        SqliteStore, SyncMode,
    };

    struct Quiet;

    impl CommitListener for Quiet {
        fn committed(&self, _batch: &[Committed]) {}
    }

    fn open(path: &Path) -> SqliteStore {
        SqliteStore::open(
            path,
            SyncMode::Normal,
            Arc::new(Quiet),
            Arc::new(Metrics::default()),
        )
        .unwrap()
    }

    fn alice() -> Actor {
        Actor {
            name: UserName::parse("alice").unwrap(),
            registered: true,
            admin: false,
        }
    }

    /// Stores `change` in `room` as alice's; its id.
    async fn stored_in(store: &SqliteStore, room: &str, change: Change, reference: &str) -> u64 {
        let entry = NewEntry {
            room: RoomName::parse(room).unwrap(),
            actor: alice(),
            change,
            reference: Some(reference.into()),
            origin: ConnId(1),
            seen: Seen::default(),
        };
        match store.queue_entry(entry).await.unwrap().await.unwrap() {
            Outcome::Stored(id) => id,
            other => panic!("not stored: {other:?}"),
        }
    }

    /// Stores `change` in room `r` as alice's; its id.
    async fn stored(store: &SqliteStore, change: Change, reference: &str) -> u64 {
        stored_in(store, "r", change, reference).await
    }

    fn message(text: &str) -> Change {
        Change::Message {
            text: text.into(),
            reply_to: None,
            action: false,
        }
    }

    /// The ids of room `r`'s messages matching `words`, newest first.
    async fn found(store: &SqliteStore, words: &str) -> Vec<u64> {
        let query = SearchQuery {
            words: query_words(words),
            scope: SearchScope::Room {
                room: RoomName::parse("r").unwrap(),
                before: None,
            },
            limit: 50,
        };
        let page = store.search(&alice(), query).await.unwrap().unwrap();
        page.messages.iter().map(|m| m.id).collect()
    }

    /// FTS5's own check that the index holds exactly what the messages
    /// read (`rank` 1: against the content, not just within itself).
    fn index_matches_messages(path: &Path) -> rusqlite::Result<()> {
        Connection::open(path)?
            .execute(
                "INSERT INTO search (search, rank) VALUES ('integrity-check', 1)",
                [],
            )
            .map(drop)
    }

    #[tokio::test]
    async fn edits_and_deletes_before_and_after_indexing_keep_the_index_true() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let store = open(&path);
        let first = stored(&store, message("alpha one"), "m1").await;
        let second = stored(&store, message("beta two"), "m2").await;
        let third = stored(&store, message("gamma three"), "m3").await;
        // Likely before the backlog's timer has indexed them.
        let edit = Change::Edit {
            target: first,
            text: "delta one".into(),
        };
        stored(&store, edit, "e1").await;
        stored(&store, Change::Delete { target: second }, "d1").await;
        assert_eq!(found(&store, "alpha").await, Vec::<u64>::new());
        assert_eq!(found(&store, "delta").await, [first]);
        assert_eq!(found(&store, "beta").await, Vec::<u64>::new());
        assert_eq!(found(&store, "one").await, [first]);
        // Indexed by the search above: the triggers keep this one.
        let edit = Change::Edit {
            target: third,
            text: "epsilon three".into(),
        };
        stored(&store, edit, "e2").await;
        assert_eq!(found(&store, "gamma").await, Vec::<u64>::new());
        assert_eq!(found(&store, "epsilon").await, [third]);
        store.close().await.unwrap();
        index_matches_messages(&path).unwrap();
    }

    /// Stores one message in each of `rooms` through the store, then
    /// writes `more` messages after it in each, around the index, as a
    /// program other than the server (or a crash before indexing) would.
    async fn write_around_the_index(path: &Path, rooms: &[&str], more: u64) {
        let store = open(path);
        for room in rooms {
            stored_in(&store, room, message("first"), "first").await;
        }
        store.close().await.unwrap();
        let mut conn = Connection::open(path).unwrap();
        let tx = conn.transaction().unwrap();
        for room in rooms {
            let room_id: i64 = tx
                .query_row("SELECT id FROM rooms WHERE name = ?1", [room], |row| {
                    row.get(0)
                })
                .unwrap();
            for id in 2..=more + 1 {
                tx.execute(
                    "INSERT INTO entries (room_id, id, user, text, ts) VALUES (?1, ?2, 'alice', ?3, 0)",
                    params![room_id, id, format!("word{id}z in {room}")],
                )
                .unwrap();
            }
            tx.execute(
                "UPDATE rooms SET last_id = ?1 WHERE id = ?2",
                params![more + 1, room_id],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }

    #[tokio::test]
    async fn a_backlog_larger_than_a_chunk_is_indexed_before_a_search_answers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        // Three rooms of 1,500 unindexed messages: more than one chunk.
        write_around_the_index(&path, &["p", "q", "r"], 1500).await;
        let store = open(&path);
        assert_eq!(found(&store, "word1501z").await, [1501]);
        assert_eq!(found(&store, "word2z").await, [2]);
        store.close().await.unwrap();
        index_matches_messages(&path).unwrap();
    }

    #[tokio::test]
    async fn messages_a_crash_left_unindexed_are_indexed_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let first = open(&path);
        let id = stored(&first, message("lost words"), "m1").await;
        first.close().await.unwrap();
        // As if the process had died before its backlog was indexed.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "INSERT INTO search (search, rowid, text)
                 SELECT 'delete', (room_id << 36) | id, text FROM entries;
             UPDATE rooms SET indexed_through = 0;",
        )
        .unwrap();
        assert!(index_matches_messages(&path).is_err(), "the index lacks it");
        drop(conn);
        let again = open(&path);
        assert_eq!(found(&again, "lost").await, [id]);
        again.close().await.unwrap();
        index_matches_messages(&path).unwrap();
    }

    /// A schema-8 file (an index with column sizes, one message indexed
    /// and one above the mark) opened by this server: the index is made
    /// again without them and holds both messages.
    #[tokio::test]
    async fn a_schema_8_index_is_made_again_without_column_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let conn = Connection::open(&path).unwrap();
        for migration in &crate::store::sqlite::MIGRATIONS[..8] {
            conn.execute_batch(migration).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 8;
             INSERT INTO rooms (id, name, last_id, created_at, indexed_through)
                 VALUES (1, 'r', 2, 0, 1);
             INSERT INTO entries (room_id, id, user, text, ts) VALUES
                 (1, 1, 'alice', 'indexed before', 0),
                 (1, 2, 'alice', 'waiting after', 0);
             INSERT INTO search (rowid, text) VALUES ((1 << 36) | 1, 'indexed before');",
        )
        .unwrap();
        drop(conn);
        let store = open(&path);
        assert_eq!(found(&store, "indexed").await, [1]);
        assert_eq!(found(&store, "waiting").await, [2]);
        store.close().await.unwrap();
        let conn = Connection::open(&path).unwrap();
        let docsize: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'search_docsize')",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert!(!docsize, "the index still keeps column sizes");
        let automerge: i64 = conn
            .query_row(
                "SELECT v FROM search_config WHERE k = 'automerge'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(automerge, 8);
        index_matches_messages(&path).unwrap();
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
        open(&path).close().await.unwrap();
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
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {INDEX_RANGES}"))
            .unwrap();
        let backlog = stmt
            .query_map(params!["[[1,0,5]]", ID_SPAN, ROOM_SPAN], |row| {
                row.get::<_, String>(3)
            })
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
            .join("; ");
        assert!(
            backlog.contains("SEARCH e USING PRIMARY KEY (room_id=? AND id>? AND id<?)"),
            "a backlog range is read by key: {backlog}"
        );
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
