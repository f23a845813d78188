//! The key bindings in effect: the defaults of [`crate::keymap::KEYS`]
//! with the changes of the config file's `[keys]` table, and looking a key
//! press up in them (a two-key binding such as Ctrl-X Ctrl-E waits for its
//! second key).
//!
//! In the config file each action names the keys it is bound to, which
//! replace its defaults; a key given to an action is taken from whichever
//! action had it by default:
//!
//! ```toml
//! [keys]
//! scroll_up = ["PgUp", "Ctrl-Y"]
//! new_line = ["Alt-Enter", "Ctrl-J"]
//! editor = ["Ctrl-X Ctrl-E", "F2"]
//! pick_reply = ["r", "Enter"]
//! ```
//!
//! Pick mode's actions ([`crate::keymap::PICK_KEYS`]) have bindings of
//! their own, one key each, which may be plain characters; a key may mean
//! one thing on the main screen and another in pick mode.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::keymap::{self, Chord, Held, KeyCommand, Keys};

/// What a key press means on the main screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Command(KeyCommand),
    /// The first key of a two-key binding: the next key completes it.
    Prefix(Chord),
    /// Not bound: typed text if it is a plain character.
    Unbound,
}

/// The bindings in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: Vec<(Keys, KeyCommand)>,
    /// Pick mode's bindings.
    pick: Vec<(Keys, KeyCommand)>,
}

impl Default for Keymap {
    fn default() -> Self {
        let bindings = keymap::KEYS
            .iter()
            .flat_map(|row| row.bindings.iter().copied())
            .collect();
        let pick = keymap::PICK_KEYS
            .iter()
            .flat_map(|row| row.bindings.iter().copied())
            .collect();
        Self { bindings, pick }
    }
}

impl Keymap {
    /// The defaults changed by the config file's `[keys]` table, and the
    /// problems found in it (each entry with a problem is left out).
    pub fn with_changes(changes: &BTreeMap<String, Vec<String>>) -> (Self, Vec<String>) {
        let mut map = Self::default();
        let mut problems = Vec::new();
        let mut given: Vec<(Keys, KeyCommand)> = Vec::new();
        let mut given_pick: Vec<(Keys, KeyCommand)> = Vec::new();
        for (action, keys) in changes {
            let Some(command) = command_by_name(action) else {
                problems.push(format!("unknown action {action:?}"));
                continue;
            };
            let (parse, given, bindings): (fn(&str) -> Option<Keys>, _, _) =
                if command.is_pick_mode() {
                    (parse_pick_key, &mut given_pick, &mut map.pick)
                } else {
                    (parse_keys, &mut given, &mut map.bindings)
                };
            let mut parsed = Vec::new();
            for text in keys {
                match parse(text) {
                    Some(k) if given.iter().any(|(g, _)| *g == k) => {
                        problems.push(format!("{text:?} is given to two actions"));
                    }
                    Some(k) => parsed.push(k),
                    None => problems.push(format!("cannot read key {text:?} (for {action})")),
                }
            }
            given.extend(parsed.into_iter().map(|k| (k, command)));
            bindings.retain(|(_, c)| *c != command);
        }
        for (bindings, given) in [(&mut map.bindings, given), (&mut map.pick, given_pick)] {
            bindings.retain(|(k, _)| !given.iter().any(|(g, _)| g == k));
            bindings.extend(given);
        }
        (map, problems)
    }

    /// What `key` does in pick mode, if anything. Shift is not looked at
    /// (`+` arrives with it on some terminals).
    pub fn lookup_pick(&self, key: &KeyEvent) -> Option<KeyCommand> {
        let held = if key.modifiers.contains(KeyModifiers::CONTROL) {
            Held::Ctrl
        } else if key.modifiers.contains(KeyModifiers::ALT) {
            Held::Alt
        } else {
            Held::Nothing
        };
        let chord = Chord {
            held,
            code: key.code,
        };
        self.pick
            .iter()
            .find(|(keys, _)| keys.first == chord)
            .map(|&(_, command)| command)
    }

