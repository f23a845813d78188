//! One joined room: its loaded history (messages, room changes, presence,
//! notices), members, what the server said of the room (topic, owner, ops,
//! privacy, our role), whether we are in it, read position, unread counts,
//! sync state on the current socket and where its pane is scrolled to.

use std::collections::BTreeSet;

use chat_proto::{Message, RoomDetails};

use crate::app::scroll::{Scroll, Viewport};
use crate::app::typing::Typing;

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
    /// A `topic`, `role`, `kick`, `ban`, `unban`, `invite` or `settings`
    /// entry of the room's stream, drawn as a dim system line. Messages are
    /// always [`Entry::Message`]; edits, deletions and reactions change the
    /// message they target instead of adding a line.
    Change(chat_proto::Entry),
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
            Entry::Change(e) => e.ts(),
            Entry::Join { ts, .. } | Entry::Leave { ts, .. } | Entry::Notice { ts, .. } => *ts,
        }
    }

    pub fn message_id(&self) -> Option<u64> {
        match self {
            Entry::Message(m) => Some(m.id),
            _ => None,
        }
    }

    /// The id in the room's stream, for messages and room changes.
    pub fn stream_id(&self) -> Option<u64> {
        match self {
            Entry::Message(m) => Some(m.id),
            Entry::Change(e) => Some(e.id()),
            _ => None,
        }
    }
}

/// Whether we are in a room of the list, and if not, why it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    /// Joined, or to be joined on every connect.
    Member,
    /// Put out by a kick or ban (`why` says by whom, and the reason): kept
    /// in the list so it does not silently vanish, not joined again until
    /// `/join`.
    Removed { why: String },
    /// `by` invited us; joined on Enter (or `/join`).
    Invited { by: String },
}

/// One joined room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub name: String,
    /// Loaded history in display order: messages ascending by id, with
    /// join/leave and notices where they happened.
    pub entries: Vec<Entry>,
    pub members: BTreeSet<String>,
    /// The room's topic, owner, ops, privacy and our role, as the last
    /// `joined` said and the entries since changed them. `None` from a
    /// protocol-1 server, which tells none of it.
    pub details: Option<RoomDetails>,
    pub membership: Membership,
    /// The newest entry id shown; anything at or below it that arrives
    /// again is a duplicate and dropped.
    pub last_seen: u64,
    /// Whether `last_seen` is a real position to resume from (`join`
    /// `since`), even when it is 0 because the room was empty.
    pub position_known: bool,
    /// The newest message id the user has had on screen; persisted.
    pub last_read: u64,
    pub unread: u32,
    pub mentioned: bool,
    /// Where the pane is scrolled to; [`Scroll::Bottom`] follows new lines.
    pub scroll: Scroll,
    /// The pane as last drawn, for paging.
    pub viewport: Viewport,
    pub sync: RoomSync,
    pub older: Older,
    /// Live messages that arrived while paging forward; shown once the
    /// pages are in, so ids stay in order and dedupe holds.
    pub held_live: Vec<chat_proto::Entry>,
    /// Draw a "new messages" marker after this id (set when the user
    /// switches to a room that had unread messages).
    pub new_marker: Option<u64>,
    /// Fetch a page of older history once caught up, so a room resumed
    /// from saved state shows some context above the unread messages.
    pub want_context: bool,
    /// `/clear`: the pane shows only the entries from this index on (the
    /// history itself is kept, on the server and here).
    pub cleared: usize,
    /// Edits, deletions and reactions of messages older than what is
    /// loaded, in id order: applied if the message comes in an older page
    /// (one built before them would not show them).
    pub unplaced_fixes: Vec<chat_proto::Entry>,
    /// Who is typing here.
    pub typing: Typing,
    /// When we last told the room we are typing.
    pub typing_sent: Option<std::time::Instant>,
    /// The newest id the server knows we read (sent by us, or told by the
    /// server); a `read` goes out only when `last_read` passes it.
    pub read_sent: u64,
    /// `unread` already counts every entry up to this id (the server's
    /// `rooms mine` said so), so catching up does not count them again.
    pub unread_counted_to: u64,
}

impl Room {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            entries: Vec::new(),
            members: BTreeSet::new(),
            details: None,
            membership: Membership::Member,
            last_seen: 0,
            position_known: false,
            last_read: 0,
            unread: 0,
            mentioned: false,
            scroll: Scroll::Bottom,
            viewport: Viewport::default(),
            sync: RoomSync::Offline,
            older: Older::Unknown,
            held_live: Vec::new(),
            new_marker: None,
            want_context: false,
            cleared: 0,
            unplaced_fixes: Vec::new(),
            typing: Typing::default(),
            typing_sent: None,
            read_sent: 0,
            unread_counted_to: 0,
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

    /// The oldest loaded entry id (message or room change).
    pub fn oldest_id(&self) -> Option<u64> {
        self.entries.iter().find_map(Entry::stream_id)
    }

    pub fn is_member(&self) -> bool {
        self.membership == Membership::Member
    }

    /// Whether this is a direct conversation (`@alice+bob`).
    pub fn is_conversation(&self) -> bool {
        self.name.starts_with('@')
    }

    /// The name the list shows: `@bob` for a conversation with bob, else
    /// the room's name.
    pub fn label(&self, me: &str) -> String {
        match self.name.strip_prefix('@').and_then(|n| n.split_once('+')) {
            Some((a, b)) if a.eq_ignore_ascii_case(me) => format!("@{b}"),
            Some((a, _)) => format!("@{a}"),
            None => self.name.clone(),
        }
    }

    /// How the room is named in sentences: `#lobby`, or `@bob` for a
    /// conversation with bob.
    pub fn place(&self, me: &str) -> String {
        if self.is_conversation() {
            self.label(me)
        } else {
            format!("#{}", self.name)
        }
    }

    pub fn has_messages(&self) -> bool {
        self.entries.iter().any(|e| matches!(e, Entry::Message(_)))
    }
}
