//! The one enum of everything that can change the client's state: a key,
//! characters typed in a burst, a paste, the mouse, what the editor left,
//! a resize, something from the network task, a clock tick, or a request
//! from outside to stop.

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use crate::net::NetEvent;

/// An input to [`crate::update::update`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Key(KeyEvent),
    /// Plain characters typed one after another and read together (an
    /// unbracketed paste, keys sent by a script): the same as one `Key` per
    /// character, applied at once.
    Typed(String),
    /// Bracketed paste: inserted into the input with its lines kept.
    Paste(String),
    /// The wheel turned, or the left button went down.
    Mouse(MouseEvent),
    /// `$EDITOR` finished: the text it left, or why there is none.
    Edited(Result<String, String>),
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
            // Capture reports every move too; only these mean something.
            Event::Mouse(
                mouse @ MouseEvent {
                    kind:
                        MouseEventKind::ScrollUp
                        | MouseEventKind::ScrollDown
                        | MouseEventKind::Down(MouseButton::Left),
                    ..
                },
            ) => Some(Action::Mouse(mouse)),
            Event::Resize(width, height) => Some(Action::Resize { width, height }),
            _ => None,
        }
    }

    /// The character this is as plain typing (no Ctrl or Alt held).
    fn typed_char(&self) -> Option<char> {
        match self {
            Action::Key(key)
                if !key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                match key.code {
                    KeyCode::Char(c) => Some(c),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// Actions read together, with each run of plain characters joined into
/// one [`Action::Typed`] so a burst of keys costs one edit, not one each.
pub fn coalesce(actions: Vec<Action>) -> Vec<Action> {
    let mut out: Vec<Action> = Vec::with_capacity(actions.len());
    for action in actions {
        let Some(c) = action.typed_char() else {
            out.push(action);
            continue;
        };
        match out.last_mut() {
            Some(Action::Typed(text)) => text.push(c),
            _ => out.push(Action::Typed(c.to_string())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> Action {
        Action::Key(KeyEvent::new(code, modifiers))
    }

    #[test]
    fn runs_of_plain_characters_are_joined_and_everything_else_kept() {
        let actions = vec![
            key(KeyCode::Char('h'), KeyModifiers::NONE),
            key(KeyCode::Char('I'), KeyModifiers::SHIFT),
            key(KeyCode::Char('w'), KeyModifiers::CONTROL),
            key(KeyCode::Char('x'), KeyModifiers::NONE),
            key(KeyCode::Enter, KeyModifiers::NONE),
            Action::Tick,
            key(KeyCode::Char('y'), KeyModifiers::NONE),
        ];
        assert_eq!(
            coalesce(actions),
            vec![
                Action::Typed("hI".into()),
                key(KeyCode::Char('w'), KeyModifiers::CONTROL),
                Action::Typed("x".into()),
                key(KeyCode::Enter, KeyModifiers::NONE),
                Action::Tick,
                Action::Typed("y".into()),
            ]
        );
    }
}
