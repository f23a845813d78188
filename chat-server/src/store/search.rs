//! Searching message text the same way in both stores: a [`SearchQuery`]
//! (the words, already folded and bounded, and where to look), how each
//! backend's full-text syntax spells it, and cutting the rows a query
//! returned into a [`SearchPage`]. Each backend keeps only its SQL
//! (`sqlite_search`, `postgres_search`).

use chat_proto::{Entry, Message, RoomName};

/// A longer query is refused (`bad_frame`), before any word is read.
pub const MAX_SEARCH_QUERY_CHARS: usize = 256;
/// At most this many words are matched; the rest of a query is ignored,
/// so one request's index work stays bounded.
pub const MAX_SEARCH_WORDS: usize = 8;
/// A word longer than this is cut to it: a prefix of that length still
/// finds the word.
pub const MAX_SEARCH_WORD_CHARS: usize = 64;

/// Where a search looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchScope {
    /// One room, ids below `before` (all when `None`), newest id first.
    Room { room: RoomName, before: Option<u64> },
    /// Every room the searcher may read, `ts` below `before_ts`, newest
    /// `ts` first.
    Everywhere { before_ts: Option<i64> },
}

/// A search as the stores run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// Lower case, each non-empty and of letters and digits only, at most
    /// [`MAX_SEARCH_WORDS`]; a message matches when it holds every one of
    /// them as a word or a word's prefix.
    pub words: Vec<String>,
    pub scope: SearchScope,
    pub limit: u32,
}

/// Matching messages, newest first, and whether the page was cut.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPage {
    pub messages: Vec<Message>,
    pub more: bool,
}

/// The words of a query as the indexes see words: runs of letters and
/// digits, lower case, bounded by [`MAX_SEARCH_WORDS`] and
/// [`MAX_SEARCH_WORD_CHARS`]. Both SQLite's `unicode61` tokenizer and
/// PostgreSQL's `simple` parser split text at everything else.
pub fn query_words(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(MAX_SEARCH_WORDS)
        .map(|word| {
            word.chars()
                .take(MAX_SEARCH_WORD_CHARS)
                .flat_map(char::to_lowercase)
                .collect()
        })
        .collect()
}

impl SearchQuery {
    /// The FTS5 `MATCH` expression: every word as a quoted prefix, which
    /// FTS5 joins with AND. Words hold no quote (letters and digits only).
    pub(crate) fn fts5_match(&self) -> String {
        self.words
            .iter()
            .map(|word| format!("\"{word}\"*"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The `to_tsquery('simple', …)` text: every word quoted, as a prefix
    /// (`:*`), joined with `&`.
    pub(crate) fn tsquery(&self) -> String {
        self.words
            .iter()
            .map(|word| format!("'{word}':*"))
            .collect::<Vec<_>>()
            .join(" & ")
    }

    /// Rows to fetch: one beyond the limit tells whether the page was cut.
    pub(crate) fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// The page from the rows fetched, newest first: the messages among
    /// them, at most `limit`.
    pub(crate) fn finish(&self, rows: Vec<Entry>) -> SearchPage {
        let limit = self.limit as usize;
        let more = rows.len() > limit;
        let messages = rows
            .into_iter()
            .take(limit)
            .filter_map(|entry| match entry {
                Entry::Message(message) if !message.deleted => Some(message),
                _ => None,
            })
            .collect();
        SearchPage { messages, more }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(words: &[&str]) -> SearchQuery {
        SearchQuery {
            words: words.iter().map(|w| (*w).to_owned()).collect(),
            scope: SearchScope::Everywhere { before_ts: None },
            limit: 2,
        }
    }

    #[test]
    fn words_are_runs_of_letters_and_digits_folded_and_bounded() {
        assert_eq!(
            query_words("Release-NOTES, v2.0 «Ünïcode»"),
            ["release", "notes", "v2", "0", "ünïcode"]
        );
        assert_eq!(query_words(" \"*:& ' "), Vec::<String>::new());
        assert_eq!(query_words(&"a ".repeat(20)).len(), MAX_SEARCH_WORDS);
        assert_eq!(
            query_words(&"x".repeat(100))[0].chars().count(),
            MAX_SEARCH_WORD_CHARS
        );
    }

    #[test]
    fn each_backend_gets_every_word_as_a_prefix() {
        let q = query(&["release", "no"]);
        assert_eq!(q.fts5_match(), "\"release\"* \"no\"*");
        assert_eq!(q.tsquery(), "'release':* & 'no':*");
        assert_eq!(q.fetch(), 3);
    }
}
