//! The input line's editor, the user's earlier lines for Up/Down, and Tab
//! completion in progress.

use unicode_segmentation::UnicodeSegmentation;

use crate::text;

/// The input's text editor: one line, or several separated by `\n`
/// (Alt-Enter, a paste, `$EDITOR`). `cursor` is a grapheme index so one
/// keystroke moves over one visible character, emoji and accents included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputLine {
    text: String,
    cursor: usize,
}

impl InputLine {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    fn graphemes(&self) -> Vec<&str> {
        self.text.graphemes(true).collect()
    }

    fn byte_at(&self, grapheme_index: usize) -> usize {
        self.text
            .grapheme_indices(true)
            .nth(grapheme_index)
            .map_or(self.text.len(), |(i, _)| i)
    }

    fn len(&self) -> usize {
        self.text.graphemes(true).count()
    }

    /// The text before the cursor.
    pub fn before_cursor(&self) -> &str {
        &self.text[..self.byte_at(self.cursor)]
    }

    /// The display width of the text before the cursor.
    pub fn cursor_column(&self) -> usize {
        text::width(&self.text[..self.byte_at(self.cursor)])
    }

    pub fn set(&mut self, text: impl Into<String>) {
        self.text = text.into();
        self.cursor = self.len();
    }

    pub fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.text)
    }

    pub fn insert_str(&mut self, s: &str) {
        let at = self.byte_at(self.cursor);
        let before = self.len();
        self.text.insert_str(at, s);
        // Inserting can merge with a neighbouring grapheme (a combining
        // mark), so move by how much the count grew.
        self.cursor += self.len() - before;
    }

    pub fn insert(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.insert_str(c.encode_utf8(&mut buf));
    }

    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.len());
    }

    /// To the start of the cursor's line.
    pub fn home(&mut self) {
        self.cursor = self.line_start(self.cursor);
    }

    /// To the end of the cursor's line.
    pub fn end(&mut self) {
        self.cursor = self.line_end(self.cursor);
    }

    /// How many lines the text has.
    pub fn line_count(&self) -> usize {
        self.text.split('\n').count()
    }

    /// The cursor's line (0 is the first) and its grapheme index in it.
    pub fn cursor_line(&self) -> (usize, usize) {
        let before = self.before_cursor();
        let line = before.matches('\n').count();
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[start..].graphemes(true).count())
    }

    /// Up a line, to the same grapheme index or the line's end; false on
    /// the first line.
    pub fn line_up(&mut self) -> bool {
        let start = self.line_start(self.cursor);
        if start == 0 {
            return false;
        }
        let column = self.cursor - start;
        let above = self.line_start(start - 1);
        self.cursor = (above + column).min(start - 1);
        true
    }

    /// Down a line, to the same grapheme index or the line's end; false
    /// on the last line.
    pub fn line_down(&mut self) -> bool {
        let end = self.line_end(self.cursor);
        if end >= self.len() {
            return false;
        }
        let column = self.cursor - self.line_start(self.cursor);
        let below = end + 1;
        self.cursor = (below + column).min(self.line_end(below));
        true
    }

    /// The grapheme index where the line holding index `at` starts.
    fn line_start(&self, at: usize) -> usize {
        let g = self.graphemes();
        let mut i = at.min(g.len());
        while i > 0 && g[i - 1] != "\n" {
            i -= 1;
        }
        i
    }

    /// The grapheme index of the `\n` ending the line holding `at` (or
    /// the text's end).
    fn line_end(&self, at: usize) -> usize {
        let g = self.graphemes();
        let mut i = at.min(g.len());
        while i < g.len() && g[i] != "\n" {
            i += 1;
        }
        i
    }

    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.delete_range(self.cursor - 1, self.cursor);
        }
    }

    pub fn delete(&mut self) {
        if self.cursor < self.len() {
            self.delete_range(self.cursor, self.cursor + 1);
        }
    }

    /// Ctrl-W: the word before the cursor and the spaces after it.
    pub fn delete_word_before(&mut self) {
        let start = self.word_start_before(self.cursor);
        self.delete_range(start, self.cursor);
    }

    /// Ctrl-U: everything before the cursor.
    pub fn delete_to_start(&mut self) {
        self.delete_range(0, self.cursor);
    }

    /// Ctrl-K: everything from the cursor on.
    pub fn delete_to_end(&mut self) {
        let len = self.len();
        self.delete_range(self.cursor, len);
    }

    pub fn word_left(&mut self) {
        self.cursor = self.word_start_before(self.cursor);
    }

    pub fn word_right(&mut self) {
        let g = self.graphemes();
        let mut i = self.cursor;
        while i < g.len() && is_space(g[i]) {
            i += 1;
        }
        while i < g.len() && !is_space(g[i]) {
            i += 1;
        }
        self.cursor = i;
    }

    /// The start of the word that ends at `at` (spaces before `at` skipped).
    pub fn word_start_before(&self, at: usize) -> usize {
        let g = self.graphemes();
        let mut i = at.min(g.len());
        while i > 0 && is_space(g[i - 1]) {
            i -= 1;
        }
        while i > 0 && !is_space(g[i - 1]) {
            i -= 1;
        }
        i
    }

    /// The text between two grapheme indices.
    pub fn slice(&self, from: usize, to: usize) -> &str {
        &self.text[self.byte_at(from)..self.byte_at(to)]
    }

    /// Replaces the graphemes `from..to` with `with`, leaving the cursor
    /// after the replacement.
    pub fn replace_range(&mut self, from: usize, to: usize, with: &str) {
        self.delete_range(from, to);
        self.cursor = from;
        self.insert_str(with);
    }

    fn delete_range(&mut self, from: usize, to: usize) {
        let (a, b) = (self.byte_at(from), self.byte_at(to));
        self.text.replace_range(a..b, "");
        self.cursor = from;
    }
}

