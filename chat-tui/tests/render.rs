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

/// A conversation with messages of several lines, and a message of
/// several lines being written.
fn several_lines(width: u16, height: u16) -> App {
    let mut app = connected(&["lobby", "rust"], width, height);
    live(
        &mut app,
        msg(
            "lobby",
            1,
            "bob",
            "here is the fix:\nfn main() {\n    println!(\"hi\");\n}\nworks for me",
            T0,
        ),
    );
    live(
        &mut app,
        msg(
            "lobby",
            2,
            "carol",
            "first line of a paragraph that is long enough to wrap on a narrow screen\nsecond line",
            T0 + MINUTE,
        ),
    );
    type_text(&mut app, "one");
    update(
        &mut app,
        Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT)),
    );
    update(&mut app, Action::Paste("two\nthree".into()));
    app
}

#[test]
fn several_lines_100x30() {
    let app = several_lines(100, 30);
    let mut terminal = draw(&app);
    insta::assert_snapshot!(terminal.backend());
    // The input took three rows; the cursor is after "three".
    let cursor = terminal.get_cursor_position().expect("cursor");
    assert_eq!((cursor.x, cursor.y), (7, 29));
    let rows = screen_rows(&terminal);
    assert!(rows[27].starts_with("> one"), "{:?}", rows[27]);
    assert!(rows[28].starts_with("  two"), "{:?}", rows[28]);
}

#[test]
fn several_lines_50x20() {
    let mut app = several_lines(50, 20);
    // More lines than the input shows: it scrolls, marking what is hidden.
    update(&mut app, Action::Paste("\nfour\nfive\nsix".into()));
    let mut terminal = draw(&app);
    insta::assert_snapshot!(terminal.backend());
    let rows = screen_rows(&terminal);
    assert!(rows[15].starts_with("↑ two"), "{:?}", rows[15]);
    assert!(rows[19].starts_with("  six"), "{:?}", rows[19]);
    let cursor = terminal.get_cursor_position().expect("cursor");
    assert_eq!((cursor.x, cursor.y), (5, 19));
    // Up twice: the cursor's line stays on screen.
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    let rows = screen_rows(&draw(&app));
    assert!(rows[15].starts_with("> one"), "{:?}", rows[15]);
    assert!(rows[19].starts_with("↓ five"), "{:?}", rows[19]);
}

#[test]
fn a_long_paste_asks_on_the_input_row() {
    let mut app = connected(&["lobby"], 50, 20);
    update(&mut app, Action::Paste("line\n".repeat(150)));
    let rows = screen_rows(&draw(&app));
    assert!(
        rows[19].starts_with("Paste 151 lines into the input? y/Enter: yes, n"),
        "{:?}",
        rows[19]
    );
}

/// The screen as the backend has it, escapes shown as `␛`: each cell of
/// a link is `␛]8;id=…;URL␛\` + its character + `␛]8;;␛\`.
fn screen_with_links(terminal: &Terminal<TestBackend>) -> String {
    terminal.backend().to_string().replace('\u{1b}', "␛")
}

fn with_links(width: u16, height: u16) -> App {
    let mut app = connected(&["lobby"], width, height);
    live(
        &mut app,
        msg(
            "lobby",
            1,
            "bob",
            "docs at https://example.com/chat/docs/client.md#keys-and-commands, see there",
            T0,
        ),
    );
    live(
        &mut app,
        msg(
            "lobby",
            2,
            "mallory",
            "http://evil.example/\u{1b}]8;;http://other\u{7}click\u{1b}]8;;\u{7}",
            T0,
        ),
    );
    app
}

#[test]
fn links_100x30() {
    let app = with_links(100, 30);
    let terminal = draw(&app);
    insta::assert_snapshot!(screen_with_links(&terminal));
    let screen = screen_with_links(&terminal);
    // One link, on one row here, whole.
    let url = "https://example.com/chat/docs/client.md#keys-and-commands";
    assert_eq!(
        screen.matches(&format!("{url}␛\\")).count(),
        url.len(),
        "every column of the link carries the whole URL"
    );
    // The URL visible in mallory's inert text is a link of its own, drawn
    // by the client; her escape sequence is shown, not obeyed.
    assert!(screen.contains("^[]8;;␛]8;id="), "{screen}");
    assert!(
        screen.contains("http://other␛\\r␛]8;;␛\\^Gclick"),
        "{screen}"
    );
    let buffer = terminal.backend().buffer();
    let (x, y) = find_symbol(buffer, "https://example.com");
    assert!(buffer[(x, y)].modifier.contains(Modifier::UNDERLINED));
}