    /// What `key` does, `prefix` being the first key of a two-key binding
    /// pressed just before (if any).
    pub fn lookup(&self, prefix: Option<Chord>, key: &KeyEvent) -> Lookup {
        let passes = keymap::held_passes(key);
        let find = |wanted: &dyn Fn(&Keys, Chord) -> bool| {
            passes.iter().find_map(|&held| {
                let chord = keymap::chord_of(key, held);
                self.bindings
                    .iter()
                    .find(|(keys, _)| wanted(keys, chord))
                    .map(|&(keys, command)| (keys, command, chord))
            })
        };
        if let Some(first) = prefix {
            return match find(&|keys, chord| keys.first == first && keys.then == Some(chord)) {
                Some((_, command, _)) => Lookup::Command(command),
                None => Lookup::Unbound,
            };
        }
        if let Some((_, command, _)) =
            find(&|keys, chord| keys.then.is_none() && keys.first == chord)
        {
            return Lookup::Command(command);
        }
        match find(&|keys, chord| keys.then.is_some() && keys.first == chord) {
            Some((_, _, chord)) => Lookup::Prefix(chord),
            None => Lookup::Unbound,
        }
    }

    /// The first key bound to `command`, for hints in words (the status
    /// line, notices); `(unbound)` when it has none.
    pub fn first_key(&self, command: KeyCommand) -> String {
        self.keys_for(command)
            .into_iter()
            .next()
            .unwrap_or_else(|| "(unbound)".to_owned())
    }

    /// The keys bound to `command`, as the config file writes them.
    pub fn keys_for(&self, command: KeyCommand) -> Vec<String> {
        self.bindings
            .iter()
            .chain(&self.pick)
            .filter(|(_, c)| *c == command)
            .map(|(k, _)| keys_name(k))
            .collect()
    }
}

/// Every action's name in the config file.
const ACTIONS: &[(&str, KeyCommand)] = &[
    ("submit", KeyCommand::Submit),
    ("new_line", KeyCommand::NewLine),
    ("editor", KeyCommand::Editor),
    ("cursor_left", KeyCommand::CursorLeft),
    ("cursor_right", KeyCommand::CursorRight),
    ("cursor_home", KeyCommand::CursorHome),
    ("cursor_end", KeyCommand::CursorEnd),
    ("word_left", KeyCommand::WordLeft),
    ("word_right", KeyCommand::WordRight),
    ("delete_before", KeyCommand::DeleteBefore),
    ("delete_at", KeyCommand::DeleteAt),
    ("delete_word_before", KeyCommand::DeleteWordBefore),
    ("delete_to_start", KeyCommand::DeleteToStart),
    ("delete_to_end", KeyCommand::DeleteToEnd),
    ("older_line", KeyCommand::OlderLine),
    ("newer_line", KeyCommand::NewerLine),
    ("complete", KeyCommand::Complete),
    ("complete_back", KeyCommand::CompleteBack),
    ("scroll_up", KeyCommand::ScrollUp),
    ("scroll_down", KeyCommand::ScrollDown),
    ("scroll_to_newest", KeyCommand::ScrollToNewest),
    ("previous_room", KeyCommand::PreviousRoom),
    ("next_room", KeyCommand::NextRoom),
    ("redraw", KeyCommand::Redraw),
    ("search", KeyCommand::Search),
    ("quit", KeyCommand::Quit),
    ("pick", KeyCommand::Pick),
    ("pick_older", KeyCommand::PickOlder),
    ("pick_newer", KeyCommand::PickNewer),
    ("pick_reply", KeyCommand::PickReply),
    ("pick_edit", KeyCommand::PickEdit),
    ("pick_delete", KeyCommand::PickDelete),
    ("pick_react", KeyCommand::PickReact),
    ("pick_leave", KeyCommand::PickLeave),
];

