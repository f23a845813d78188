//! Every key and `/command` of the main screen, each in one table that
//! both the handling and the help page read: [`KEYS`] is looked up by
//! [`lookup`] in [`crate::update`] and listed by the help popup, and so is
//! [`COMMANDS`] by [`command_named`]. A binding added here is handled and
//! documented at once. The table holds the defaults; the config file may
//! change them ([`crate::keybind`] builds the bindings in effect).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key on the main screen does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCommand {
    Submit,
    /// Put a new line in the input (the message is sent as several lines).
    NewLine,
    /// Compose the input in `$VISUAL` / `$EDITOR`.
    Editor,
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
    /// Open the search popup (as `/search`).
    Search,
    Quit,
    /// Pick a message of the history with the keyboard ([`PICK_KEYS`]).
    Pick,
    /// In pick mode: the message above / below the picked one.
    PickOlder,
    PickNewer,
    /// In pick mode: answer the picked message.
    PickReply,
    /// In pick mode: change the text of the picked message (your own).
    PickEdit,
    /// In pick mode: delete the picked message (yours, or any as op/owner).
    PickDelete,
    /// In pick mode: react to the picked message (a prompt with a quick set).
    PickReact,
    /// Leave pick mode.
    PickLeave,
}

impl KeyCommand {
    /// Whether the command is one of pick mode's ([`PICK_KEYS`]), whose
    /// keys may be plain characters.
    pub fn is_pick_mode(self) -> bool {
        matches!(
            self,
            KeyCommand::PickOlder
                | KeyCommand::PickNewer
                | KeyCommand::PickReply
                | KeyCommand::PickEdit
                | KeyCommand::PickDelete
                | KeyCommand::PickReact
                | KeyCommand::PickLeave
        )
    }
}

/// The modifier a binding is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Nothing,
    Ctrl,
    Alt,
    /// Shift on a key that is not a character (Shift-Enter): reported only
    /// by terminals with the kitty keyboard protocol, or xterm's
    /// `modifyOtherKeys`.
    Shift,
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

const fn shift(code: KeyCode) -> Chord {
    Chord {
        held: Held::Shift,
        code,
    }
}

/// A key, or a key pressed after another one (Ctrl-X Ctrl-E).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keys {
    /// The first key; alone when `then` is `None`.
    pub first: Chord,
    pub then: Option<Chord>,
}

const fn one(chord: Chord) -> Keys {
    Keys {
        first: chord,
        then: None,
    }
}

const fn two(first: Chord, then: Chord) -> Keys {
    Keys {
        first,
        then: Some(then),
    }
}

/// One row of the help page and the bindings it describes.
#[derive(Debug, Clone, Copy)]
pub struct KeyRow {
    pub keys: &'static str,
    pub what: &'static str,
    pub bindings: &'static [(Keys, KeyCommand)],
}

use KeyCode as K;
use KeyCommand as C;

