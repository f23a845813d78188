//! Rendering tests: real screens drawn into ratatui's `TestBackend` and
//! compared with insta snapshots (tests/snapshots/), plus checks on what
//! a snapshot cannot show: styles, the cursor, and that no control
//! character from the network reaches a cell.

use std::time::Duration;

use chat_proto::{Message, ServerFrame};
use chat_tui::action::Action;
use chat_tui::app::{App, Size, TimeZone};
use chat_tui::net::NetEvent;
use chat_tui::state::SavedState;
use chat_tui::ui;
use chat_tui::update::update;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;

/// 2025-11-21 09:00:00 UTC.
const T0: i64 = 1_763_715_600_000;
const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

fn frame(f: ServerFrame) -> Action {
    Action::Net(NetEvent::Frame(f))
}

fn msg(room: &str, id: u64, user: &str, text: &str, ts: i64) -> Message {
    Message {
        room: room.into(),
        id,
        user: user.into(),
        text: text.into(),
        ts,
        reference: None,
        ..Default::default()
    }
}

fn press(app: &mut App, code: KeyCode) {
    update(app, Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

/// An app for alice, connected, live in the given rooms (no history yet).
fn connected(rooms: &[&str], width: u16, height: u16) -> App {
    let mut app = App::new("ws://127.0.0.1:8000/ws", "alice", "r");
    app.time_zone = TimeZone::utc();
    app.size = Size { width, height };
    app.now_ms = T0 + 3 * DAY;
    let names: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
    app.restore(&SavedState::default(), &names, None);
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    update(
        &mut app,
        frame(ServerFrame::Welcome {
            user: "alice".into(),
            guest: false,
            registered: false,
            protocol: 1,
            server: "chat-server 0.1.0".into(),
            admin: false,
        }),
    );
    for room in rooms {
        update(
            &mut app,
            frame(ServerFrame::Joined {
                room: room.to_string(),
                members: vec!["alice".into(), "bob".into(), "carol".into()],
                history: vec![],
                more: false,
                last_id: 0,
                details: None,
            }),
        );
    }
    // Start from clean panes: the "Connected" notice is not what these
    // screens are about.
    for room in &mut app.rooms {
        room.entries.clear();
    }
    app
}

fn live(app: &mut App, m: Message) {
    update(app, frame(ServerFrame::Message(m)));
}

fn draw(app: &App) -> Terminal<TestBackend> {
    let mut terminal =
        Terminal::new(TestBackend::new(app.size.width, app.size.height)).expect("a test terminal");
    ui::render(&mut terminal, app).expect("drawing into a TestBackend");
    terminal
}

/// The conversation used by the main-screen snapshots.
fn conversation(width: u16, height: u16) -> App {
    let mut app = connected(&["lobby", "rust", "random"], width, height);
    live(&mut app, msg("lobby", 1, "bob", "morning all", T0));
    live(
        &mut app,
        msg("lobby", 2, "carol", "hi bob, hi alice", T0 + MINUTE),
    );
    update(
        &mut app,
        frame(ServerFrame::Join {
            room: "lobby".into(),
            user: "dave".into(),
            ts: T0 + 2 * MINUTE,
        }),
    );
    live(
        &mut app,
        msg(
            "lobby",
            3,
            "dave",
            "this is a rather long message that has to wrap over more than one row of the history pane, with every continuation row lined up under the text",
            T0 + 3 * MINUTE,
        ),
    );
    live(
        &mut app,
        msg("lobby", 4, "alice", "welcome dave", T0 + DAY + 5 * MINUTE),
    );
    update(
        &mut app,
        frame(ServerFrame::Leave {
            room: "lobby".into(),
            user: "carol".into(),
            ts: T0 + DAY + 6 * MINUTE,
        }),
    );
    for id in 10..13 {
        live(&mut app, msg("rust", id, "bob", "borrowck again", T0 + DAY));
    }
    live(
        &mut app,
        msg("random", 20, "carol", "@alice lunch?", T0 + DAY),
    );
    // A line typed but not acknowledged yet.
    app.now_ms = T0 + DAY + 7 * MINUTE;
    type_text(&mut app, "is anyone reviewing #42?");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "draft text");
    app
}

/// Where `text` starts on screen (single-width text only).
fn find(buffer: &ratatui::buffer::Buffer, text: &str) -> (u16, u16) {
    for y in 0..buffer.area.height {
        let row: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol())
            .collect();
        if let Some(byte) = row.find(text) {
            return (row[..byte].chars().count() as u16, y);
        }
    }
    panic!("{text:?} not on screen")
}