#[test]
fn links_50x20() {
    let app = with_links(50, 20);
    let terminal = draw(&app);
    let screen = screen_with_links(&terminal);
    insta::assert_snapshot!(screen);
    // Wrapped over three rows, every part of the URL links to all of it.
    let rows_with_link: Vec<&str> = screen
        .lines()
        .filter(|row| row.contains("client.md#keys-and-commands␛\\"))
        .collect();
    assert_eq!(rows_with_link.len(), 3, "{screen}");
}

/// The first cell whose symbol contains `text`.
fn find_symbol(buffer: &ratatui::buffer::Buffer, text: &str) -> (u16, u16) {
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            if buffer[(x, y)].symbol().contains(text) {
                return (x, y);
            }
        }
    }
    panic!("{text:?} not in any cell")
}

/// alice on a protocol-2 server, op of private `lobby` (with a topic),
/// kicked out of `rust`, invited to `secret`; lobby's history holds a
/// message and one line of every room-change kind.
fn managed_rooms(width: u16, height: u16) -> App {
    use chat_proto::{Admittance, Entry, Removal, Role, RoleChange, RoomDetails, SettingsChange};
    let mut app = connected(&[], width, height);
    update(
        &mut app,
        frame(ServerFrame::Welcome {
            user: "alice".into(),
            guest: false,
            registered: false,
            protocol: 2,
            server: "chat-server 0.2.0".into(),
            admin: false,
        }),
    );
    let details = |topic: &str, private: bool| RoomDetails {
        topic: topic.into(),
        owner: Some("dave".into()),
        ops: vec!["alice".into(), "bob".into()],
        private,
        role: Role::Op,
        read_id: 0,
    };
    let removal = |room: &str, id: u64, subject: &str, reason: Option<&str>| Removal {
        room: room.into(),
        id,
        user: "bob".into(),
        ts: T0 + id as i64 * MINUTE,
        reference: None,
        subject: subject.into(),
        reason: reason.map(str::to_owned),
    };
    let admit = |room: &str, id: u64, user: &str, subject: &str| Admittance {
        room: room.into(),
        id,
        user: user.into(),
        ts: T0 + id as i64 * MINUTE,
        reference: None,
        subject: subject.into(),
    };
    let topic = |id: u64, topic: &str| {
        Entry::Topic(chat_proto::TopicChange {
            room: "lobby".into(),
            id,
            user: "dave".into(),
            ts: T0 + id as i64 * MINUTE,
            reference: None,
            topic: topic.into(),
        })
    };
    let history = vec![
        Entry::from(msg("lobby", 1, "bob", "morning all", T0 + MINUTE)),
        topic(2, "release day \u{1b}[31m— ship v2.0 tonight, notes in #42"),
        Entry::Role(RoleChange {
            room: "lobby".into(),
            id: 3,
            user: "dave".into(),
            ts: T0 + 3 * MINUTE,
            reference: None,
            subject: "carol".into(),
            role: Role::Op,
        }),
        Entry::Kick(removal("lobby", 4, "mallory", Some("spam"))),
        Entry::Ban(removal(
            "lobby",
            5,
            "mallory",
            Some("came back and spammed again, with links"),
        )),
        Entry::Unban(admit("lobby", 6, "dave", "mallory")),
        Entry::Invite(admit("lobby", 7, "dave", "erin")),
        Entry::Settings(SettingsChange {
            room: "lobby".into(),
            id: 8,
            user: "dave".into(),
            ts: T0 + 8 * MINUTE,
            reference: None,
            private: true,
        }),
    ];
    for (room, history, details) in [
        (
            "lobby",
            history,
            details(
                "release day \u{1b}[31m— ship v2.0 tonight, notes in #42",
                true,
            ),
        ),
        ("rust", vec![], details("", false)),
    ] {
        type_text(&mut app, &format!("/join {room}"));
        press(&mut app, KeyCode::Enter);
        update(
            &mut app,
            frame(ServerFrame::Joined {
                room: room.into(),
                members: vec!["alice".into(), "bob".into(), "carol".into()],
                history,
                more: false,
                last_id: 8,
                details: Some(details),
            }),
        );
    }
    let kick = removal("rust", 9, "alice", Some("off topic"));
    update(&mut app, frame(ServerFrame::Kick(kick)));
    let invite = admit("secret", 10, "dave", "alice");
    update(&mut app, frame(ServerFrame::Invite(invite)));
    press_alt(&mut app, '1');
    for room in &mut app.rooms {
        room.entries
            .retain(|e| !matches!(e, chat_tui::app::Entry::Notice { .. }));
    }
    app
}

