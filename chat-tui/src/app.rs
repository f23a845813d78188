//! The client's whole state as plain data: rooms in join order with their
//! messages, unread counts, mention flags and scroll offsets; the input line
//! with its cursor and history; the connection state; and the outbox of
//! lines the server has not acknowledged yet. Nothing here performs I/O:
//! [`crate::update`] changes it, [`crate::ui`] draws it.

use std::collections::BTreeSet;
use std::time::Instant;

use chat_proto::{Message, RoomInfo};
use chrono::{DateTime, FixedOffset, NaiveDateTime};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

use crate::state::{SavedRoom, SavedState};

/// How timestamps are turned into wall-clock time on screen. Tests pin a
/// fixed offset so snapshots do not depend on the machine's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeZone {
    Local,
    Fixed(FixedOffset),
}

impl TimeZone {
    pub fn utc() -> Self {
        TimeZone::Fixed(FixedOffset::east_opt(0).expect("zero is a valid offset"))
    }

    /// The wall-clock time of a protocol timestamp (ms since the epoch).
    pub fn datetime(self, ts_ms: i64) -> NaiveDateTime {
        let utc = DateTime::from_timestamp_millis(ts_ms).unwrap_or_default();
        match self {
            TimeZone::Local => utc.with_timezone(&chrono::Local).naive_local(),
            TimeZone::Fixed(offset) => utc.with_timezone(&offset).naive_local(),
        }
    }
}

/// Where the connection stands, as the user sees it in the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// Opening the socket.
    Connecting,
    /// Socket open, `hello` sent, no `welcome` yet. The epoch numbers the
    /// socket so frames meant for an older one are never sent on a newer one.
    Handshaking {
        epoch: u64,
    },
    Online {
        epoch: u64,
        guest: bool,
    },
    /// Disconnected; the network task retries at `retry_at`.
    Waiting {
        retry_at: Instant,
        reason: String,
    },
    /// The server refused the login; nothing happens until the user gives a
    /// password.
    NeedPassword {
        reason: String,
    },
}

impl ConnState {
    /// The socket epoch frames may be sent on, if any.
    pub fn epoch(&self) -> Option<u64> {
        match self {
            ConnState::Handshaking { epoch } | ConnState::Online { epoch, .. } => Some(*epoch),
            _ => None,
        }
    }

    pub fn is_online(&self) -> bool {
        matches!(self, ConnState::Online { .. })
    }
}

/// Where a room stands in joining and catching up on the current socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomSync {
    /// No socket, or not joined on this one yet.
    Offline,
    /// `join` sent; `since` is what it asked for.
    Joining { since: Option<u64> },
    /// `joined` said `more`: paging forward with `history` `after`.
    CatchingUp,
    /// Caught up: live messages are shown as they come, lines are sent.
    Live,
}

/// Whether older history than what is loaded exists on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Older {
    /// Not known yet (joined with `since`): ask when the user scrolls there.
    Unknown,
    /// The server said there is more.
    Available,
    /// A `history` `before` request is in flight.
    Loading,
    /// The oldest message is loaded.
    Exhausted,
}

/// How loud a notice line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// One line of a room's history pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Message(Message),
    Join {
        user: String,
        ts: i64,
    },
    Leave {
        user: String,
        ts: i64,
    },
    /// Client-side information or a server error, not a chat message.
    Notice {
        text: String,
        ts: i64,
        level: Level,
    },
}

impl Entry {
    pub fn ts(&self) -> i64 {
        match self {
            Entry::Message(m) => m.ts,
            Entry::Join { ts, .. } | Entry::Leave { ts, .. } | Entry::Notice { ts, .. } => *ts,
        }
    }

    pub fn message_id(&self) -> Option<u64> {
        match self {
            Entry::Message(m) => Some(m.id),
            _ => None,
        }
    }
}