fn is_space(g: &str) -> bool {
    g.chars().all(char::is_whitespace)
}

/// The user's own earlier lines, for Up/Down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputHistory {
    lines: Vec<String>,
    /// Index into `lines` while browsing.
    browsing: Option<usize>,
    /// What was typed before browsing started, restored past the newest.
    draft: String,
}

/// How many earlier lines Up can reach.
pub const INPUT_HISTORY_MAX: usize = 500;

impl InputHistory {
    pub fn push(&mut self, line: &str) {
        self.browsing = None;
        if self.lines.last().map(String::as_str) != Some(line) {
            self.lines.push(line.to_owned());
            if self.lines.len() > INPUT_HISTORY_MAX {
                self.lines.remove(0);
            }
        }
    }

    /// The line before the one shown, if any; `current` is what the input
    /// holds now (kept as the draft when browsing starts).
    pub fn older(&mut self, current: &str) -> Option<&str> {
        let next = match self.browsing {
            None if self.lines.is_empty() => return None,
            None => {
                self.draft = current.to_owned();
                self.lines.len() - 1
            }
            Some(0) => return None,
            Some(i) => i - 1,
        };
        self.browsing = Some(next);
        Some(&self.lines[next])
    }

    /// The line after the one shown, or the draft past the newest.
    pub fn newer(&mut self) -> Option<&str> {
        let i = self.browsing?;
        if i + 1 < self.lines.len() {
            self.browsing = Some(i + 1);
            Some(&self.lines[i + 1])
        } else {
            self.browsing = None;
            Some(&self.draft)
        }
    }

    pub fn stop_browsing(&mut self) {
        self.browsing = None;
    }
}

/// Tab completion in progress: repeated Tabs cycle through `candidates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Grapheme index where the completed word starts.
    pub start: usize,
    pub candidates: Vec<String>,
    pub index: usize,
    /// The input text right after the last completion; any other text
    /// means the user edited the line and a Tab starts a new completion.
    pub applied: String,
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_line_edits_by_grapheme() {
        let mut line = InputLine::default();
        for c in "héllo 世界".chars() {
            line.insert(c);
        }
        assert_eq!(line.cursor_column(), 10);
        line.left();
        line.backspace();
        assert_eq!(line.text(), "héllo 界");
        line.home();
        line.delete();
        assert_eq!(line.text(), "éllo 界");
        line.end();
        line.delete_word_before();
        assert_eq!(line.text(), "éllo ");
        line.delete_word_before();
        assert_eq!(line.text(), "");
        line.set("one two three");
        line.word_left();
        line.delete_to_end();
        assert_eq!(line.text(), "one two ");
        line.word_left();
        line.delete_to_start();
        assert_eq!((line.text(), line.cursor()), ("two ", 0));
        line.word_right();
        assert_eq!(line.cursor(), 3);
        // A flag emoji is one grapheme made of two chars.
        line.set("🇫🇷x");
        line.left();
        line.left();
        assert_eq!(line.cursor(), 0);
        line.delete();
        assert_eq!(line.text(), "x");
    }

    #[test]
    fn lines_of_a_multi_line_input_are_walked_by_up_down_home_end() {
        let mut line = InputLine::default();
        line.set("first line\nab\nthird");
        assert_eq!((line.line_count(), line.cursor_line()), (3, (2, 5)));
        assert!(line.line_up());
        assert_eq!(line.cursor_line(), (1, 2), "kept within the shorter line");
        assert!(line.line_up());
        assert_eq!(line.cursor_line(), (0, 2));
        assert!(!line.line_up());
        line.end();
        assert_eq!(line.cursor_line(), (0, 10));
        assert!(line.line_down());
        line.home();
        assert_eq!(line.cursor_line(), (1, 0));
        line.insert('\n');
        assert_eq!(line.text(), "first line\n\nab\nthird");
        assert_eq!(line.cursor_line(), (2, 0));
        assert!(line.line_down());
        assert!(!line.line_down());
        assert_eq!(line.cursor_line(), (3, 0));
    }

    #[test]
    fn input_history_browses_and_restores_the_draft() {
        let mut h = InputHistory::default();
        assert_eq!(h.older("draft"), None);
        h.push("one");
        h.push("two");
        h.push("two");
        assert_eq!(h.older("draft"), Some("two"));
        assert_eq!(h.older("ignored"), Some("one"));
        assert_eq!(h.older("ignored"), None);
        assert_eq!(h.newer(), Some("two"));
        assert_eq!(h.newer(), Some("draft"));
        assert_eq!(h.newer(), None);
    }
}