/// The main screen's keys, in the order the help page lists them.
pub const KEYS: &[KeyRow] = &[
    KeyRow {
        keys: "Enter",
        what: "send the line (or run the /command)",
        bindings: &[(one(key(K::Enter)), C::Submit)],
    },
    KeyRow {
        keys: "Alt-Enter, Shift-Enter",
        what: "a new line in the message (Shift-Enter where the terminal tells it)",
        bindings: &[
            (one(alt(K::Enter)), C::NewLine),
            (one(shift(K::Enter)), C::NewLine),
        ],
    },
    KeyRow {
        keys: "Ctrl-X Ctrl-E",
        what: "write the message in $VISUAL or $EDITOR (as /editor)",
        bindings: &[(two(ctrl('x'), ctrl('e')), C::Editor)],
    },
    KeyRow {
        keys: "Left/Right, Home/End",
        what: "move the cursor; Home/End to the start / end of the line (also Ctrl-B, Ctrl-A/E)",
        bindings: &[
            (one(key(K::Left)), C::CursorLeft),
            (one(key(K::Right)), C::CursorRight),
            (one(key(K::Home)), C::CursorHome),
            (one(key(K::End)), C::CursorEnd),
            (one(ctrl('a')), C::CursorHome),
            (one(ctrl('e')), C::CursorEnd),
            (one(ctrl('b')), C::CursorLeft),
        ],
    },
    KeyRow {
        keys: "Ctrl-Left/Right",
        what: "move by word (also Alt-Left/Right, Alt-B/F)",
        bindings: &[
            (one(ctrl_key(K::Left)), C::WordLeft),
            (one(ctrl_key(K::Right)), C::WordRight),
            (one(alt(K::Left)), C::WordLeft),
            (one(alt(K::Right)), C::WordRight),
            (one(alt(K::Char('b'))), C::WordLeft),
            (one(alt(K::Char('f'))), C::WordRight),
        ],
    },
    KeyRow {
        keys: "Backspace/Delete",
        what: "delete a character (also Ctrl-H / Ctrl-D)",
        bindings: &[
            (one(key(K::Backspace)), C::DeleteBefore),
            (one(key(K::Delete)), C::DeleteAt),
            (one(ctrl('h')), C::DeleteBefore),
            (one(ctrl('d')), C::DeleteAt),
        ],
    },
    KeyRow {
        keys: "Ctrl-W / Ctrl-U / Ctrl-K",
        what: "delete word / to start / to end",
        bindings: &[
            (one(ctrl('w')), C::DeleteWordBefore),
            (one(ctrl('u')), C::DeleteToStart),
            (one(ctrl('k')), C::DeleteToEnd),
        ],
    },
    KeyRow {
        keys: "Alt-/Ctrl-Backspace",
        what: "delete the word before the cursor",
        bindings: &[
            (one(ctrl_key(K::Backspace)), C::DeleteWordBefore),
            (one(alt(K::Backspace)), C::DeleteWordBefore),
        ],
    },
    KeyRow {
        keys: "Up/Down",
        what: "the line above / below in a message of several lines, else your earlier lines; Up on an empty input edits your last message here",
        bindings: &[
            (one(key(K::Up)), C::OlderLine),
            (one(key(K::Down)), C::NewerLine),
        ],
    },
    KeyRow {
        keys: "Tab / Shift-Tab",
        what: "complete a member name (repeat to cycle)",
        bindings: &[
            (one(key(K::Tab)), C::Complete),
            (one(key(K::BackTab)), C::CompleteBack),
        ],
    },
    KeyRow {
        keys: "PgUp/PgDn",
        what: "scroll history (older history is fetched)",
        bindings: &[
            (one(key(K::PageUp)), C::ScrollUp),
            (one(key(K::PageDown)), C::ScrollDown),
        ],
    },
    KeyRow {
        keys: "Esc",
        what: "back to the newest messages; cancels a reply or an edit",
        bindings: &[(one(key(K::Esc)), C::ScrollToNewest)],
    },
    KeyRow {
        keys: "Alt-P",
        what: "pick a message (to reply, edit, delete or react; keys below)",
        bindings: &[(one(alt(K::Char('p'))), C::Pick)],
    },
    KeyRow {
        keys: "Alt-Up/Down, Ctrl-P/N",
        what: "previous / next room",
        bindings: &[
            (one(alt(K::Up)), C::PreviousRoom),
            (one(alt(K::Down)), C::NextRoom),
            (one(ctrl('p')), C::PreviousRoom),
            (one(ctrl('n')), C::NextRoom),
        ],
    },
    KeyRow {
        keys: "Alt-1..9",
        what: "go to room 1..9",
        bindings: &[
            (one(alt(K::Char('1'))), C::GoToRoom(0)),
            (one(alt(K::Char('2'))), C::GoToRoom(1)),
            (one(alt(K::Char('3'))), C::GoToRoom(2)),
            (one(alt(K::Char('4'))), C::GoToRoom(3)),
            (one(alt(K::Char('5'))), C::GoToRoom(4)),
            (one(alt(K::Char('6'))), C::GoToRoom(5)),
            (one(alt(K::Char('7'))), C::GoToRoom(6)),
            (one(alt(K::Char('8'))), C::GoToRoom(7)),
            (one(alt(K::Char('9'))), C::GoToRoom(8)),
        ],
    },
    KeyRow {
        keys: "Wheel, click",
        what: "scroll the history; a click on a room goes to it (Shift held: select text)",
        bindings: &[],
    },
    KeyRow {
        keys: "Ctrl-F",
        what: "search messages in every room (as /search); Enter on a result goes to it",
        bindings: &[(one(ctrl('f')), C::Search)],
    },
    KeyRow {
        keys: "Ctrl-L",
        what: "redraw the screen",
        bindings: &[(one(ctrl('l')), C::Redraw)],
    },
    KeyRow {
        keys: "Ctrl-C",
        what: "quit",
        bindings: &[(one(ctrl('c')), C::Quit)],
    },
];