/// One joined room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub name: String,
    /// Loaded history in display order: messages ascending by id, with
    /// join/leave and notices where they happened.
    pub entries: Vec<Entry>,
    pub members: BTreeSet<String>,
    /// The newest message id shown; anything at or below it that arrives
    /// again is a duplicate and dropped.
    pub last_seen: u64,
    /// Whether `last_seen` is a real position to resume from (`join`
    /// `since`), even when it is 0 because the room was empty.
    pub position_known: bool,
    /// The newest message id the user has had on screen; persisted.
    pub last_read: u64,
    pub unread: u32,
    pub mentioned: bool,
    /// Rows scrolled up from the bottom; 0 follows new messages.
    pub scroll: usize,
    pub sync: RoomSync,
    pub older: Older,
    /// Live messages that arrived while paging forward; shown once the
    /// pages are in, so ids stay in order and dedupe holds.
    pub held_live: Vec<Message>,
    /// Draw a "new messages" marker after this id (set when the user
    /// switches to a room that had unread messages).
    pub new_marker: Option<u64>,
    /// Fetch a page of older history once caught up, so a room resumed
    /// from saved state shows some context above the unread messages.
    pub want_context: bool,
}

impl Room {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            entries: Vec::new(),
            members: BTreeSet::new(),
            last_seen: 0,
            position_known: false,
            last_read: 0,
            unread: 0,
            mentioned: false,
            scroll: 0,
            sync: RoomSync::Offline,
            older: Older::Unknown,
            held_live: Vec::new(),
            new_marker: None,
            want_context: false,
        }
    }

    /// The `since` to join with: the last id shown once a position is
    /// known, else the last id read in an earlier run, else none (newest).
    pub fn resume_since(&self) -> Option<u64> {
        if self.position_known {
            Some(self.last_seen)
        } else if self.last_read > 0 {
            Some(self.last_read)
        } else {
            None
        }
    }

    /// The oldest loaded message id.
    pub fn oldest_id(&self) -> Option<u64> {
        self.entries.iter().find_map(Entry::message_id)
    }

    pub fn has_messages(&self) -> bool {
        self.entries.iter().any(|e| matches!(e, Entry::Message(_)))
    }
}

/// A line typed by the user that the server has not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub reference: String,
    pub room: String,
    pub text: String,
    /// When it was typed (ms since the epoch), for the screen.
    pub typed_ms: i64,
    /// How many times it was sent, over all sockets. A line never sent
    /// cannot have been stored, so it is never matched to a stored copy.
    pub attempts: u32,
    /// Sent on the current socket and not answered yet.
    pub in_flight: bool,
    /// Not to be sent again before this (after `rate_limited`).
    pub retry_at: Option<Instant>,
}

/// Lines not acknowledged yet, in the order typed, each with a unique `ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    pub entries: Vec<Pending>,
    next_ref: u64,
    /// Makes refs unique across runs of the client, so an old run's ack can
    /// never be mistaken for this run's.
    ref_prefix: String,
}

impl Outbox {
    pub fn new(ref_prefix: impl Into<String>) -> Self {
        Self {
            entries: Vec::new(),
            next_ref: 1,
            ref_prefix: ref_prefix.into(),
        }
    }

    /// Queues a line and returns its `ref`.
    pub fn push(&mut self, room: &str, text: &str, typed_ms: i64) -> String {
        let reference = format!("{}{}", self.ref_prefix, self.next_ref);
        self.next_ref += 1;
        self.entries.push(Pending {
            reference: reference.clone(),
            room: room.to_owned(),
            text: text.to_owned(),
            typed_ms,
            attempts: 0,
            in_flight: false,
            retry_at: None,
        });
        reference
    }

    /// Removes and returns the entry with this `ref` (its acknowledgement).
    pub fn take_by_ref(&mut self, reference: &str) -> Option<Pending> {
        let index = self.entries.iter().position(|p| p.reference == reference)?;
        Some(self.entries.remove(index))
    }

    /// Removes the oldest sent-but-unanswered line in `room` with exactly
    /// `text`: a stored copy of it came back in history without a `ref`
    /// because the socket died between storing and acknowledging.
    pub fn take_stored_copy(&mut self, room: &str, text: &str) -> Option<Pending> {
        let index = self
            .entries
            .iter()
            .position(|p| p.room == room && p.text == text && p.attempts > 0 && !p.in_flight)?;
        Some(self.entries.remove(index))
    }

    pub fn by_ref_mut(&mut self, reference: &str) -> Option<&mut Pending> {
        self.entries.iter_mut().find(|p| p.reference == reference)
    }

    pub fn in_room<'a>(&'a self, room: &'a str) -> impl Iterator<Item = &'a Pending> + 'a {
        self.entries.iter().filter(move |p| p.room == room)
    }

    /// The socket is gone: nothing is in flight any more.
    pub fn connection_lost(&mut self) {
        for p in &mut self.entries {
            p.in_flight = false;
        }
    }
}