#[test]
fn title_line_and_room_change_lines() {
    for (width, height) in [(100, 30), (50, 20)] {
        let mut app = managed_rooms(width, height);
        let terminal = draw_kept(&mut app);
        insta::assert_snapshot!(format!("managed_{width}x{height}"), terminal.backend());
        let rows = screen_rows(&terminal);
        // The title is the history's first row, the topic made inert.
        let title_row = if width < 60 { 1 } else { 0 };
        assert!(rows[title_row].contains("release day ^[[31m"), "{rows:#?}");
        let buffer = terminal.backend().buffer();
        let (x, y) = find(buffer, "mallory was kicked by bob:");
        assert!(buffer[(x, y)].modifier.contains(Modifier::DIM));
        let (x, y) = find(buffer, "release day");
        assert!(buffer[(x, y)].modifier.contains(Modifier::BOLD));
        // The room we were kicked from says why; the invitation, how.
        press_alt(&mut app, '2');
        let rows = screen_rows(&draw_kept(&mut app));
        let text = rows.join("\n");
        assert!(text.contains("you were kicked by bob: off"), "{text}");
        press_alt(&mut app, '3');
        let rows = screen_rows(&draw_kept(&mut app));
        assert!(
            rows[title_row].contains("dave invited you to #secret"),
            "{rows:#?}"
        );
        if width >= 60 {
            insta::assert_snapshot!(
                format!("invited_{width}x{height}"),
                draw_kept(&mut app).backend()
            );
        }
    }
}

#[test]
fn a_protocol_1_room_has_no_title_line() {
    let app = conversation(100, 20);
    let rows = screen_rows(&draw(&app));
    // The pane's top row is the history's padding, not a title.
    assert_eq!(
        rows[0].split('│').nth(1).map(str::trim),
        Some(""),
        "{rows:#?}"
    );
    assert!(
        !rows
            .iter()
            .any(|r| r.contains("you: ") || r.contains("no topic")),
        "{rows:#?}"
    );
}

