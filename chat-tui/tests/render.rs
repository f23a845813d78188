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

#[test]
fn the_first_draw_clears_what_an_earlier_program_left_on_the_terminal() {
    let app = connected(&["lobby"], 60, 10);
    // A killed client's screen, still on the terminal.
    let mut backend = TestBackend::new(60, 10);
    let mut junk = ratatui::buffer::Cell::default();
    junk.set_symbol("▒");
    let cells: Vec<(u16, u16, ratatui::buffer::Cell)> = (0..10)
        .flat_map(|y| (0..60).map(move |x| (x, y)))
        .map(|(x, y)| (x, y, junk.clone()))
        .collect();
    ratatui::backend::Backend::draw(&mut backend, cells.iter().map(|(x, y, c)| (*x, *y, c)))
        .expect("drawing into a TestBackend");
    let mut terminal = Terminal::new(backend).expect("a test terminal");
    // What the runner does before its first draw, then the draw.
    ui::clear(&mut terminal).expect("clearing a TestBackend");
    ui::render(&mut terminal, &app).expect("drawing into a TestBackend");
    let left: Vec<(u16, u16)> = cells
        .iter()
        .map(|(x, y, _)| (*x, *y))
        .filter(|&(x, y)| terminal.backend().buffer()[(x, y)].symbol() == "▒")
        .collect();
    assert!(left.is_empty(), "old text left at {left:?}");
}

/// Draws and keeps what the draw showed, as the runner does.
fn draw_kept(app: &mut App) -> Terminal<TestBackend> {
    let mut terminal =
        Terminal::new(TestBackend::new(app.size.width, app.size.height)).expect("a test terminal");
    let drawn = ui::render(&mut terminal, app).expect("drawing into a TestBackend");
    app.drawn(drawn);
    terminal
}

fn screen_rows(terminal: &Terminal<TestBackend>) -> Vec<String> {
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect()
        })
        .collect()
}

#[test]
fn help_at_50_columns_wraps_at_words_and_scrolls_to_its_end() {
    let mut app = connected(&["lobby"], 50, 20);
    type_text(&mut app, "/help");
    press(&mut app, KeyCode::Enter);
    let terminal = draw_kept(&mut app);
    insta::assert_snapshot!("help_50x20_top", terminal.backend());
    let mut seen: Vec<String> = screen_rows(&terminal);
    let mut pages = 0;
    while seen.iter().rev().take(20).any(|row| row.contains("↓ more")) {
        pages += 1;
        assert!(pages < 20, "the help page never reaches its end");
        press(&mut app, KeyCode::PageDown);
        seen.extend(screen_rows(&draw_kept(&mut app)));
    }
    assert!(pages > 0, "at 50x20 the help page needs scrolling");
    insta::assert_snapshot!("help_50x20_end", draw_kept(&mut app).backend());
    // Every word of every key and description is on some screen whole.
    let words: std::collections::BTreeSet<&str> = seen
        .iter()
        .flat_map(|row| row.split(|c: char| c.is_whitespace() || c == '│'))
        .collect();
    for (key, what) in ui::popup::help_rows() {
        for word in key.split_whitespace().chain(what.split_whitespace()) {
            assert!(words.contains(word), "{word:?} of {what:?} not shown whole");
        }
    }
    // Home goes back to the top; any other key closes.
    press(&mut app, KeyCode::Home);
    let top = screen_rows(&draw_kept(&mut app));
    assert!(
        top.iter().any(|row| row.contains("send the line")),
        "{top:?}"
    );
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, chat_tui::app::Mode::Normal);
}

/// Messages with every kind of emoji cluster terminals draw as one wide
/// glyph, and half a flag.
fn emoji_room(width: u16, height: u16) -> App {
    let mut app = connected(&["lobby"], width, height);
    for (id, text) in [
        (1, "👍🏽 skin tone"),
        (2, "👨\u{200d}👩\u{200d}👧 family"),
        (3, "🇵🇱 flag"),
        (4, "1\u{fe0f}\u{20e3} keycap"),
        (5, "🧑🏿\u{200d}🤝\u{200d}🧑🏻 handshake"),
        (6, "half 🇵 flag"),
    ] {
        live(&mut app, msg("lobby", id, "bob", text, T0));
    }
    app
}

/// The cell where `symbol` is drawn on the row that also shows `marker`.
fn cell_of(buffer: &ratatui::buffer::Buffer, symbol: &str, marker: &str) -> (u16, u16) {
    let (_, y) = find(buffer, marker);
    let x = (0..buffer.area.width)
        .find(|&x| buffer[(x, y)].symbol() == symbol)
        .unwrap_or_else(|| panic!("{symbol:?} not drawn as one cell on row {y}"));
    (x, y)
}

