//! Every key and `/command` of the main screen, each in one table that
//! both the handling and the help page read: [`KEYS`] is looked up by
//! [`lookup`] in [`crate::update`] and listed by the help popup, and so is
//! [`COMMANDS`] by [`command_named`]. A binding added here is handled and
//! documented at once.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key on the main screen does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCommand {
    Submit,
    CursorLeft,
    CursorRight,
    CursorHome,
    CursorEnd,
    WordLeft,
    WordRight,
    DeleteBefore,
    DeleteAt,
    DeleteWordBefore,
    DeleteToStart,
    DeleteToEnd,
    OlderLine,
    NewerLine,
    Complete,
    CompleteBack,
    ScrollUp,
    ScrollDown,
    ScrollToNewest,
    PreviousRoom,
    NextRoom,
    /// Go to the room at this index (Alt-1 is 0).
    GoToRoom(usize),
    Redraw,
    Quit,
}

/// The modifier a binding is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Nothing,
    Ctrl,
    Alt,
}

/// A key with the modifier held for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chord {
    pub held: Held,
    pub code: KeyCode,
}

const fn key(code: KeyCode) -> Chord {
    Chord {
        held: Held::Nothing,
        code,
    }
}

const fn ctrl(c: char) -> Chord {
    Chord {
        held: Held::Ctrl,
        code: KeyCode::Char(c),
    }
}

const fn ctrl_key(code: KeyCode) -> Chord {
    Chord {
        held: Held::Ctrl,
        code,
    }
}

const fn alt(code: KeyCode) -> Chord {
    Chord {
        held: Held::Alt,
        code,
    }
}

/// One row of the help page and the bindings it describes.
#[derive(Debug, Clone, Copy)]
pub struct KeyRow {
    pub keys: &'static str,
    pub what: &'static str,
    pub bindings: &'static [(Chord, KeyCommand)],
}

use KeyCode as K;
use KeyCommand as C;

/// The main screen's keys, in the order the help page lists them.
pub const KEYS: &[KeyRow] = &[
    KeyRow {
        keys: "Enter",
        what: "send the line (or run the /command)",
        bindings: &[(key(K::Enter), C::Submit)],
    },
    KeyRow {
        keys: "Left/Right, Home/End",
        what: "move the cursor (also Ctrl-B/F, Ctrl-A/E)",
        bindings: &[
            (key(K::Left), C::CursorLeft),
            (key(K::Right), C::CursorRight),
            (key(K::Home), C::CursorHome),
            (key(K::End), C::CursorEnd),
            (ctrl('a'), C::CursorHome),
            (ctrl('e'), C::CursorEnd),
            (ctrl('b'), C::CursorLeft),
            (ctrl('f'), C::CursorRight),
        ],
    },
    KeyRow {
        keys: "Ctrl-Left/Right",
        what: "move by word (also Alt-Left/Right, Alt-B/F)",
        bindings: &[
            (ctrl_key(K::Left), C::WordLeft),
            (ctrl_key(K::Right), C::WordRight),
            (alt(K::Left), C::WordLeft),
            (alt(K::Right), C::WordRight),
            (alt(K::Char('b')), C::WordLeft),
            (alt(K::Char('f')), C::WordRight),
        ],
    },
    KeyRow {
        keys: "Backspace/Delete",
        what: "delete a character (also Ctrl-H / Ctrl-D)",
        bindings: &[
            (key(K::Backspace), C::DeleteBefore),
            (key(K::Delete), C::DeleteAt),
            (ctrl('h'), C::DeleteBefore),
            (ctrl('d'), C::DeleteAt),
        ],
    },
    KeyRow {
        keys: "Ctrl-W / Ctrl-U / Ctrl-K",
        what: "delete word / to start / to end",
        bindings: &[
            (ctrl('w'), C::DeleteWordBefore),
            (ctrl('u'), C::DeleteToStart),
            (ctrl('k'), C::DeleteToEnd),
        ],
    },
    KeyRow {
        keys: "Alt-/Ctrl-Backspace",
        what: "delete the word before the cursor",
        bindings: &[
            (ctrl_key(K::Backspace), C::DeleteWordBefore),
            (alt(K::Backspace), C::DeleteWordBefore),
        ],
    },
    KeyRow {
        keys: "Up/Down",
        what: "your earlier lines",
        bindings: &[(key(K::Up), C::OlderLine), (key(K::Down), C::NewerLine)],
    },
    KeyRow {
        keys: "Tab / Shift-Tab",
        what: "complete a member name (repeat to cycle)",
        bindings: &[
            (key(K::Tab), C::Complete),
            (key(K::BackTab), C::CompleteBack),
        ],
    },
    KeyRow {
        keys: "PgUp/PgDn",
        what: "scroll history (older history is fetched)",
        bindings: &[
            (key(K::PageUp), C::ScrollUp),
            (key(K::PageDown), C::ScrollDown),
        ],
    },
    KeyRow {
        keys: "Esc",
        what: "back to the newest messages",
        bindings: &[(key(K::Esc), C::ScrollToNewest)],
    },
    KeyRow {
        keys: "Alt-Up/Down, Ctrl-P/N",
        what: "previous / next room",
        bindings: &[
            (alt(K::Up), C::PreviousRoom),
            (alt(K::Down), C::NextRoom),
            (ctrl('p'), C::PreviousRoom),
            (ctrl('n'), C::NextRoom),
        ],
    },
    KeyRow {
        keys: "Alt-1..9",
        what: "go to room 1..9",
        bindings: &[
            (alt(K::Char('1')), C::GoToRoom(0)),
            (alt(K::Char('2')), C::GoToRoom(1)),
            (alt(K::Char('3')), C::GoToRoom(2)),
            (alt(K::Char('4')), C::GoToRoom(3)),
            (alt(K::Char('5')), C::GoToRoom(4)),
            (alt(K::Char('6')), C::GoToRoom(5)),
            (alt(K::Char('7')), C::GoToRoom(6)),
            (alt(K::Char('8')), C::GoToRoom(7)),
            (alt(K::Char('9')), C::GoToRoom(8)),
        ],
    },
    KeyRow {
        keys: "Ctrl-L",
        what: "redraw the screen",
        bindings: &[(ctrl('l'), C::Redraw)],
    },
    KeyRow {
        keys: "Ctrl-C",
        what: "quit",
        bindings: &[(ctrl('c'), C::Quit)],
    },
];