/// A single-line text editor. `cursor` is a grapheme index so one
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

    /// The display width of the text before the cursor.
    pub fn cursor_column(&self) -> usize {
        self.text[..self.byte_at(self.cursor)].width()
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

    pub fn home(&mut self) {
        self.cursor = 0;
    }

    pub fn end(&mut self) {
        self.cursor = self.len();
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

/// The `rooms` answer being browsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomBrowser {
    pub rooms: Vec<RoomInfo>,
    /// Typed text narrowing the list.
    pub filter: String,
    /// Index into the filtered list.
    pub selected: usize,
}

impl RoomBrowser {
    pub fn visible(&self) -> Vec<&RoomInfo> {
        let filter = self.filter.to_ascii_lowercase();
        self.rooms
            .iter()
            .filter(|r| r.name.contains(&filter))
            .collect()
    }
}

/// What has the keyboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    Rooms(RoomBrowser),
    /// Masked password entry.
    Password(InputLine),
}

/// Terminal size in cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub width: u16,
    pub height: u16,
}

/// The client's state.
#[derive(Debug, Clone)]
pub struct App {
    pub server: String,
    /// The name asked for, replaced by the server's in `welcome`.
    pub user: String,
    pub password: Option<String>,
    pub rooms: Vec<Room>,
    /// Index into `rooms`; meaningless while `rooms` is empty.
    pub current: usize,
    /// Notices shown while no room is joined.
    pub status_log: Vec<Entry>,
    pub input: InputLine,
    pub sent_lines: InputHistory,
    pub completion: Option<Completion>,
    pub conn: ConnState,
    /// Set once a `welcome` arrived, to tell a reconnect from a first connect.
    pub ever_online: bool,
    /// Why the last attempt to connect failed, shown once per new reason
    /// rather than on every retry.
    pub last_failure: Option<String>,
    /// The last refusal explained to the user (e.g. name taken), so
    /// retries do not repeat it; cleared by a `welcome`.
    pub last_refusal: Option<String>,
    /// The server refused this socket with an error that was already
    /// shown, so its closing needs no second explanation.
    pub refused: bool,
    pub outbox: Outbox,
    pub mode: Mode,
    pub size: Size,
    /// The clock, set by the runner before each update so `update` stays pure.
    pub now: Instant,
    pub now_ms: i64,
    pub time_zone: TimeZone,
    /// Something visible changed since the last draw.
    pub needs_redraw: bool,
    /// Saved state is out of date; written on the next tick.
    pub state_dirty: bool,
    /// `/rooms` was asked for and its answer should open the browser.
    pub awaiting_rooms: bool,
}

impl App {
    pub fn new(server: impl Into<String>, user: impl Into<String>, ref_prefix: &str) -> Self {
        Self {
            server: server.into(),
            user: user.into(),
            password: None,
            rooms: Vec::new(),
            current: 0,
            status_log: Vec::new(),
            input: InputLine::default(),
            sent_lines: InputHistory::default(),
            completion: None,
            conn: ConnState::Connecting,
            ever_online: false,
            last_failure: None,
            last_refusal: None,
            refused: false,
            outbox: Outbox::new(ref_prefix),
            mode: Mode::Normal,
            size: Size {
                width: 80,
                height: 24,
            },
            now: Instant::now(),
            now_ms: 0,
            time_zone: TimeZone::Local,
            needs_redraw: true,
            state_dirty: false,
            awaiting_rooms: false,
        }
    }

    /// Adds the saved rooms (in saved order) and then `extra` rooms not
    /// already among them; the current room becomes `prefer` if given, else
    /// the saved current one.
    pub fn restore(&mut self, saved: &SavedState, extra: &[String], prefer: Option<&str>) {
        for SavedRoom { name, last_read } in &saved.rooms {
            if self.room_index(name).is_none() {
                let mut room = Room::new(name.clone());
                room.last_read = *last_read;
                room.want_context = *last_read > 0;
                self.rooms.push(room);
            }
        }
        for name in extra {
            if self.room_index(name).is_none() {
                self.rooms.push(Room::new(name.clone()));
            }
        }
        let want = prefer.or(saved.current.as_deref());
        if let Some(index) = want.and_then(|n| self.room_index(n)) {
            self.current = index;
        }
    }