/// The command an action name stands for; `room_1` to `room_9` go to a
/// room by its number.
pub fn command_by_name(name: &str) -> Option<KeyCommand> {
    if let Some(n) = name.strip_prefix("room_") {
        return match n.parse::<usize>() {
            Ok(n @ 1..=9) => Some(KeyCommand::GoToRoom(n - 1)),
            _ => None,
        };
    }
    ACTIONS.iter().find(|(n, _)| *n == name).map(|&(_, c)| c)
}

/// Keys as the config file writes them: `Ctrl-X`, `Alt-Enter`, `PgUp`,
/// `F5`, or two of them separated by a space (`Ctrl-X Ctrl-E`).
pub fn parse_keys(text: &str) -> Option<Keys> {
    let mut parts = text.split_whitespace();
    let first = parse_chord(parts.next()?)?;
    let then = match parts.next() {
        Some(part) => Some(parse_chord(part)?),
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Keys { first, then })
}

/// One key of pick mode: as [`parse_keys`] reads a single key, but a
/// plain character (`r`, `+`) is a key here too. Letters keep their case.
pub fn parse_pick_key(text: &str) -> Option<Keys> {
    let mut chars = text.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && !c.is_control()
        && !c.is_whitespace()
    {
        return Some(Keys {
            first: Chord {
                held: Held::Nothing,
                code: KeyCode::Char(c),
            },
            then: None,
        });
    }
    let keys = parse_keys(text)?;
    keys.then.is_none().then_some(keys)
}

fn parse_chord(text: &str) -> Option<Chord> {
    let lower = text.to_ascii_lowercase();
    let (held, name) = [
        ("ctrl-", Held::Ctrl),
        ("c-", Held::Ctrl),
        ("alt-", Held::Alt),
        ("meta-", Held::Alt),
        ("m-", Held::Alt),
        ("shift-", Held::Shift),
        ("s-", Held::Shift),
    ]
    .iter()
    .find_map(|(prefix, held)| lower.strip_prefix(prefix).map(|rest| (*held, rest)))
    .unwrap_or((Held::Nothing, lower.as_str()));
    let code = key_code(name)?;
    match (held, code) {
        // A plain character is typed text, never a binding.
        (Held::Nothing | Held::Shift, KeyCode::Char(_)) if name != "space" => None,
        (Held::Shift, KeyCode::Tab) => Some(Chord {
            held: Held::Nothing,
            code: KeyCode::BackTab,
        }),
        _ => Some(Chord { held, code }),
    }
}

const NAMED_KEYS: &[(&str, KeyCode)] = &[
    ("enter", KeyCode::Enter),
    ("return", KeyCode::Enter),
    ("tab", KeyCode::Tab),
    ("backtab", KeyCode::BackTab),
    ("backspace", KeyCode::Backspace),
    ("delete", KeyCode::Delete),
    ("del", KeyCode::Delete),
    ("insert", KeyCode::Insert),
    ("esc", KeyCode::Esc),
    ("escape", KeyCode::Esc),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
    ("pgup", KeyCode::PageUp),
    ("pageup", KeyCode::PageUp),
    ("pgdn", KeyCode::PageDown),
    ("pagedown", KeyCode::PageDown),
    ("space", KeyCode::Char(' ')),
];

fn key_code(name: &str) -> Option<KeyCode> {
    if let Some(&(_, code)) = NAMED_KEYS.iter().find(|(n, _)| *n == name) {
        return Some(code);
    }
    if let Some(n) = name.strip_prefix('f')
        && let Ok(n @ 1..=12) = n.parse::<u8>()
    {
        return Some(KeyCode::F(n));
    }
    let mut chars = name.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if !c.is_control() => Some(KeyCode::Char(c)),
        _ => None,
    }
}

