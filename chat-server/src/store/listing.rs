//! Room listings the same way from both stores: a [`RoomQuery`]'s SQL
//! parameters and the page cut from what the query returned. Both stores
//! walk the rooms' name index from `after` and stop one row past the
//! limit, so a page costs the same however many rooms there are.

use super::{RoomPage, RoomQuery, StoredRoom};

/// A room query as SQL parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListingBounds {
    /// Matched with `instr`/`strpos`, which find `""` in every name.
    pub contains: String,
    /// `""` sorts before every name.
    pub after: String,
    /// Rows to fetch: one beyond the limit tells whether the page was cut.
    pub fetch: i64,
    limit: usize,
}

impl RoomQuery {
    pub(crate) fn bounds(&self) -> ListingBounds {
        ListingBounds {
            contains: self.contains.clone().unwrap_or_default(),
            after: self.after.clone().unwrap_or_default(),
            fetch: i64::from(self.limit) + 1,
            limit: self.limit as usize,
        }
    }
}

impl ListingBounds {
    /// The page from the rows the query returned, in name order.
    pub(crate) fn finish(&self, mut rooms: Vec<StoredRoom>) -> RoomPage {
        let more = rooms.len() > self.limit;
        rooms.truncate(self.limit);
        RoomPage { rooms, more }
    }
}

/// Logs, once (when the migration that retires them runs), the accounts
/// that lost their name to an earlier spelling.
pub(crate) fn log_retired(retired: &[(String, String)]) {
    for (name, kept) in retired {
        tracing::warn!(
            retired = %name,
            kept = %kept,
            "names are now unique regardless of case: account {name} was registered after \
             {kept} and is retired (it can no longer log in; its row is in retired_accounts)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> StoredRoom {
        StoredRoom {
            name: name.into(),
            last_id: 1,
            topic: String::new(),
            private: false,
        }
    }

    #[test]
    fn a_page_fetches_one_more_and_says_when_it_was_cut() {
        let query = RoomQuery {
            contains: None,
            after: Some("b".into()),
            limit: 2,
        };
        let bounds = query.bounds();
        assert_eq!((bounds.contains.as_str(), bounds.after.as_str()), ("", "b"));
        assert_eq!(bounds.fetch, 3);
        let page = bounds.finish(vec![room("c"), room("d"), room("e")]);
        assert_eq!(page.rooms, [room("c"), room("d")]);
        assert!(page.more);
        assert!(!bounds.finish(vec![room("c")]).more);
    }
}
