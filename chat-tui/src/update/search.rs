//! Searching messages (Ctrl-F, `/search TEXT`): the popup's keys, the
//! `search` request and its answer, and the jump to a found message in its
//! room: the room is joined when it is not, older pages are fetched until
//! the message is loaded, and then it is picked, which scrolls it into
//! view ([`super::fix`]).

use chat_proto::limits::MAX_HISTORY_LIMIT;
use chat_proto::{ClientFrame, Message, ServerFrame};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::commands::join_room;
use super::rooms::switch_to;
use super::{Effect, notice};
use crate::app::{App, Jump, Level, Mode, Older, RoomSync, SearchView};

/// Results asked for per search: a screenful or two of the popup.
pub const SEARCH_PAGE: u32 = 50;
/// The longest query the server takes, in characters.
const MAX_QUERY_CHARS: usize = 256;
/// Messages above the found one loaded with it, so it shows in context.
const JUMP_CONTEXT: u64 = 10;

/// Ctrl-F (empty) or `/search TEXT`: opens the popup, asking at once when
/// there is a query.
pub(super) fn open(app: &mut App, query: &str, fx: &mut Vec<Effect>) {
    if app.protocol < 2 {
        let why = if app.conn.is_online() {
            "This server speaks protocol 1: it cannot search messages."
        } else {
            "Not connected: searching needs the server."
        };
        notice(app, why, Level::Error);
        return;
    }
    app.completion = None;
    let mut view = SearchView::default();
    view.input.set(query.trim().to_owned());
    ask(&mut view, fx);
    app.mode = Mode::Search(view);
}

/// Asks for the typed query. One without a letter or digit has no word to
/// find, and one longer than the server takes is cut: neither is refused.
fn ask(view: &mut SearchView, fx: &mut Vec<Effect>) {
    let query: String = view
        .input
        .text()
        .trim()
        .chars()
        .take(MAX_QUERY_CHARS)
        .collect();
    if query.is_empty() {
        return;
    }
    view.asked = Some(query.clone());
    view.results.clear();
    view.more = false;
    view.selected = 0;
    view.waiting = query.chars().any(char::is_alphanumeric);
    if view.waiting {
        send(&query, fx);
    }
}

fn send(query: &str, fx: &mut Vec<Effect>) {
    fx.push(Effect::Send(ClientFrame::Search {
        query: query.to_owned(),
        room: None,
        limit: Some(SEARCH_PAGE),
        before: None,
        before_ts: None,
        reference: None,
    }));
}

/// A key while the popup is open: typing edits the query, Up/Down choose,
/// Enter asks (or, on a chosen result of this query, jumps), Esc closes.
pub(super) fn search_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Mode::Search(view) = &mut app.mode else {
        return;
    };
    match key.code {
        KeyCode::Esc => app.mode = Mode::Normal,
        KeyCode::Up => view.selected = view.selected.saturating_sub(1),
        KeyCode::Down => {
            view.selected = (view.selected + 1).min(view.results.len().saturating_sub(1));
        }
        KeyCode::Enter if view.answered() => {
            if let Some(found) = view.chosen().cloned() {
                jump(app, &found, fx);
            }
        }
        KeyCode::Enter => ask(view, fx),
        KeyCode::Backspace => view.input.backspace(),
        KeyCode::Left => view.input.left(),
        KeyCode::Right => view.input.right(),
        KeyCode::Char(c)
            if !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            view.input.insert(c);
        }
        _ => {}
    }
}

/// Text typed in a burst while the popup is open goes into the query.
pub(super) fn search_typed(app: &mut App, text: &str) {
    if let Mode::Search(view) = &mut app.mode {
        view.input.insert_str(&text.replace(['\n', '\r'], " "));
    }
}

/// The server's `search` answer: shown when it answers the query last
/// asked.
pub(super) fn on_results(app: &mut App, answer: ServerFrame) {
    let ServerFrame::Search {
        query,
        messages,
        more,
    } = answer
    else {
        return;
    };
    let Mode::Search(view) = &mut app.mode else {
        return;
    };
    if view.asked.as_deref() != Some(query.as_str()) {
        return;
    }
    view.waiting = false;
    view.results = messages;
    view.more = more;
    view.selected = 0;
}

/// Closes the popup and goes to the message in its room.
fn jump(app: &mut App, found: &Message, fx: &mut Vec<Effect>) {
    app.mode = Mode::Normal;
    match app.room_index(&found.room) {
        Some(index) => switch_to(app, index),
        None => join_room(app, &found.room, fx),
    }
    app.jump = Some(Jump {
        room: found.room.clone(),
        id: found.id,
    });
    after_page(app, fx);
}

/// After every frame (a join or a page among them): picks the message a jump waits for once it is
/// loaded, or asks for the older page that holds it. A jump ends when the
/// user went to another room, or when the message is no longer there.
pub(super) fn after_page(app: &mut App, fx: &mut Vec<Effect>) {
    let Some(jump) = app.jump.clone() else {
        return;
    };
    let Some(index) = app.room_index(&jump.room).filter(|i| *i == app.current) else {
        app.jump = None;
        return;
    };
    let room = &mut app.rooms[index];
    if room.message_index(jump.id).is_some() {
        app.jump = None;
        super::fix::pick(app, jump.id);
        return;
    }
    if room.sync != RoomSync::Live || room.older == Older::Loading {
        return;
    }
    match room.oldest_id() {
        Some(oldest) if oldest > jump.id && room.older != Older::Exhausted => {
            let wanted = (oldest - jump.id + JUMP_CONTEXT).min(u64::from(MAX_HISTORY_LIMIT));
            room.older = Older::Loading;
            fx.push(Effect::Send(ClientFrame::History {
                room: room.name.clone(),
                before: Some(oldest),
                after: None,
                limit: Some(u32::try_from(wanted).unwrap_or(MAX_HISTORY_LIMIT)),
            }));
        }
        _ => {
            app.jump = None;
            let text = format!("That message is no longer in #{}.", jump.room);
            notice(app, &text, Level::Info);
        }
    }
}