#[test]
fn deleting_a_room_asks_in_a_popup() {
    let mut app = managed_rooms(50, 20);
    type_text(&mut app, "/delete-room");
    press(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("confirm_50x20", draw(&app).backend());
}

/// A protocol-2 room where messages were fixed: a reply to a loaded
/// message and one to an older message, an edited one, a deleted one,
/// reactions (one of them alice's) and an action. The edit, deletion and
/// reactions come live, after the page, as the room stream sends them.
fn fixed_messages(width: u16, height: u16) -> App {
    use chat_proto::{Delete, Edit, Reaction, Role, RoomDetails};
    let mut app = connected(&[], width, height);
    update(
        &mut app,
        frame(ServerFrame::Welcome {
            user: "alice".into(),
            guest: false,
            registered: false,
            protocol: 2,
            server: "chat-server 0.2.0".into(),
            admin: false,
        }),
    );
    type_text(&mut app, "/join lobby");
    press(&mut app, KeyCode::Enter);
    let at = |id: u64| T0 + id as i64 * MINUTE;
    let mut older_reply = msg("lobby", 10, "bob", "agreed, see above", at(10));
    older_reply.reply_to = Some(3);
    let mut reply = msg("lobby", 13, "dave", "morning bob! coffee first", at(13));
    reply.reply_to = Some(11);
    let mut action = msg("lobby", 14, "alice", "waves at everyone", at(14));
    action.action = true;
    let history = vec![
        older_reply,
        msg("lobby", 11, "bob", "morning all\nsecond line", at(11)),
        msg("lobby", 12, "carol", "buy cheap watches", at(12)),
        reply,
        action,
        msg("lobby", 15, "alice", "is anyone reviewing #42?", at(15)),
    ];
    update(
        &mut app,
        frame(ServerFrame::Joined {
            room: "lobby".into(),
            members: vec!["alice".into(), "bob".into(), "carol".into()],
            history: history.into_iter().map(chat_proto::Entry::from).collect(),
            more: true,
            last_id: 15,
            details: Some(RoomDetails {
                topic: String::new(),
                owner: Some("alice".into()),
                ops: vec![],
                private: false,
                role: Role::Owner,
                read_id: 15,
            }),
        }),
    );
    let react = |id: u64, user: &str, emoji: &str| {
        ServerFrame::React(Reaction {
            room: "lobby".into(),
            id,
            user: user.into(),
            ts: at(id),
            reference: None,
            target: 11,
            emoji: emoji.into(),
        })
    };
    for f in [
        ServerFrame::Edit(Edit {
            room: "lobby".into(),
            id: 16,
            user: "alice".into(),
            ts: at(16),
            reference: None,
            target: 15,
            text: "is anyone reviewing #43?".into(),
        }),
        ServerFrame::Delete(Delete {
            room: "lobby".into(),
            id: 17,
            user: "alice".into(),
            ts: at(17),
            reference: None,
            target: 12,
        }),
        react(18, "alice", "👍"),
        react(19, "dave", "👍"),
        react(20, "carol", "❤"),
    ] {
        update(&mut app, frame(f));
    }
    for room in &mut app.rooms {
        room.entries
            .retain(|e| !matches!(e, chat_tui::app::Entry::Notice { .. }));
    }
    app
}

#[test]
fn edited_deleted_reply_reaction_and_action_messages() {
    for (width, height) in [(100, 30), (50, 20)] {
        let mut app = fixed_messages(width, height);
        let terminal = draw_kept(&mut app);
        insta::assert_snapshot!(format!("fixable_{width}x{height}"), terminal.backend());
        let text = screen_rows(&terminal).join("\n");
        for shown in [
            "(edited)",
            "(deleted)",
            "reply to an older message",
            "bob: morning all",
            "* alice waves",
        ] {
            assert!(text.contains(shown), "{shown:?} not in\n{text}");
        }
        assert!(!text.contains("cheap watches"), "{text}");
        assert!(!text.contains("#42"), "{text}");
        let buffer = terminal.backend().buffer();
        let (x, y) = find(buffer, "(deleted)");
        assert!(buffer[(x, y)].modifier.contains(Modifier::DIM));
        // Our reaction stands out from the others'.
        let (x, y) = find_symbol(buffer, "👍");
        let (hx, hy) = find_symbol(buffer, "❤");
        assert!(buffer[(x, y)].modifier.contains(Modifier::BOLD));
        assert!(!buffer[(hx, hy)].modifier.contains(Modifier::BOLD));
        assert_eq!(y, hy, "reactions on one row");
        // The most given first (the cell after a wide emoji reads as a
        // space here).
        let row = &screen_rows(&terminal)[y as usize];
        assert!(row.contains("👍  2  ❤ 1"), "{row}");
    }
}

#[test]
fn a_picked_message_is_highlighted_and_the_status_line_has_its_keys() {
    for (width, height) in [(100, 30), (50, 20)] {
        let mut app = fixed_messages(width, height);
        update(
            &mut app,
            Action::Key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::ALT)),
        );
        // Up twice: from alice's last message to dave's reply.
        press(&mut app, KeyCode::Up);
        press(&mut app, KeyCode::Up);
        let terminal = draw_kept(&mut app);
        insta::assert_snapshot!(format!("picked_{width}x{height}"), terminal.backend());
        let rows = screen_rows(&terminal);
        let status = &rows[rows.len() - 2];
        assert!(status.contains("picked dave"), "{status}");
        if width >= 100 {
            assert!(status.contains("picked dave: morning bob!"), "{status}");
            // Ours is the room's owner: delete is offered; edit is not.
            assert!(
                status.contains("r reply") && status.contains("d delete"),
                "{status}"
            );
            assert!(!status.contains("e edit"), "{status}");
        }
        let buffer = terminal.backend().buffer();
        let (x, y) = find(buffer, "coffee first");
        assert!(buffer[(x, y)].modifier.contains(Modifier::REVERSED));
        let (x, y) = find(buffer, "waves at everyone");
        assert!(!buffer[(x, y)].modifier.contains(Modifier::REVERSED));
        // r: replying; the status line says to what.
        update(&mut app, Action::Typed("r".into()));
        let rows = screen_rows(&draw_kept(&mut app));
        let status = &rows[rows.len() - 2];
        assert!(
            status.contains("replying to dave") && status.contains("Esc cancels"),
            "{status}"
        );
    }
}

#[test]
fn picking_above_the_pane_scrolls_the_picked_message_into_view() {
    let mut app = fixed_messages(100, 10);
    draw_kept(&mut app);
    update(
        &mut app,
        Action::Key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::ALT)),
    );
    for _ in 0..5 {
        press(&mut app, KeyCode::Up);
        draw_kept(&mut app);
    }
    // The oldest loaded: bob's reply to a message not loaded.
    let terminal = draw_kept(&mut app);
    let rows = screen_rows(&terminal);
    let text = rows.join("\n");
    assert!(text.contains("reply to an older message"), "{text}");
    let (x, y) = find(terminal.backend().buffer(), "agreed, see above");
    assert!(
        terminal.backend().buffer()[(x, y)]
            .modifier
            .contains(Modifier::REVERSED)
    );
    assert!(text.contains("more lines"), "{text}");
    // Down to bob's two-line message with its reactions: all of it shows.
    press(&mut app, KeyCode::Down);
    let rows = screen_rows(&draw_kept(&mut app));
    let text = rows.join("\n");
    for shown in ["morning all", "second line", "👍"] {
        assert!(text.contains(shown), "{shown:?} not in\n{text}");
    }
}

