//! What a key does in each mode: on the main screen as the bindings in
//! effect say ([`crate::keybind`]), in the rooms browser, at the password
//! prompt, when a long paste asks to be confirmed, at the question
//! before a room request that cannot be undone, and while a message is
//! picked ([`super::fix`]).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::commands::join_room;
use super::input::{answer_paste, complete, open_editor, submit};
use super::rooms::{scroll_down, scroll_up, switch_relative, switch_to};
use super::{Effect, notice, quit};
use crate::app::{App, ConnState, Level, Mode, Scroll};
use crate::keybind::Lookup;
use crate::keymap::KeyCommand;

pub(super) fn on_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    if app.keymap.lookup(None, &key) == Lookup::Command(KeyCommand::Quit) {
        quit(app, fx);
        return;
    }
    match app.mode {
        Mode::Normal => normal_key(app, key, fx),
        Mode::Help => help_key(app, key),
        Mode::Rooms(_) => rooms_key(app, key, fx),
        Mode::Password(_) => password_key(app, key, fx),
        Mode::ConfirmPaste(_) => answer_paste(app, key.code),
        Mode::Confirm(_) => {
            let yes = matches!(key.code, KeyCode::Char('y' | 'Y'));
            super::manage::answer(app, yes, fx);
        }
        Mode::Pick(_) => super::fix::pick_key(app, key, fx),
        Mode::React(_) => super::fix::react_key(app, key, fx),
        Mode::Search(_) => super::search::search_key(app, key, fx),
    }
}

fn normal_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    let prefix = app.key_prefix.take();
    let command = match app.keymap.lookup(prefix, &key) {
        Lookup::Command(command) => Some(command),
        Lookup::Prefix(first) => {
            app.key_prefix = Some(first);
            return;
        }
        // The first key of a pair, then a key that completes no binding:
        // both are used up, as in Emacs.
        Lookup::Unbound if prefix.is_some() => return,
        Lookup::Unbound => None,
    };
    if !matches!(
        command,
        Some(KeyCommand::Complete | KeyCommand::CompleteBack)
    ) {
        app.completion = None;
    }
    if !matches!(command, Some(KeyCommand::OlderLine | KeyCommand::NewerLine)) {
        app.sent_lines.stop_browsing();
    }
    match command {
        Some(command) => run_key_command(app, command, fx),
        None => {
            let held = key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
            if let KeyCode::Char(c) = key.code
                && !held
            {
                app.input.insert(c);
            }
        }
    }
}

fn run_key_command(app: &mut App, command: KeyCommand, fx: &mut Vec<Effect>) {
    match command {
        KeyCommand::Submit => submit(app, fx),
        KeyCommand::NewLine => app.input.insert('\n'),
        KeyCommand::Editor => open_editor(app, fx),
        KeyCommand::CursorLeft => app.input.left(),
        KeyCommand::CursorRight => app.input.right(),
        KeyCommand::CursorHome => app.input.home(),
        KeyCommand::CursorEnd => app.input.end(),
        KeyCommand::WordLeft => app.input.word_left(),
        KeyCommand::WordRight => app.input.word_right(),
        KeyCommand::DeleteBefore => app.input.backspace(),
        KeyCommand::DeleteAt => app.input.delete(),
        KeyCommand::DeleteWordBefore => app.input.delete_word_before(),
        KeyCommand::DeleteToStart => app.input.delete_to_start(),
        KeyCommand::DeleteToEnd => app.input.delete_to_end(),
        KeyCommand::OlderLine if app.input.line_up() => {}
        KeyCommand::NewerLine if app.input.line_down() => {}
        KeyCommand::OlderLine if super::fix::edit_last(app) => {}
        KeyCommand::OlderLine => {
            let current = app.input.text().to_owned();
            if let Some(line) = app.sent_lines.older(&current) {
                let line = line.to_owned();
                app.input.set(line);
            }
        }
        KeyCommand::NewerLine => {
            if let Some(line) = app.sent_lines.newer() {
                let line = line.to_owned();
                app.input.set(line);
            }
        }
        KeyCommand::Complete => complete(app, true),
        KeyCommand::CompleteBack => complete(app, false),
        KeyCommand::ScrollUp => scroll_up(app, fx),
        KeyCommand::ScrollDown => scroll_down(app),
        KeyCommand::ScrollToNewest => {
            super::fix::cancel_compose(app);
            if let Some(room) = app.current_room_mut() {
                room.scroll = Scroll::Bottom;
            }
        }
        KeyCommand::PreviousRoom => switch_relative(app, -1),
        KeyCommand::NextRoom => switch_relative(app, 1),
        KeyCommand::GoToRoom(index) => switch_to(app, index),
        KeyCommand::Redraw => fx.push(Effect::ClearScreen),
        KeyCommand::Search => super::search::open(app, "", fx),
        KeyCommand::Quit => quit(app, fx),
        KeyCommand::Pick => super::fix::start_pick(app),
        // Pick mode's keys: only bound there.
        KeyCommand::PickOlder
        | KeyCommand::PickNewer
        | KeyCommand::PickReply
        | KeyCommand::PickEdit
        | KeyCommand::PickDelete
        | KeyCommand::PickReact
        | KeyCommand::PickLeave => {}
    }
}