/// What a key press on the main screen does, if it is bound. A character
/// with Ctrl (or else Alt) held means only its Ctrl (Alt) binding; any
/// other key takes its Ctrl or Alt binding when one is held and there is
/// one, else its plain binding. A plain character is typed text: `None`.
pub fn lookup(key: &KeyEvent) -> Option<KeyCommand> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let passes: &[Held] = match (key.code, ctrl, alt) {
        (KeyCode::Char(_), true, _) => &[Held::Ctrl],
        (KeyCode::Char(_), false, true) => &[Held::Alt],
        (KeyCode::Char(_), false, false) => &[],
        (_, true, true) => &[Held::Ctrl, Held::Alt, Held::Nothing],
        (_, true, false) => &[Held::Ctrl, Held::Nothing],
        (_, false, true) => &[Held::Alt, Held::Nothing],
        (_, false, false) => &[Held::Nothing],
    };
    passes.iter().find_map(|&held| {
        KEYS.iter()
            .flat_map(|row| row.bindings)
            .find(|(chord, _)| chord.held == held && chord.code == key.code)
            .map(|&(_, command)| command)
    })
}

/// What a `/command` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlashCommand {
    Join,
    Leave,
    Rooms,
    Who,
    Connect,
    Help,
    Quit,
}

/// One `/command`: the names it answers to (the first is the one shown).
#[derive(Debug, Clone, Copy)]
pub struct CommandRow {
    pub names: &'static [&'static str],
    pub usage: &'static str,
    pub what: &'static str,
    pub command: SlashCommand,
}

/// The commands, in the order the help page lists them.
pub const COMMANDS: &[CommandRow] = &[
    CommandRow {
        names: &["join", "j"],
        usage: "/join ROOM",
        what: "join a room (or switch to it)",
        command: SlashCommand::Join,
    },
    CommandRow {
        names: &["leave", "part"],
        usage: "/leave [ROOM]",
        what: "leave the current room (or ROOM)",
        command: SlashCommand::Leave,
    },
    CommandRow {
        names: &["rooms", "list"],
        usage: "/rooms",
        what: "browse the server's rooms; Enter joins",
        command: SlashCommand::Rooms,
    },
    CommandRow {
        names: &["who", "names"],
        usage: "/who",
        what: "list the members of this room",
        command: SlashCommand::Who,
    },
    CommandRow {
        names: &["connect", "reconnect"],
        usage: "/connect",
        what: "reconnect now (asks for a password if needed)",
        command: SlashCommand::Connect,
    },
    CommandRow {
        names: &["help", "h", "?"],
        usage: "/help",
        what: "this page",
        command: SlashCommand::Help,
    },
    CommandRow {
        names: &["quit", "exit", "q"],
        usage: "/quit",
        what: "quit",
        command: SlashCommand::Quit,
    },
];