#[test]
fn main_screen() {
    let app = conversation(100, 20);
    let terminal = draw(&app);
    insta::assert_snapshot!(terminal.backend());

    // The pending line is drawn dimmed (pending style), the cursor sits
    // after the draft.
    let buffer = terminal.backend().buffer();
    let pending_row = (0..20)
        .find(|&y| {
            (0..100)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
                .contains("reviewing #42")
        })
        .expect("the pending line is on screen");
    let cell = &buffer[(50, pending_row)];
    assert!(cell.modifier.contains(Modifier::ITALIC), "{cell:?}");
    // carol's line mentions alice: her name is highlighted.
    let (x, y) = find(buffer, "carol");
    assert_eq!(buffer[(x, y)].bg, ratatui::style::Color::LightYellow);
    let (x, y) = find(buffer, "bob │ morning");
    assert_ne!(buffer[(x, y)].bg, ratatui::style::Color::LightYellow);
    let mut terminal = terminal;
    let cursor = terminal.get_cursor_position().expect("cursor");
    assert_eq!((cursor.x, cursor.y), (12, 19));
}

#[test]
fn narrow_terminal_40_columns() {
    let app = conversation(40, 20);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn wide_characters_stay_aligned() {
    let mut app = connected(&["lobby"], 60, 12);
    live(
        &mut app,
        msg(
            "lobby",
            1,
            "bob",
            "日本語のテキストが折り返されても揃っていること",
            T0,
        ),
    );
    live(
        &mut app,
        msg("lobby", 2, "李雷", "你好 🎉🎉 emoji and 中文 mixed", T0),
    );
    live(&mut app, msg("lobby", 3, "carol", "ascii after wide", T0));
    let terminal = draw(&app);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn escape_sequences_from_the_network_are_inert() {
    let mut app = connected(&["lobby"], 80, 10);
    live(
        &mut app,
        msg(
            "lobby",
            1,
            "mallory",
            "\u{1b}[2J\u{1b}]0;pwned\u{7}clear screen? \u{9b}31m red? \u{202e}desrever",
            T0,
        ),
    );
    live(
        &mut app,
        msg("lobby", 2, "bob\u{1b}[31m", "a name with an escape", T0),
    );
    let terminal = draw(&app);
    insta::assert_snapshot!(terminal.backend());
    let buffer = terminal.backend().buffer();
    for cell in buffer.content() {
        assert!(
            !cell
                .symbol()
                .chars()
                .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
            "control character in a cell: {:?}",
            cell.symbol()
        );
    }
    let text: String = buffer.content().iter().map(|c| c.symbol()).collect();
    assert!(text.contains("^[[2J^[]0;pwned^Gclear"), "{text}");
}

#[test]
fn reconnecting_status_and_pending_lines() {
    let mut app = connected(&["lobby"], 80, 8);
    live(&mut app, msg("lobby", 1, "bob", "see you", T0 + 3 * DAY));
    update(
        &mut app,
        Action::Net(NetEvent::Disconnected {
            reason: "connection reset".into(),
            retry_in: Some(Duration::from_millis(2500)),
        }),
    );
    type_text(&mut app, "queued while offline");
    press(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn password_prompt_is_masked() {
    let mut app = connected(&["lobby"], 60, 6);
    update(
        &mut app,
        frame(ServerFrame::error(
            chat_proto::ErrorCode::AuthFailed,
            "wrong password",
            None,
        )),
    );
    type_text(&mut app, "hunter2");
    let terminal = draw(&app);
    insta::assert_snapshot!(terminal.backend());
    let text: String = terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(!text.contains("hunter2"));
}

#[test]
fn rooms_browser_and_help() {
    let mut app = connected(&["lobby"], 70, 16);
    type_text(&mut app, "/rooms");
    press(&mut app, KeyCode::Enter);
    update(
        &mut app,
        frame(ServerFrame::Rooms {
            rooms: vec![
                chat_proto::RoomInfo {
                    name: "lobby".into(),
                    members: 3,
                    last_id: 4,
                    read_id: None,
                    topic: None,
                    private: None,
                },
                chat_proto::RoomInfo {
                    name: "rust".into(),
                    members: 1,
                    last_id: 12,
                    read_id: None,
                    topic: None,
                    private: None,
                },
            ],
            mine: false,
            more: false,
        }),
    );
    press(&mut app, KeyCode::Down);
    insta::assert_snapshot!("rooms_browser", draw(&app).backend());
    press(&mut app, KeyCode::Esc);
    type_text(&mut app, "/help");
    press(&mut app, KeyCode::Enter);
    app.size = Size {
        width: 80,
        height: 28,
    };
    insta::assert_snapshot!("help", draw(&app).backend());
}

#[test]
fn no_room_yet_shows_how_to_join_one() {
    let mut app = connected(&[], 70, 6);
    app.status_log.clear();
    insta::assert_snapshot!(draw(&app).backend());
}