/// The keys of pick mode (Alt-P), in the order the help page and the
/// status line list them. Unlike the main screen's, these may be plain
/// characters: nothing is typed while a message is picked.
pub const PICK_KEYS: &[KeyRow] = &[
    KeyRow {
        keys: "Up/Down",
        what: "picked: the message above / below (also k / j; Down past the newest leaves)",
        bindings: &[
            (one(key(K::Up)), C::PickOlder),
            (one(key(K::Down)), C::PickNewer),
            (one(key(K::Char('k'))), C::PickOlder),
            (one(key(K::Char('j'))), C::PickNewer),
        ],
    },
    KeyRow {
        keys: "r, Enter",
        what: "picked: reply to it",
        bindings: &[
            (one(key(K::Char('r'))), C::PickReply),
            (one(key(K::Enter)), C::PickReply),
        ],
    },
    KeyRow {
        keys: "e",
        what: "picked: edit it (your own)",
        bindings: &[(one(key(K::Char('e'))), C::PickEdit)],
    },
    KeyRow {
        keys: "d",
        what: "picked: delete it (your own; any as the room's op or owner); asks first",
        bindings: &[(one(key(K::Char('d'))), C::PickDelete)],
    },
    KeyRow {
        keys: "+",
        what: "picked: react (1-5 for a quick emoji, or type one; again takes it back)",
        bindings: &[(one(key(K::Char('+'))), C::PickReact)],
    },
    KeyRow {
        keys: "Esc",
        what: "picked: back to the input",
        bindings: &[(one(key(K::Esc)), C::PickLeave)],
    },
];

/// The quick set of reactions, offered by number at the react prompt.
pub const QUICK_REACTIONS: [&str; 5] = ["👍", "❤", "😂", "🎉", "👀"];

/// The modifiers a key press is looked up with, in order. A character
/// with Ctrl (or else Alt) held means only its Ctrl (Alt) binding; any
/// other key takes its Ctrl, Alt or Shift binding when one is held and
/// there is one, else its plain binding. A plain character is typed text:
/// no binding at all.
pub fn held_passes(key: &KeyEvent) -> &'static [Held] {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    match (key.code, ctrl, alt) {
        (KeyCode::Char(_), true, _) => &[Held::Ctrl],
        (KeyCode::Char(_), false, true) => &[Held::Alt],
        (KeyCode::Char(_), false, false) => &[],
        (_, true, true) => &[Held::Ctrl, Held::Alt, Held::Nothing],
        (_, true, false) => &[Held::Ctrl, Held::Nothing],
        (_, false, true) => &[Held::Alt, Held::Nothing],
        (_, false, false) if shift => &[Held::Shift, Held::Nothing],
        (_, false, false) => &[Held::Nothing],
    }
}

/// The chord a key press is when held as `held`.
pub fn chord_of(key: &KeyEvent, held: Held) -> Chord {
    let code = match key.code {
        // Ctrl-X may arrive as `X` with Shift on some terminals.
        KeyCode::Char(c) if held != Held::Nothing => KeyCode::Char(c.to_ascii_lowercase()),
        code => code,
    };
    Chord { held, code }
}

