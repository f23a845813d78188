//! The search popup (Ctrl-F, `/search TEXT`): the query being typed, the
//! server's answer being browsed, and a jump to a found message that waits
//! for its room's history to load.

use chat_proto::Message;

use super::InputLine;

/// The search popup's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchView {
    /// The query being typed.
    pub input: InputLine,
    /// The query the shown results answer (`None` before the first).
    pub asked: Option<String>,
    /// Sent and not yet answered.
    pub waiting: bool,
    /// Newest first, as the server answered.
    pub results: Vec<Message>,
    /// The server has more matches than it sent.
    pub more: bool,
    /// Index into `results`.
    pub selected: usize,
}

impl SearchView {
    /// Whether the typed query is the one the results answer, so Enter
    /// jumps instead of asking again.
    pub fn answered(&self) -> bool {
        !self.waiting
            && !self.results.is_empty()
            && self.asked.as_deref() == Some(self.input.text().trim())
    }

    pub fn chosen(&self) -> Option<&Message> {
        self.results.get(self.selected)
    }

    /// The query's words, lower case, for drawing the matches.
    pub fn words(&self) -> Vec<String> {
        self.asked
            .as_deref()
            .unwrap_or_default()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    }
}

/// A found message to show in its room once the page holding it has
/// loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jump {
    pub room: String,
    pub id: u64,
}
