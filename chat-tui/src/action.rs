//! The one enum of everything that can change the client's state: a key, a
//! paste, a resize, something from the network task, a clock tick, or a
//! request from outside to stop.

use crossterm::event::{Event, KeyEvent, KeyEventKind};

use crate::net::NetEvent;

/// An input to [`crate::update::update`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Key(KeyEvent),
    /// Bracketed paste: inserted into the input as typed text.
    Paste(String),
    Resize {
        width: u16,
        height: u16,
    },
    /// A network event: socket state change or a server frame.
    Net(NetEvent),
    /// One second passed: countdowns, deferred resends, saving state.
    Tick,
    /// The process was asked to stop (SIGTERM, SIGHUP): quit as with Ctrl-C.
    Terminate,
}

impl Action {
    /// The action for a terminal event, if it is one the client cares about.
    pub fn from_terminal(event: Event) -> Option<Action> {
        match event {
            // Key releases arrive only on terminals with the kitty protocol
            // enabled; a press (or auto-repeat) is what the user meant.
            Event::Key(key) if key.kind != KeyEventKind::Release => Some(Action::Key(key)),
            Event::Paste(text) => Some(Action::Paste(text)),
            Event::Resize(width, height) => Some(Action::Resize { width, height }),
            _ => None,
        }
    }
}