/// What a `/command` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlashCommand {
    Join,
    Leave,
    /// Go to a room by its number in the list (`/win 2`, as Alt-2).
    Window,
    /// Clear the history pane (not the stored history).
    Clear,
    /// Write the message in `$VISUAL` / `$EDITOR`.
    Editor,
    Rooms,
    /// Find messages in every readable room (the search popup).
    Search,
    Who,
    /// Open the conversation with someone, and maybe say something there.
    Msg,
    /// Open the conversation with someone.
    Query,
    Topic,
    /// An action: `/me waves` is shown as `* alice waves`.
    Me,
    Op,
    Deop,
    Owner,
    Kick,
    Ban,
    Unban,
    Invite,
    Private,
    DeleteRoom,
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
        names: &["win", "buffer", "window"],
        usage: "/win N, /buffer N",
        what: "go to room N of the list (as Alt-N)",
        command: SlashCommand::Window,
    },
    CommandRow {
        names: &["clear"],
        usage: "/clear",
        what: "clear this room's pane (history stays; new lines show below)",
        command: SlashCommand::Clear,
    },
    CommandRow {
        names: &["editor", "edit"],
        usage: "/editor",
        what: "write the message in $VISUAL or $EDITOR (as Ctrl-X Ctrl-E)",
        command: SlashCommand::Editor,
    },
    CommandRow {
        names: &["rooms", "list"],
        usage: "/rooms",
        what: "browse the server's rooms; Enter joins",
        command: SlashCommand::Rooms,
    },
    CommandRow {
        names: &["search", "find"],
        usage: "/search TEXT",
        what: "find messages with every word of TEXT in your rooms (as Ctrl-F)",
        command: SlashCommand::Search,
    },
    CommandRow {
        names: &["who", "names"],
        usage: "/who",
        what: "list the members of this room",
        command: SlashCommand::Who,
    },
    CommandRow {
        names: &["msg"],
        usage: "/msg NAME [TEXT]",
        what: "open the conversation with NAME (and send TEXT there)",
        command: SlashCommand::Msg,
    },
    CommandRow {
        names: &["query"],
        usage: "/query NAME",
        what: "open the conversation with NAME",
        command: SlashCommand::Query,
    },
    CommandRow {
        names: &["topic"],
        usage: "/topic [TEXT]",
        what: "show the topic, or set it (--clear clears it)",
        command: SlashCommand::Topic,
    },
    CommandRow {
        names: &["me"],
        usage: "/me TEXT",
        what: "an action: /me waves shows as * alice waves",
        command: SlashCommand::Me,
    },
    CommandRow {
        names: &["op"],
        usage: "/op NAME",
        what: "make NAME an op here (owner)",
        command: SlashCommand::Op,
    },
    CommandRow {
        names: &["deop"],
        usage: "/deop NAME",
        what: "make NAME a plain member again (owner)",
        command: SlashCommand::Deop,
    },
    CommandRow {
        names: &["owner"],
        usage: "/owner NAME",
        what: "hand the room to NAME (asks first)",
        command: SlashCommand::Owner,
    },
    CommandRow {
        names: &["kick"],
        usage: "/kick NAME [REASON]",
        what: "put NAME out of this room (owner, ops)",
        command: SlashCommand::Kick,
    },
    CommandRow {
        names: &["ban"],
        usage: "/ban NAME [REASON]",
        what: "kick NAME and keep them out (owner, ops)",
        command: SlashCommand::Ban,
    },
    CommandRow {
        names: &["unban"],
        usage: "/unban NAME",
        what: "let NAME join this room again (owner, ops)",
        command: SlashCommand::Unban,
    },
    CommandRow {
        names: &["invite"],
        usage: "/invite NAME",
        what: "invite NAME, into a private room too (owner, ops)",
        command: SlashCommand::Invite,
    },
    CommandRow {
        names: &["private"],
        usage: "/private on|off",
        what: "invited people only, or anyone (owner)",
        command: SlashCommand::Private,
    },
    CommandRow {
        names: &["delete-room"],
        usage: "/delete-room",
        what: "delete this room and its history (asks first)",
        command: SlashCommand::DeleteRoom,
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
/// The help row saying where the keys are changed (before the last row).
pub const REBINDING: (&str, &str) = (
    "config.toml",
    "[keys] rebinds keys; paste_max_lines, send_typing, bell, desktop_notify (docs/client.md)",
);

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

    fn chord_name(chord: &Chord) -> String {
        let modifier = match chord.held {
            Held::Nothing => "",
            Held::Ctrl => "Ctrl-",
            Held::Alt => "Alt-",
            Held::Shift => "Shift-",
        };
        format!("{modifier}{}", key_name(chord.code))
    }

    #[test]
    fn every_binding_is_named_on_its_help_row() {
        for row in KEYS.iter().chain(PICK_KEYS) {
            let text = format!("{} {}", row.keys, row.what);
            for (keys, _) in row.bindings {
                let name = chord_name(&keys.first);
                if let Some(then) = &keys.then {
                    let both = format!("{name} {}", chord_name(then));
                    assert!(text.contains(&both), "{both} is not named in {text:?}");
                    continue;
                }
                let bare = key_name(keys.first.code);
                let modifier = name.strip_suffix(&bare).unwrap_or("");
                // "Alt-1..9" names Alt-1 to Alt-9, "Ctrl-Left/Right" names
                // Ctrl-Right and "Ctrl-B/F" names Ctrl-F.
                let digit = bare.chars().all(|c| c.is_ascii_digit()) && text.contains("1..9");
                // Pick mode's plain letters are named as typed (`r`).
                let letter =
                    keys.first.held == Held::Nothing && text.contains(&bare.to_ascii_lowercase());
                assert!(
                    text.contains(modifier) && (text.contains(&bare) || digit || letter),
                    "{name} is not named in {text:?}"
                );
            }
        }
    }

    #[test]
    fn no_keys_are_bound_twice_and_commands_have_unique_names() {
        let all: Vec<Keys> = KEYS
            .iter()
            .flat_map(|row| row.bindings.iter().map(|(keys, _)| *keys))
            .collect();
        for (i, keys) in all.iter().enumerate() {
            assert!(!all[i + 1..].contains(keys), "{keys:?} bound twice");
        }
        let pick: Vec<Keys> = PICK_KEYS
            .iter()
            .flat_map(|row| row.bindings.iter().map(|(keys, _)| *keys))
            .collect();
        for (i, keys) in pick.iter().enumerate() {
            assert!(!pick[i + 1..].contains(keys), "{keys:?} bound twice");
        }
        assert!(
            PICK_KEYS
                .iter()
                .flat_map(|row| row.bindings)
                .all(|(keys, command)| command.is_pick_mode() && keys.then.is_none())
        );
        let names: Vec<&str> = COMMANDS.iter().flat_map(|row| row.names).copied().collect();
        for (i, name) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(name), "/{name} named twice");
        }
        assert_eq!(command_named("J"), Some(SlashCommand::Join));
        assert_eq!(command_named("?"), Some(SlashCommand::Help));
        assert_eq!(command_named("buffer"), Some(SlashCommand::Window));
        assert_eq!(command_named("nope"), None);
    }
}
