//! The client's whole state as plain data, one module per thing modelled:
//! rooms with their history ([`room`]), where a pane is scrolled to
//! ([`scroll`]), the outbox of unacknowledged lines ([`outbox`]), the
//! input line, its history and completion ([`input`]), the connection
//! ([`conn`]), picking and fixing messages ([`fix`]), the rooms browser ([`browser`]), the search popup ([`search`]), mentions ([`mention`]),
//! room-management requests ([`request`]), who is typing ([`typing`])
//! and wall-clock time ([`time`]).
//! Nothing here performs I/O: [`crate::update`] changes it, [`crate::ui`]
//! draws it.

pub mod browser;
pub mod conn;
pub mod fix;
pub mod input;
pub mod mention;
pub mod outbox;
pub mod request;
pub mod room;
pub mod scroll;
pub mod search;
pub mod time;
pub mod typing;

use std::time::Instant;

pub use browser::RoomBrowser;
pub use conn::ConnState;
pub use fix::{Compose, ComposeKind, ReactPrompt, apply_fix};
pub use input::{Completion, INPUT_HISTORY_MAX, InputHistory, InputLine};
pub use mention::mentions;
pub use outbox::{Outbox, Pending};
pub use request::{Confirm, RoomRequest};
pub use room::{Entry, Level, Membership, Older, Room, RoomSync};
pub use scroll::{Scroll, Viewport};
pub use search::{Jump, SearchView};
pub use time::TimeZone;
pub use typing::{TYPING_SEND_INTERVAL, TYPING_SHOWN, Typing};

use crate::keybind::Keymap;
use crate::keymap::Chord;
use crate::state::{SavedRoom, SavedState};

/// What has the keyboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    Rooms(RoomBrowser),
    /// Masked password entry.
    Password(InputLine),
    /// A paste of more lines than `paste_max_lines` waits for a yes
    /// before it goes into the input.
    ConfirmPaste(String),
    /// A yes-or-no question before a request that cannot be undone.
    Confirm(Confirm),
    /// A message of the current room is picked (by its id): the pick keys
    /// act on it.
    Pick(u64),
    /// Which reaction to put on a message.
    React(ReactPrompt),
    /// The search popup (Ctrl-F, `/search`).
    Search(SearchView),
}

/// Pastes of more lines than this ask before going into the input, unless
/// the config file says otherwise (`paste_max_lines`; 0 never asks), as
/// weechat's `paste_max_lines` does with the same default.
pub const PASTE_MAX_LINES: usize = 100;

/// Where a room is on screen, as last drawn: a click there selects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomTarget {
    pub area: ratatui::layout::Rect,
    pub index: usize,
}

/// The help page: how far it is scrolled, and how far it can be and how
/// far a page moves as it was last drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HelpView {
    pub scroll: usize,
    pub max_scroll: usize,
    pub page: usize,
}

/// What a draw showed that paging depends on: the current room's history
/// pane and, when open, the help page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drawn {
    pub history: Viewport,
    pub help: Option<HelpView>,
    /// The rooms in the sidebar or the room bar, for mouse clicks.
    pub rooms: Vec<RoomTarget>,
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
    /// Where the help page is scrolled to while it is open.
    pub help: HelpView,
    /// The key bindings in effect.
    pub keymap: Keymap,
    /// The first key of a two-key binding, pressed just before.
    pub key_prefix: Option<Chord>,
    /// Pastes of more lines than this ask first; 0 never asks.
    pub paste_max_lines: usize,
    /// Where the rooms were drawn last, for mouse clicks.
    pub room_targets: Vec<RoomTarget>,
    /// The protocol the server said it speaks in `welcome` (0 before one).
    pub protocol: u32,
    /// `welcome` said this session is a server admin's.
    pub admin: bool,
    /// The input is a reply or an edit, not a plain line.
    pub compose: Option<Compose>,
    /// Tell the room when we type (`send_typing` in the config file).
    pub send_typing: bool,
    /// How a mention or a conversation message is announced.
    pub notify: NotifySettings,
    /// Announcements made by the last update, handed out as effects.
    pub alerts: Vec<Alert>,
    /// The server refused a `read` as a type it does not serve: it keeps
    /// no read markers, so none are sent until the next `welcome`.
    pub reads_unserved: bool,
    /// A found message to show once its room's page holding it loads.
    pub jump: Option<Jump>,
}

/// How a mention or a conversation message is announced: the terminal
/// bell, a desktop notification through the terminal (OSC 9 and OSC 777),
/// both or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifySettings {
    pub bell: bool,
    pub desktop: bool,
}

impl Default for NotifySettings {
    /// The bell on, desktop notifications off: a terminal that does not know
    /// OSC 9 or 777 may show them as text, every terminal knows the bell.
    fn default() -> Self {
        Self {
            bell: true,
            desktop: false,
        }
    }
}

/// A mention or conversation message to announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// `#room` or `@bob`.
    pub place: String,
    pub from: String,
    pub text: String,
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
            help: HelpView::default(),
            keymap: Keymap::default(),
            key_prefix: None,
            paste_max_lines: PASTE_MAX_LINES,
            room_targets: Vec::new(),
            protocol: 0,
            admin: false,
            compose: None,
            send_typing: false,
            notify: NotifySettings::default(),
            alerts: Vec::new(),
            reads_unserved: false,
            jump: None,
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
        // Requests for a room no longer joined could never be sent.
        let pending: Vec<_> = saved
            .outbox
            .iter()
            .filter(|p| self.room_index(&p.room).is_some())
            .cloned()
            .collect();
        self.outbox.restore(saved.next_ref, &pending);
    }

    /// What is saved for the next run: the rooms we are in (not those we
    /// were put out of or only invited to).
    pub fn saved_state(&self) -> SavedState {
        let (ref_prefix, next_ref, outbox) = self.outbox.saved();
        SavedState {
            version: 0,
            rooms: self
                .rooms
                .iter()
                .filter(|r| r.is_member())
                .map(|r| SavedRoom {
                    name: r.name.clone(),
                    last_read: r.last_read,
                })
                .collect(),
            current: self.current_room().map(|r| r.name.clone()),
            ref_prefix: Some(ref_prefix),
            next_ref,
            outbox,
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

    /// Keeps what the last draw showed (the current room's pane, the help
    /// page), for paging; set by the runner after every draw.
    pub fn drawn(&mut self, drawn: Drawn) {
        if let Some(room) = self.current_room_mut() {
            room.viewport = drawn.history;
        }
        if let Some(help) = drawn.help {
            self.help = help;
        }
        self.room_targets = drawn.rooms;
    }
}
#[cfg(test)]
mod tests {
    use super::*;

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
            ..SavedState::default()
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
