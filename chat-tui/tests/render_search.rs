//! The search popup drawn into ratatui's `TestBackend`: a snapshot at
//! 100×30 and at 50×20, with the chosen result highlighted and the matched
//! words marked (styles a snapshot cannot show are checked on the cells).

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
        ..Default::default()
    }
}

fn press(app: &mut App, code: KeyCode, modifiers: KeyModifiers) {
    update(app, Action::Key(KeyEvent::new(code, modifiers)));
}

/// alice on a protocol-2 server, in `lobby` and `rust`, with the popup
/// open on the answer to "release no" and the second result chosen.
fn searched(width: u16, height: u16) -> App {
    let mut app = App::new("ws://127.0.0.1:8000/ws", "alice", "r");
    app.time_zone = TimeZone::utc();
    app.size = Size { width, height };
    app.now_ms = T0 + 60 * MINUTE;
    let rooms = vec!["lobby".to_owned(), "rust".to_owned()];
    app.restore(&SavedState::default(), &rooms, None);
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    update(
        &mut app,
        frame(ServerFrame::Welcome {
            user: "alice".into(),
            guest: false,
            registered: true,
            protocol: 2,
            server: "chat-server 0.1.0".into(),
            admin: false,
        }),
    );
    for room in &rooms {
        update(
            &mut app,
            frame(ServerFrame::Joined {
                room: room.clone(),
                members: vec!["alice".into(), "bob".into()],
                history: vec![],
                more: false,
                last_id: 0,
                details: None,
            }),
        );
    }
    press(&mut app, KeyCode::Char('f'), KeyModifiers::CONTROL);
    for c in "release no".chars() {
        press(&mut app, KeyCode::Char(c), KeyModifiers::NONE);
    }
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    update(
        &mut app,
        frame(ServerFrame::Search {
            query: "release no".into(),
            messages: vec![
                msg(
                    "rust",
                    41,
                    "carol",
                    "Release notes for 0.4 are up",
                    T0 + 30 * MINUTE,
                ),
                msg(
                    "lobby",
                    7,
                    "bob",
                    "did anyone read the release notes? the part about the new storage engine is long",
                    T0 + 20 * MINUTE,
                ),
                msg("lobby", 3, "bob", "no release today, notes tomorrow", T0),
            ],
            more: true,
        }),
    );
    press(&mut app, KeyCode::Down, KeyModifiers::NONE);
    app
}

fn draw(app: &App) -> Terminal<TestBackend> {
    let mut terminal =
        Terminal::new(TestBackend::new(app.size.width, app.size.height)).expect("a test terminal");
    ui::render(&mut terminal, app).expect("drawing into a TestBackend");
    terminal
}

/// Where `text` starts on screen, as (column, row).
fn find(terminal: &Terminal<TestBackend>, text: &str) -> (u16, u16) {
    let buffer = terminal.backend().buffer();
    for y in 0..buffer.area.height {
        let row: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol())
            .collect();
        if let Some(at) = row.find(text) {
            let column = row[..at].chars().count();
            return (u16::try_from(column).expect("a column"), y);
        }
    }
    panic!("{text:?} is not on screen:\n{}", terminal.backend());
}

#[test]
fn search_popup_100x30() {
    let app = searched(100, 30);
    let terminal = draw(&app);
    insta::assert_snapshot!(terminal.backend());
    let buffer = terminal.backend().buffer();
    // The chosen result (the second) is highlighted, the others are not.
    let (x, y) = find(&terminal, "#lobby bob 21 Nov 09:20");
    assert!(buffer[(x, y)].modifier.contains(Modifier::REVERSED));
    let (x, y) = find(&terminal, "#rust");
    assert!(!buffer[(x, y)].modifier.contains(Modifier::REVERSED));
    // Matched words are marked; the others are not.
    let (x, y) = find(&terminal, "Release notes for");
    assert!(buffer[(x, y)].modifier.contains(Modifier::UNDERLINED));
    assert!(buffer[(x + 8, y)].modifier.contains(Modifier::UNDERLINED));
    assert!(!buffer[(x + 14, y)].modifier.contains(Modifier::UNDERLINED));
}

#[test]
fn search_popup_50x20() {
    let app = searched(50, 20);
    insta::assert_snapshot!(draw(&app).backend());
}