/// The help page: arrows and pages scroll it, any other key closes it.
fn help_key(app: &mut App, key: KeyEvent) {
    let help = &mut app.help;
    match key.code {
        KeyCode::Up => help.scroll = help.scroll.saturating_sub(1),
        KeyCode::Down => help.scroll = (help.scroll + 1).min(help.max_scroll),
        KeyCode::PageUp => help.scroll = help.scroll.saturating_sub(help.page),
        KeyCode::PageDown => help.scroll = (help.scroll + help.page).min(help.max_scroll),
        KeyCode::Home => help.scroll = 0,
        KeyCode::End => help.scroll = help.max_scroll,
        _ => app.mode = Mode::Normal,
    }
}

fn rooms_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Mode::Rooms(browser) = &mut app.mode else {
        return;
    };
    let count = browser.visible().len();
    let page = 10;
    match key.code {
        KeyCode::Esc => app.mode = Mode::Normal,
        KeyCode::Up => browser.selected = browser.selected.saturating_sub(1),
        KeyCode::Down => browser.selected = (browser.selected + 1).min(count.saturating_sub(1)),
        KeyCode::PageUp => browser.selected = browser.selected.saturating_sub(page),
        KeyCode::PageDown => {
            browser.selected = (browser.selected + page).min(count.saturating_sub(1));
        }
        KeyCode::Home => browser.selected = 0,
        KeyCode::End => browser.selected = count.saturating_sub(1),
        KeyCode::Backspace => {
            browser.filter.pop();
            browser.selected = 0;
        }
        KeyCode::Enter => {
            let chosen = browser
                .visible()
                .get(browser.selected)
                .map(|r| r.name.clone());
            if let Some(name) = chosen {
                app.mode = Mode::Normal;
                join_room(app, &name, fx);
            }
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            browser.filter.push(c);
            browser.selected = 0;
        }
        _ => {}
    }
}

fn password_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Mode::Password(line) = &mut app.mode else {
        return;
    };
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Enter => {
            if line.is_empty() {
                return;
            }
            app.password = Some(line.take());
            app.mode = Mode::Normal;
            app.conn = ConnState::Connecting;
            fx.push(Effect::Reconnect);
        }
        KeyCode::Esc => {
            app.mode = Mode::Normal;
            notice(
                app,
                "Login cancelled. /connect to try again, /quit to leave.",
                Level::Info,
            );
        }
        KeyCode::Char('u') if ctrl => line.delete_to_start(),
        KeyCode::Char('w') if ctrl => line.delete_word_before(),
        KeyCode::Char(c) if !ctrl => line.insert(c),
        KeyCode::Backspace => line.backspace(),
        KeyCode::Delete => line.delete(),
        KeyCode::Left => line.left(),
        KeyCode::Right => line.right(),
        KeyCode::Home => line.home(),
        KeyCode::End => line.end(),
        _ => {}
    }
}