/// alice, registered on a protocol-2 server: `rooms mine` brings a
/// conversation with bob (2 unread) and rust (4 unread); lobby, on
/// screen, was read up to 3 of 6 on another device; bob and carol are
/// typing in it.
fn conversations_and_typing(width: u16, height: u16) -> App {
    use chat_proto::{Role, RoomDetails, RoomInfo};
    let mut app = App::new("ws://127.0.0.1:8000/ws", "alice", "r");
    app.time_zone = TimeZone::utc();
    app.size = Size { width, height };
    app.now_ms = T0 + 3 * DAY;
    let names = vec!["lobby".to_owned(), "rust".to_owned()];
    app.restore(&SavedState::default(), &names, None);
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    update(
        &mut app,
        frame(ServerFrame::Welcome {
            user: "alice".into(),
            guest: false,
            registered: false,
            protocol: 2,
            server: "chat-server 0.1.0".into(),
            admin: false,
        }),
    );
    let info = |name: &str, last_id, read_id| RoomInfo {
        read_id: Some(read_id),
        topic: Some(String::new()),
        private: Some(false),
        ..RoomInfo::new(name, 3, last_id)
    };
    update(
        &mut app,
        frame(ServerFrame::Rooms {
            mine: true,
            rooms: vec![
                info("lobby", 6, 3),
                info("rust", 14, 10),
                info("@alice+bob", 2, 0),
            ],
            more: false,
        }),
    );
    let texts = [
        "morning all",
        "anyone up for a review?",
        "later today",
        "the build is green again",
        "nice",
        "alice: can you look at #42?",
    ];
    let history = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let user = if i % 2 == 0 { "bob" } else { "carol" };
            let id = i as u64 + 1;
            msg("lobby", id, user, text, T0 + 3 * DAY + id as i64 * MINUTE).into()
        })
        .collect();
    update(
        &mut app,
        frame(ServerFrame::Joined {
            room: "lobby".into(),
            members: vec!["alice".into(), "bob".into(), "carol".into()],
            history,
            more: false,
            last_id: 6,
            details: Some(RoomDetails {
                topic: String::new(),
                owner: None,
                ops: vec![],
                private: false,
                role: Role::Member,
                read_id: 3,
            }),
        }),
    );
    for user in ["bob", "carol"] {
        update(
            &mut app,
            frame(ServerFrame::Typing {
                room: "lobby".into(),
                user: user.into(),
            }),
        );
    }
    app
}

#[test]
fn conversations_new_messages_and_typing_100x30() {
    let app = conversations_and_typing(100, 30);
    let terminal = draw(&app);
    insta::assert_snapshot!("conversations_100x30", terminal.backend());
    let (x, y) = find(terminal.backend().buffer(), "bob and carol are typing…");
    assert_eq!(y, 27, "the row above the status line");
    assert!(x >= 20, "in the history pane, right of the sidebar");
    assert_eq!(find(terminal.backend().buffer(), "Direct").1, 0);
    assert_eq!(find(terminal.backend().buffer(), "@bob").1, 1);
    assert_eq!(find(terminal.backend().buffer(), "Rooms").1, 2);
}

#[test]
fn conversations_new_messages_and_typing_50x20() {
    let app = conversations_and_typing(50, 20);
    let terminal = draw(&app);
    insta::assert_snapshot!("conversations_50x20", terminal.backend());
    assert_eq!(find(terminal.backend().buffer(), "1:@bob").1, 0);
}

#[test]
fn a_conversation_on_screen_is_named_after_the_other_user() {
    let mut app = conversations_and_typing(100, 30);
    update(
        &mut app,
        Action::Key(KeyEvent::new(KeyCode::Char('1'), KeyModifiers::ALT)),
    );
    let terminal = draw(&app);
    let rows = screen_rows(&terminal);
    assert!(rows[0].contains("conversation with bob"), "{}", rows[0]);
    assert!(rows[0].trim_end().ends_with("private"), "{}", rows[0]);
    assert!(rows[28].contains("@bob: joining…"), "{}", rows[28]);
    assert!(
        !rows.iter().any(|r| r.contains("typing")),
        "typing was in lobby"
    );
}