/// The help row for a line that starts with `//`.
pub const LITERAL_SLASH: (&str, &str) = ("//text", "send a line starting with /");

/// The command a name (without `/`, any case) stands for.
pub fn command_named(name: &str) -> Option<SlashCommand> {
    let name = name.to_ascii_lowercase();
    COMMANDS
        .iter()
        .find(|row| row.names.contains(&name.as_str()))
        .map(|row| row.command)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> Option<KeyCommand> {
        lookup(&KeyEvent::new(code, modifiers))
    }

    #[test]
    fn lookup_follows_the_modifier_rules() {
        assert_eq!(press(K::Char('a'), KeyModifiers::NONE), None);
        assert_eq!(press(K::Char('A'), KeyModifiers::SHIFT), None);
        assert_eq!(
            press(K::Char('a'), KeyModifiers::CONTROL),
            Some(C::CursorHome)
        );
        // A character with Ctrl held means its Ctrl binding or nothing.
        assert_eq!(
            press(K::Char('1'), KeyModifiers::CONTROL | KeyModifiers::ALT),
            None
        );
        assert_eq!(press(K::Char('3'), KeyModifiers::ALT), Some(C::GoToRoom(2)));
        // Other keys fall back to their plain binding.
        assert_eq!(press(K::Enter, KeyModifiers::SHIFT), Some(C::Submit));
        assert_eq!(press(K::Up, KeyModifiers::CONTROL), Some(C::OlderLine));
        assert_eq!(
            press(K::Up, KeyModifiers::CONTROL | KeyModifiers::ALT),
            Some(C::PreviousRoom)
        );
        assert_eq!(press(K::Left, KeyModifiers::ALT), Some(C::WordLeft));
        assert_eq!(press(K::F(5), KeyModifiers::NONE), None);
    }

    /// How the help page names a key, without its modifier.
    fn key_name(code: KeyCode) -> String {
        match code {
            K::Char(c) => c.to_ascii_uppercase().to_string(),
            K::BackTab => "Shift-Tab".into(),
            K::PageUp => "PgUp".into(),
            K::PageDown => "PgDn".into(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn every_binding_is_named_on_its_help_row() {
        for row in KEYS {
            let text = format!("{} {}", row.keys, row.what);
            for (chord, _) in row.bindings {
                let name = key_name(chord.code);
                let modifier = match chord.held {
                    Held::Nothing => "",
                    Held::Ctrl => "Ctrl-",
                    Held::Alt => "Alt-",
                };
                // "Alt-1..9" names Alt-1 to Alt-9, "Ctrl-Left/Right" names
                // Ctrl-Right and "Ctrl-B/F" names Ctrl-F.
                let digit = name.chars().all(|c| c.is_ascii_digit()) && text.contains("1..9");
                assert!(
                    text.contains(modifier) && (text.contains(&name) || digit),
                    "{modifier}{name} is not named in {text:?}"
                );
            }
        }
    }

    #[test]
    fn no_chord_is_bound_twice_and_commands_have_unique_names() {
        let chords: Vec<Chord> = KEYS
            .iter()
            .flat_map(|row| row.bindings.iter().map(|(chord, _)| *chord))
            .collect();
        for (i, chord) in chords.iter().enumerate() {
            assert!(!chords[i + 1..].contains(chord), "{chord:?} bound twice");
        }
        let names: Vec<&str> = COMMANDS.iter().flat_map(|row| row.names).copied().collect();
        for (i, name) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(name), "/{name} named twice");
        }
        assert_eq!(command_named("J"), Some(SlashCommand::Join));
        assert_eq!(command_named("?"), Some(SlashCommand::Help));
        assert_eq!(command_named("nope"), None);
    }
}