    /// What is saved for the next run.
    pub fn saved_state(&self) -> SavedState {
        SavedState {
            version: 0,
            rooms: self
                .rooms
                .iter()
                .map(|r| SavedRoom {
                    name: r.name.clone(),
                    last_read: r.last_read,
                })
                .collect(),
            current: self.current_room().map(|r| r.name.clone()),
        }
    }

    pub fn room_index(&self, name: &str) -> Option<usize> {
        self.rooms.iter().position(|r| r.name == name)
    }

    pub fn current_room(&self) -> Option<&Room> {
        self.rooms.get(self.current)
    }

    pub fn current_room_mut(&mut self) -> Option<&mut Room> {
        self.rooms.get_mut(self.current)
    }
}

/// Whether `text` mentions `name` as a whole word, ignoring ASCII case:
/// "hi Alice!" and "@alice:" do, "malice" and "alice_bot" do not. A name's
/// own punctuation (`.` `-`) ends a word only when no name character
/// follows it, so "alice." at the end of a sentence still counts.
pub fn mentions(text: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let hay = text.as_bytes();
    let needle = name.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let is_name_char = |b: u8| is_word(b) || b == b'.' || b == b'-';
    let mut start = 0;
    while start + needle.len() <= hay.len() {
        let end = start + needle.len();
        if hay[start..end].eq_ignore_ascii_case(needle) {
            let before_ok = start == 0 || !is_name_char(hay[start - 1]);
            let after_ok = match hay.get(end) {
                None => true,
                Some(&b) if is_word(b) => false,
                Some(&b) if b == b'.' || b == b'-' => {
                    !hay.get(end + 1).is_some_and(|&n| is_word(n))
                }
                Some(_) => true,
            };
            if before_ok && after_ok {
                return true;
            }
        }
        start += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mention_is_a_case_insensitive_word_match() {
        for yes in [
            "alice",
            "hi Alice!",
            "@alice: look",
            "ALICE, hey",
            "thanks alice.",
            "(alice)",
            "ping alice-",
        ] {
            assert!(mentions(yes, "alice"), "{yes}");
        }
        for no in [
            "malice",
            "alice_bot",
            "alices",
            "alice.b",
            "bob.alice",
            "",
            "al ice",
        ] {
            assert!(!mentions(no, "alice"), "{no}");
        }
        assert!(mentions("hey j.doe!", "j.doe"));
        assert!(!mentions("hey xj.doe", "j.doe"));
    }

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

    #[test]
    fn outbox_matches_stored_copies_only_for_lines_sent_before() {
        let mut outbox = Outbox::new("t-");
        let r1 = outbox.push("lobby", "hi", 0);
        let r2 = outbox.push("lobby", "hi", 0);
        assert_eq!((r1.as_str(), r2.as_str()), ("t-1", "t-2"));
        // Never sent: cannot have been stored.
        assert_eq!(outbox.take_stored_copy("lobby", "hi"), None);
        for p in &mut outbox.entries {
            p.attempts = 1;
        }
        assert_eq!(outbox.take_stored_copy("rust", "hi"), None);
        assert_eq!(
            outbox.take_stored_copy("lobby", "hi").map(|p| p.reference),
            Some(r1)
        );
        assert_eq!(outbox.take_by_ref(&r2).map(|p| p.text), Some("hi".into()));
        assert!(outbox.entries.is_empty());
    }

    #[test]
    fn restore_keeps_saved_order_and_adds_new_rooms() {
        let mut app = App::new("ws://x/ws", "alice", "r");
        let saved = SavedState {
            version: 1,
            rooms: vec![
                SavedRoom {
                    name: "b".into(),
                    last_read: 7,
                },
                SavedRoom {
                    name: "a".into(),
                    last_read: 0,
                },
            ],
            current: Some("a".into()),
        };
        app.restore(&saved, &["a".into(), "c".into()], None);
        let names: Vec<_> = app.rooms.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["b", "a", "c"]);
        assert_eq!(app.current, 1);
        assert_eq!(app.rooms[0].resume_since(), Some(7));
        assert_eq!(app.rooms[1].resume_since(), None);
        assert_eq!(app.saved_state().rooms[0].last_read, 7);
        assert_eq!(app.saved_state().current.as_deref(), Some("a"));
    }
}