#[test]
fn emoji_clusters_take_two_cells_and_leave_nothing_behind() {
    for (width, height) in [(100, 30), (50, 20)] {
        let mut app = emoji_room(width, height);
        let mut terminal = draw(&app);
        insta::assert_snapshot!(format!("emoji_{width}x{height}"), terminal.backend());
        let buffer = terminal.backend().buffer().clone();
        for (cluster, after) in [
            ("👍🏽", "skin"),
            ("👨\u{200d}👩\u{200d}👧", "family"),
            ("🇵🇱", "flag"),
            ("1\u{fe0f}\u{20e3}", "keycap"),
            ("🧑🏿\u{200d}🤝\u{200d}🧑🏻", "handshake"),
        ] {
            // The whole cluster in one cell, two columns, then the space.
            let (x, y) = cell_of(&buffer, cluster, after);
            let text_at = (0..width)
                .find(|&c| buffer[(c, y)].symbol() == &after[..1] && c > x)
                .expect("the word after the emoji");
            assert_eq!(text_at, x + 3, "{cluster:?} at {width} columns");
        }
        // Half a flag never reaches a cell: terminals disagree on its width.
        for cell in buffer.content() {
            let symbol = cell.symbol();
            let mut chars = symbol.chars();
            assert!(
                !matches!(
                    (chars.next(), chars.next()),
                    (Some('\u{1F1E6}'..='\u{1F1FF}'), None)
                ),
                "a lone regional indicator in a cell"
            );
        }
        assert!(find(&buffer, "<U+1F1F5>").1 < height);
        // The rows move up under a new message: drawn over the old frame,
        // the screen is exactly a fresh drawing of the new one.
        live(&mut app, msg("lobby", 7, "carol", "🇫🇷 after 🇩🇪 more", T0));
        ui::render(&mut terminal, &app).expect("drawing into a TestBackend");
        assert_eq!(
            visible_cells(terminal.backend().buffer()),
            visible_cells(draw(&app).backend().buffer()),
            "{width}x{height}"
        );
    }
}

/// Every cell a terminal shows, with its style: cells under the second
/// column of a wide glyph are covered by it on a real terminal, whatever
/// a `TestBackend` kept there.
fn visible_cells(
    buffer: &ratatui::buffer::Buffer,
) -> Vec<(u16, u16, String, ratatui::style::Style)> {
    let mut cells = Vec::new();
    for y in 0..buffer.area.height {
        let mut covered_until = 0;
        for x in 0..buffer.area.width {
            if x < covered_until {
                continue;
            }
            let cell = &buffer[(x, y)];
            covered_until = x + chat_tui::text::width(cell.symbol()).max(1) as u16;
            cells.push((x, y, cell.symbol().to_owned(), cell.style()));
        }
    }
    cells
}

#[test]
fn half_a_flag_typed_in_the_input_line_keeps_the_cursor_after_it() {
    let mut app = connected(&["lobby"], 60, 6);
    type_text(&mut app, "hi 🇵");
    let mut terminal = draw(&app);
    let cursor = terminal.get_cursor_position().expect("cursor");
    // "> hi <U+1F1F5>": the cursor sits after the notation.
    assert_eq!((cursor.x, cursor.y), (14, 5));
    type_text(&mut app, "🇱");
    let mut terminal = draw(&app);
    let cursor = terminal.get_cursor_position().expect("cursor");
    assert_eq!((cursor.x, cursor.y), (7, 5), "the flag is one wide cluster");
    let buffer = terminal.backend().buffer();
    assert_eq!(buffer[(5, 5)].symbol(), "🇵🇱");
}

#[test]
fn long_room_names_are_cut_with_a_marker_at_50_columns() {
    let long = "the-room-with-a-name-far-too-long-for-a-narrow-bar";
    let mut app = connected(&["lobby", long, "rust", "random", "offtopic"], 50, 20);
    press_alt(&mut app, '2');
    let terminal = draw(&app);
    insta::assert_snapshot!("room_bar_50x20", terminal.backend());
    let bar = &screen_rows(&terminal)[0];
    assert!(bar.contains("2:the-room-with-a…"), "{bar:?}");
    assert!(
        bar.trim_end().ends_with('>'),
        "rooms past the edge: {bar:?}"
    );
    assert!(!bar.contains(long), "{bar:?}");
    // The status line cuts the room's name with a marker too.
    let status = &screen_rows(&terminal)[18];
    assert!(status.trim_end().ends_with('…'), "{status:?}");

    type_text(&mut app, "/rooms");
    press(&mut app, KeyCode::Enter);
    let rooms = [long, "lobby", "rust"]
        .iter()
        .map(|name| chat_proto::RoomInfo::new(*name, 12, 1))
        .collect();
    update(
        &mut app,
        frame(ServerFrame::Rooms {
            mine: false,
            rooms,
            more: false,
        }),
    );
    let terminal = draw(&app);
    insta::assert_snapshot!("rooms_browser_50x20", terminal.backend());
    let rows = screen_rows(&terminal);
    let row = rows
        .iter()
        .find(|r| r.contains("the-room") && r.contains("members"))
        .expect("the long room is listed");
    // Cut with `…`, and the rest of the row (members, joined) still shown.
    assert!(row.contains('…'), "{row:?}");
    assert!(
        row.contains("12 members") && row.contains("joined"),
        "{row:?}"
    );
}

fn press_alt(app: &mut App, c: char) {
    update(
        app,
        Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT)),
    );
}

#[test]
fn the_more_lines_hint_has_its_own_row_and_covers_no_text() {
    for (width, height) in [(100, 30), (50, 20)] {
        let mut app = connected(&["lobby"], width, height);
        for id in 1..=30 {
            live(
                &mut app,
                msg(
                    "lobby",
                    id,
                    "bob",
                    &format!(
                        "message {id} is long enough to reach the right edge of a narrow pane"
                    ),
                    T0,
                ),
            );
        }
        draw_kept(&mut app);
        press(&mut app, KeyCode::PageUp);
        let terminal = draw_kept(&mut app);
        insta::assert_snapshot!(format!("scrolled_{width}x{height}"), terminal.backend());
        let rows = screen_rows(&terminal);
        // The history's last row is above the status line and the input.
        let hint_row = &rows[height as usize - 3];
        assert!(hint_row.contains("more lines (PgDn)"), "{rows:#?}");
        let text_part = hint_row.split('↓').next().unwrap_or_default();
        assert!(
            text_part.chars().all(|c| c == ' ' || c == '│'),
            "message text under the hint: {hint_row:?}"
        );
    }
}