fn chord_name(chord: &Chord) -> String {
    let held = match chord.held {
        Held::Nothing => "",
        Held::Ctrl => "Ctrl-",
        Held::Alt => "Alt-",
        Held::Shift => "Shift-",
    };
    let key = match chord.code {
        KeyCode::Char(' ') => "Space".to_owned(),
        // Pick mode's plain keys, as typed.
        KeyCode::Char(c) if chord.held == Held::Nothing => c.to_string(),
        KeyCode::Char(c) => c.to_ascii_uppercase().to_string(),
        KeyCode::PageUp => "PgUp".to_owned(),
        KeyCode::PageDown => "PgDn".to_owned(),
        KeyCode::F(n) => format!("F{n}"),
        code => NAMED_KEYS
            .iter()
            .find(|(_, c)| *c == code)
            .map_or_else(|| format!("{code:?}"), |(name, _)| capitalized(name)),
    };
    format!("{held}{key}")
}

fn capitalized(name: &str) -> String {
    match name {
        "pgup" => "PgUp".to_owned(),
        "pgdn" => "PgDn".to_owned(),
        "backtab" => "Shift-Tab".to_owned(),
        _ => {
            let mut chars = name.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        }
    }
}

fn keys_name(keys: &Keys) -> String {
    match &keys.then {
        Some(then) => format!("{} {}", chord_name(&keys.first), chord_name(then)),
        None => chord_name(&keys.first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(map: &Keymap, code: KeyCode, modifiers: KeyModifiers) -> Lookup {
        map.lookup(None, &KeyEvent::new(code, modifiers))
    }

    fn command(c: KeyCommand) -> Lookup {
        Lookup::Command(c)
    }

    #[test]
    fn lookup_follows_the_modifier_rules() {
        use KeyCode as K;
        use KeyCommand as C;
        let map = Keymap::default();
        assert_eq!(
            press(&map, K::Char('a'), KeyModifiers::NONE),
            Lookup::Unbound
        );
        assert_eq!(
            press(&map, K::Char('A'), KeyModifiers::SHIFT),
            Lookup::Unbound
        );
        assert_eq!(
            press(&map, K::Char('a'), KeyModifiers::CONTROL),
            command(C::CursorHome)
        );
        // A character with Ctrl held means its Ctrl binding or nothing.
        assert_eq!(
            press(
                &map,
                K::Char('1'),
                KeyModifiers::CONTROL | KeyModifiers::ALT
            ),
            Lookup::Unbound
        );
        assert_eq!(
            press(&map, K::Char('3'), KeyModifiers::ALT),
            command(C::GoToRoom(2))
        );
        // Shift-Enter and Alt-Enter put in a new line; other keys fall
        // back to their plain binding.
        assert_eq!(
            press(&map, K::Enter, KeyModifiers::SHIFT),
            command(C::NewLine)
        );
        assert_eq!(
            press(&map, K::Enter, KeyModifiers::ALT),
            command(C::NewLine)
        );
        assert_eq!(
            press(&map, K::Enter, KeyModifiers::NONE),
            command(C::Submit)
        );
        assert_eq!(
            press(&map, K::Up, KeyModifiers::CONTROL),
            command(C::OlderLine)
        );
        assert_eq!(
            press(&map, K::Up, KeyModifiers::SHIFT),
            command(C::OlderLine)
        );
        assert_eq!(
            press(&map, K::Up, KeyModifiers::CONTROL | KeyModifiers::ALT),
            command(C::PreviousRoom)
        );
        assert_eq!(
            press(&map, K::Left, KeyModifiers::ALT),
            command(C::WordLeft)
        );
        assert_eq!(press(&map, K::F(5), KeyModifiers::NONE), Lookup::Unbound);
    }

    #[test]
    fn pick_mode_takes_plain_characters_and_single_keys() {
        let one = |c| Keys {
            first: Chord {
                held: Held::Nothing,
                code: KeyCode::Char(c),
            },
            then: None,
        };
        assert_eq!(parse_pick_key("r"), Some(one('r')));
        assert_eq!(parse_pick_key("R"), Some(one('R')));
        assert_eq!(parse_pick_key("+"), Some(one('+')));
        assert_eq!(parse_pick_key("Ctrl-X Ctrl-E"), None);
        assert_eq!(parse_pick_key(" "), None);
        let map = Keymap::default();
        assert_eq!(map.keys_for(KeyCommand::PickReply), ["r", "Enter"]);
        let plus = KeyEvent::new(KeyCode::Char('+'), KeyModifiers::SHIFT);
        assert_eq!(map.lookup_pick(&plus), Some(KeyCommand::PickReact));
        // Main-screen keys and pick keys do not meet: `r` types, Up is
        // an earlier line there.
        assert_eq!(
            press(&map, KeyCode::Char('r'), KeyModifiers::NONE),
            Lookup::Unbound
        );
        let changes: BTreeMap<String, Vec<String>> = [
            ("pick_edit", vec!["x", "Enter"]),
            ("pick_delete", vec!["x"]),
        ]
        .into_iter()
        .map(|(a, k)| (a.to_owned(), k.into_iter().map(str::to_owned).collect()))
        .collect();
        let (map, problems) = Keymap::with_changes(&changes);
        assert_eq!(problems, ["\"x\" is given to two actions"]);
        // pick_delete, first by name, got `x`; Enter left pick_reply for
        // pick_edit, and the main screen's Submit keeps it.
        assert_eq!(map.keys_for(KeyCommand::PickDelete), ["x"]);
        assert_eq!(map.keys_for(KeyCommand::PickReply), ["r"]);
        assert_eq!(map.keys_for(KeyCommand::PickEdit), ["Enter"]);
        assert_eq!(map.keys_for(KeyCommand::Submit), ["Enter"]);
    }

    #[test]
    fn two_key_bindings_wait_for_their_second_key() {
        let map = Keymap::default();
        let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        let Lookup::Prefix(first) = map.lookup(None, &ctrl('x')) else {
            panic!("Ctrl-X starts a binding");
        };
        assert_eq!(
            map.lookup(Some(first), &ctrl('e')),
            command(KeyCommand::Editor)
        );
        assert_eq!(map.lookup(Some(first), &ctrl('a')), Lookup::Unbound);
        // Ctrl-E alone is still the end of the line.
        assert_eq!(map.lookup(None, &ctrl('e')), command(KeyCommand::CursorEnd));
    }

    #[test]
    fn config_changes_replace_defaults_and_take_keys_from_others() {
        let changes: BTreeMap<String, Vec<String>> = [
            ("scroll_up", vec!["Ctrl-Y", "PgUp"]),
            ("redraw", vec!["ctrl-p"]),
            ("editor", vec!["F2", "C-x C-v"]),
            ("room_10", vec!["Alt-0"]),
            ("scroll_down", vec!["Hyper-Q", "x", "Ctrl-P"]),
        ]
        .into_iter()
        .map(|(a, k)| (a.to_owned(), k.into_iter().map(str::to_owned).collect()))
        .collect();
        let (map, problems) = Keymap::with_changes(&changes);
        assert_eq!(
            problems,
            [
                "unknown action \"room_10\"",
                "cannot read key \"Hyper-Q\" (for scroll_down)",
                "cannot read key \"x\" (for scroll_down)",
                "\"Ctrl-P\" is given to two actions",
            ]
        );
        assert_eq!(map.keys_for(KeyCommand::ScrollUp), ["Ctrl-Y", "PgUp"]);
        // Ctrl-P left previous_room for redraw; Ctrl-L no longer redraws.
        assert_eq!(map.keys_for(KeyCommand::Redraw), ["Ctrl-P"]);
        assert_eq!(map.keys_for(KeyCommand::PreviousRoom), ["Alt-Up"]);
        assert_eq!(map.keys_for(KeyCommand::Editor), ["F2", "Ctrl-X Ctrl-V"]);
        // scroll_down was named, so its defaults are gone even though
        // none of its keys could be read.
        assert!(map.keys_for(KeyCommand::ScrollDown).is_empty());
        assert_eq!(
            press(&map, KeyCode::Char('y'), KeyModifiers::CONTROL),
            command(KeyCommand::ScrollUp)
        );
        assert_eq!(
            press(&map, KeyCode::Char('l'), KeyModifiers::CONTROL),
            Lookup::Unbound
        );
    }
}
