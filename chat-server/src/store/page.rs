//! Reading the same way from both stores: a [`Page`]'s bounds, cutting
//! and ordering what the query returned, the rooms a join need not create,
//! and the schema-version rule.

use std::collections::HashSet;
use std::sync::Mutex;

use chat_proto::{Entry, RoomName};

use super::{HistoryPage, Page, StoreError};
use crate::sync::lock;

/// Which side of its bound a page reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Ids below the bound, newest first (`ORDER BY id DESC`).
    Older,
    /// Ids above the bound, oldest first (`ORDER BY id ASC`).
    Newer,
}

/// A page as a query asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub direction: Direction,
    /// The exclusive id bound, as SQL's signed integer.
    pub bound: i64,
    /// Rows to fetch: one beyond the limit tells whether the page was cut.
    pub fetch: i64,
    limit: u32,
}

impl Page {
    pub(crate) fn bounds(self) -> Bounds {
        let (direction, bound, limit) = match self {
            Page::Newest { limit } => (Direction::Older, i64::MAX, limit),
            Page::Before { id, limit } => (Direction::Older, to_sql_id(id), limit),
            Page::After { id, limit } => (Direction::Newer, to_sql_id(id), limit),
        };
        Bounds {
            direction,
            bound,
            fetch: i64::from(limit) + 1,
            limit,
        }
    }
}

impl Bounds {
    /// Turns the rows the query returned, in its order, into a page in
    /// ascending id order that says whether it was cut at its limit.
    pub(crate) fn finish(&self, mut entries: Vec<Entry>) -> HistoryPage {
        let limit = self.limit as usize;
        let more = entries.len() > limit;
        entries.truncate(limit);
        if self.direction == Direction::Older {
            entries.reverse();
        }
        HistoryPage { entries, more }
    }
}

/// A message id as SQL stores it.
pub(crate) fn to_sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// A message id as SQL returned it.
pub(crate) fn from_sql_id(id: i64) -> u64 {
    u64::try_from(id).unwrap_or(0)
}

/// Rooms known to exist, so a join skips the write that creates one.
/// A room leaves it when the store forgets it (a room that never held an
/// entry, once empty) on this node; a join that finds a known room gone
/// (another node forgot it) or deleted makes it again through the writer,
/// and a room forgotten while a joiner was on its way is made again by
/// its first message.
#[derive(Debug, Default)]
pub(crate) struct KnownRooms(Mutex<HashSet<RoomName>>);

impl KnownRooms {
    pub(crate) fn new(rooms: impl IntoIterator<Item = RoomName>) -> Self {
        Self(Mutex::new(rooms.into_iter().collect()))
    }

    pub(crate) fn contains(&self, room: &RoomName) -> bool {
        lock(&self.0).contains(room)
    }

    pub(crate) fn insert(&self, room: RoomName) {
        lock(&self.0).insert(room);
    }

    pub(crate) fn remove(&self, room: &RoomName) {
        lock(&self.0).remove(room);
    }
}

/// The migrations a database at schema version `found` still needs, or
/// why it cannot be used: written by a newer server.
pub(crate) fn pending_migrations<'a>(
    found: usize,
    migrations: &'a [&'a str],
) -> Result<&'a [&'a str], StoreError> {
    migrations.get(found..).ok_or_else(|| {
        StoreError::Database(format!(
            "the database has schema version {found}, newer than this server's {}",
            migrations.len()
        ))
    })
}

#[cfg(test)]
mod tests {
    use chat_proto::Message;

    use super::*;

    fn message(id: u64) -> Entry {
        Entry::Message(Message {
            room: "r".into(),
            id,
            user: "u".into(),
            text: String::new(),
            ts: 0,
            reference: None,
            ..Message::default()
        })
    }

    fn finish(page: Page, ids: &[u64]) -> (Vec<u64>, bool) {
        let page = page
            .bounds()
            .finish(ids.iter().copied().map(message).collect());
        (page.entries.iter().map(Entry::id).collect(), page.more)
    }

    #[test]
    fn pages_fetch_one_extra_row_and_come_out_ascending() {
        let newest = Page::Newest { limit: 2 }.bounds();
        assert_eq!(
            (newest.direction, newest.bound, newest.fetch),
            (Direction::Older, i64::MAX, 3)
        );
        assert_eq!(
            finish(Page::Newest { limit: 2 }, &[9, 8, 7]),
            (vec![8, 9], true)
        );
        assert_eq!(
            finish(Page::Before { id: 3, limit: 5 }, &[2, 1]),
            (vec![1, 2], false)
        );
        assert_eq!(
            finish(Page::After { id: 2, limit: 2 }, &[3, 4, 5]),
            (vec![3, 4], true)
        );
        assert_eq!(
            Page::After {
                id: u64::MAX,
                limit: 1
            }
            .bounds()
            .bound,
            i64::MAX
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let migrations = ["one", "two"];
        assert_eq!(pending_migrations(1, &migrations).unwrap(), ["two"]);
        assert!(pending_migrations(2, &migrations).unwrap().is_empty());
        let err = pending_migrations(3, &migrations).unwrap_err();
        assert!(
            err.to_string()
                .contains("schema version 3, newer than this server's 2"),
            "{err}"
        );
    }
}
