//! Unit tests for `update`: key bindings, commands, unread counting,
//! mentions and the reconnection bookkeeping, driven through `Action`s the
//! way the runner drives them.

use std::time::Duration;

use chat_proto::{ClientFrame, ErrorCode, Message, RoomInfo, ServerFrame};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::app::{App, ConnState, Entry, InputLine, Mode, Older, RoomSync, Size, TimeZone};
use crate::net::NetEvent;
use crate::state::{SavedRoom, SavedState};

const T0: i64 = 1_763_719_200_000;

fn app() -> App {
    let mut app = App::new("ws://test/ws", "alice", "r");
    app.time_zone = TimeZone::utc();
    app.size = Size {
        width: 120,
        height: 40,
    };
    app.now_ms = T0;
    app
}

fn app_in(rooms: &[&str]) -> App {
    let mut app = app();
    let names: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
    app.restore(&SavedState::default(), &names, None);
    app
}

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn alt(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::ALT))
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        update(app, key(KeyCode::Char(c)));
    }
}

/// Types a line and presses Enter; returns the effects of Enter.
fn enter_line(app: &mut App, text: &str) -> Vec<Effect> {
    type_text(app, text);
    update(app, key(KeyCode::Enter))
}

fn frame(f: ServerFrame) -> Action {
    Action::Net(NetEvent::Frame(f))
}

fn msg(room: &str, id: u64, user: &str, text: &str) -> Message {
    Message {
        room: room.into(),
        id,
        user: user.into(),
        text: text.into(),
        ts: T0 + id as i64 * 1000,
        reference: None,
        ..Default::default()
    }
}

/// A page of messages, as `joined` and `history` carry them.
fn page(messages: Vec<Message>) -> Vec<chat_proto::Entry> {
    messages.into_iter().map(chat_proto::Entry::from).collect()
}

fn acked(mut m: Message, reference: &str) -> Message {
    m.reference = Some(reference.into());
    m
}

fn joined(room: &str, members: &[&str], history: Vec<Message>, more: bool) -> Action {
    let last_id = history.last().map_or(0, |m| m.id);
    frame(ServerFrame::Joined {
        room: room.into(),
        members: members.iter().map(|m| m.to_string()).collect(),
        history: page(history),
        more,
        last_id,
        details: None,
    })
}

fn sent(fx: &[Effect]) -> Vec<ClientFrame> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

fn welcome(user: &str) -> Action {
    frame(ServerFrame::Welcome {
        user: user.into(),
        guest: true,
        registered: false,
        protocol: 1,
        server: "chat-server test".into(),
        admin: false,
    })
}

/// Connects: socket open, hello, welcome. Returns the frames sent.
fn connect(app: &mut App, epoch: u64) -> Vec<ClientFrame> {
    let mut frames = sent(&update(app, Action::Net(NetEvent::Connected { epoch })));
    frames.extend(sent(&update(app, welcome("alice"))));
    frames
}

fn disconnect(app: &mut App) {
    update(
        app,
        Action::Net(NetEvent::Disconnected {
            reason: "connection reset".into(),
            retry_in: Some(Duration::from_secs(3)),
        }),
    );
}

fn message_texts(app: &App, room: &str) -> Vec<String> {
    let index = app.room_index(room).expect("room exists");
    app.rooms[index]
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Message(m) => Some(m.text.clone()),
            _ => None,
        })
        .collect()
}

fn notices(app: &App) -> Vec<String> {
    let entries = app.current_room().map_or(&app.status_log, |r| &r.entries);
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Notice { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn join_frame(room: &str, since: Option<u64>) -> ClientFrame {
    ClientFrame::Join {
        room: room.into(),
        since,
        limit: since.map(|_| CATCH_UP_PAGE),
    }
}

/// An app connected and live in `rooms`, each joined with no history.
fn live_in(rooms: &[&str]) -> App {
    let mut app = app_in(rooms);
    connect(&mut app, 1);
    for room in rooms {
        update(&mut app, joined(room, &["alice", "bob"], vec![], false));
    }
    app
}

// ---------------------------------------------------------------- session

#[test]
fn connecting_says_hello_then_joins_every_room() {
    let mut app = app_in(&["lobby", "rust"]);
    app.password = Some("pw".into());
    let fx = update(&mut app, Action::Net(NetEvent::Connected { epoch: 7 }));
    assert_eq!(app.conn, ConnState::Handshaking { epoch: 7 });
    assert_eq!(
        sent(&fx),
        [ClientFrame::Hello {
            user: "alice".into(),
            password: Some("pw".into())
        }]
    );
    let fx = update(&mut app, welcome("alice"));
    assert_eq!(
        app.conn,
        ConnState::Online {
            epoch: 7,
            guest: true
        }
    );
    assert_eq!(
        sent(&fx),
        [join_frame("lobby", None), join_frame("rust", None)]
    );
    assert_eq!(app.rooms[0].sync, RoomSync::Joining { since: None });

    update(
        &mut app,
        joined(
            "lobby",
            &["alice", "bob"],
            vec![msg("lobby", 4, "bob", "yo")],
            false,
        ),
    );
    assert_eq!(app.rooms[0].sync, RoomSync::Live);
    assert_eq!(app.rooms[0].last_seen, 4);
    assert_eq!(app.rooms[0].older, Older::Exhausted);
    assert_eq!(app.rooms[0].members.len(), 2);
    assert_eq!(message_texts(&app, "lobby"), ["yo"]);
}

#[test]
fn saved_rooms_rejoin_from_the_last_id_read() {
    let mut app = app();
    let saved = SavedState {
        version: 1,
        rooms: vec![
            SavedRoom {
                name: "lobby".into(),
                last_read: 40,
            },
            SavedRoom {
                name: "rust".into(),
                last_read: 5,
            },
        ],
        current: Some("lobby".into()),
        ..SavedState::default()
    };
    app.restore(&saved, &["random".into()], None);
    let frames = connect(&mut app, 1);
    assert_eq!(
        frames[1..],
        [
            join_frame("lobby", Some(40)),
            join_frame("rust", Some(5)),
            join_frame("random", None)
        ]
    );
    // Caught up with few messages: a page of older context is fetched.
    let fx = update(
        &mut app,
        joined(
            "lobby",
            &["alice"],
            vec![msg("lobby", 41, "bob", "new")],
            false,
        ),
    );
    assert_eq!(
        sent(&fx),
        [ClientFrame::History {
            room: "lobby".into(),
            before: Some(41),
            after: None,
            limit: Some(OLDER_PAGE)
        }]
    );
    update(
        &mut app,
        frame(ServerFrame::History {
            room: "lobby".into(),
            messages: page(vec![
                msg("lobby", 39, "bob", "old"),
                msg("lobby", 40, "bob", "read"),
            ]),
            more: true,
        }),
    );
    assert_eq!(message_texts(&app, "lobby"), ["old", "read", "new"]);
    assert!(
        matches!(app.rooms[0].entries[0], Entry::Message(_)),
        "older messages go above the connection notice"
    );
    assert_eq!(app.rooms[0].older, Older::Available);
    // In a room not on screen, what came after the last read is unread.
    update(
        &mut app,
        joined(
            "rust",
            &["alice", "bob"],
            vec![msg("rust", 6, "bob", "a"), msg("rust", 7, "bob", "alice?")],
            false,
        ),
    );
    let rust = &app.rooms[1];
    assert_eq!((rust.unread, rust.mentioned), (2, true));
}

#[test]
fn context_page_into_an_empty_pane_sets_the_position() {
    let mut app = app();
    let saved = SavedState {
        version: 1,
        rooms: vec![SavedRoom {
            name: "lobby".into(),
            last_read: 40,
        }],
        current: None,
        ..SavedState::default()
    };
    app.restore(&saved, &[], None);
    connect(&mut app, 1);
    let fx = update(
        &mut app,
        frame(ServerFrame::Joined {
            room: "lobby".into(),
            members: vec!["alice".into()],
            history: vec![],
            more: false,
            last_id: 40,
            details: None,
        }),
    );
    assert!(matches!(
        &sent(&fx)[..],
        [ClientFrame::History {
            before: Some(41),
            ..
        }]
    ));
    update(
        &mut app,
        frame(ServerFrame::History {
            room: "lobby".into(),
            messages: page(vec![
                msg("lobby", 39, "bob", "old"),
                msg("lobby", 40, "bob", "read"),
            ]),
            more: false,
        }),
    );
    assert_eq!(app.rooms[0].last_seen, 40);
    assert_eq!(app.rooms[0].unread, 0);
    update(
        &mut app,
        frame(ServerFrame::Message(msg("lobby", 40, "bob", "read"))),
    );
    assert_eq!(
        message_texts(&app, "lobby"),
        ["old", "read"],
        "no duplicate"
    );
}

// ---------------------------------------------------------------- input keys

#[test]
fn editing_keys_move_and_delete() {
    let mut app = app_in(&["lobby"]);
    type_text(&mut app, "hello big world");
    update(&mut app, ctrl('w'));
    assert_eq!(app.input.text(), "hello big ");
    update(&mut app, ctrl('a'));
    update(&mut app, key(KeyCode::Delete));
    assert_eq!(app.input.text(), "ello big ");
    update(&mut app, ctrl('e'));
    update(&mut app, key(KeyCode::Backspace));
    assert_eq!(app.input.text(), "ello big");
    update(&mut app, key(KeyCode::Left));
    update(&mut app, key(KeyCode::Left));
    type_text(&mut app, "X");
    assert_eq!(app.input.text(), "ello bXig");
    update(&mut app, key(KeyCode::Right));
    update(&mut app, ctrl('u'));
    assert_eq!((app.input.text(), app.input.cursor()), ("g", 0));
    update(&mut app, key(KeyCode::End));
    assert_eq!(app.input.cursor(), 1);
    update(&mut app, key(KeyCode::Home));
    assert_eq!(app.input.cursor(), 0);
    type_text(&mut app, "a b ");
    update(&mut app, ctrl('k'));
    assert_eq!(app.input.text(), "a b ");
    update(
        &mut app,
        Action::Key(KeyEvent::new(KeyCode::Left, KeyModifiers::CONTROL)),
    );
    assert_eq!(app.input.cursor(), 2);
}

#[test]
fn up_and_down_walk_through_earlier_lines() {
    let mut app = live_in(&["lobby"]);
    enter_line(&mut app, "first");
    enter_line(&mut app, "/who");
    type_text(&mut app, "draft");
    update(&mut app, key(KeyCode::Up));
    assert_eq!(app.input.text(), "/who");
    update(&mut app, key(KeyCode::Up));
    assert_eq!(app.input.text(), "first");
    update(&mut app, key(KeyCode::Up));
    assert_eq!(app.input.text(), "first");
    update(&mut app, key(KeyCode::Down));
    assert_eq!(app.input.text(), "/who");
    update(&mut app, key(KeyCode::Down));
    assert_eq!(app.input.text(), "draft");
}

#[test]
fn tab_completes_member_names_and_cycles() {
    let mut app = live_in(&["lobby"]);
    update(
        &mut app,
        joined("lobby", &["alice", "bob", "bobby", "carol"], vec![], false),
    );
    type_text(&mut app, "bo");
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.input.text(), "bob: ");
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.input.text(), "bobby: ");
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.input.text(), "bob: ");
    type_text(&mut app, "ask @Ca");
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.input.text(), "bob: ask @carol ");
    // Your own name is not offered; no match leaves the text alone.
    app.input.set("al");
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.input.text(), "al");
}

#[test]
fn paste_keeps_its_lines_and_drops_control_characters() {
    let mut app = app_in(&["lobby"]);
    update(
        &mut app,
        Action::Paste("two\r\nlines\u{1b}[31m\n\tcode\r".into()),
    );
    assert_eq!(app.input.text(), "two\nlines[31m\n    code\n");
    assert_eq!(app.input.line_count(), 4);
}

#[test]
fn a_paste_of_many_lines_asks_first() {
    let mut app = live_in(&["lobby"]);
    app.paste_max_lines = 3;
    update(&mut app, Action::Paste("a\nb\nc".into()));
    assert_eq!(
        app.input.text(),
        "a\nb\nc",
        "as many lines as allowed: no question"
    );
    app.input.take();
    update(&mut app, Action::Paste("1\n2\n3\n4".into()));
    assert!(matches!(app.mode, Mode::ConfirmPaste(_)));
    assert_eq!(app.input.text(), "");
    // Other keys wait for the answer; Esc drops the paste.
    update(&mut app, key(KeyCode::Char('x')));
    assert!(matches!(app.mode, Mode::ConfirmPaste(_)));
    update(&mut app, key(KeyCode::Esc));
    assert_eq!((app.mode.clone(), app.input.text()), (Mode::Normal, ""));
    assert!(notices(&app).iter().any(|n| n.contains("Paste dropped")));
    // The runner hands a single key press over as typed text.
    update(&mut app, Action::Paste("1\n2\n3\n4".into()));
    update(&mut app, Action::Typed("xy".into()));
    assert_eq!(
        (app.mode.clone(), app.input.text()),
        (Mode::Normal, "1\n2\n3\n4")
    );
    // Enter sends it as one message with its lines.
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(matches!(
        sent(&fx).as_slice(),
        [ClientFrame::Message { text, .. }] if text == "1\n2\n3\n4"
    ));
    // 0 never asks.
    app.paste_max_lines = 0;
    update(&mut app, Action::Paste("x\n".repeat(500)));
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.input.line_count(), 501);
}

#[test]
fn alt_enter_and_shift_enter_start_a_new_line_and_up_down_walk_them() {
    let mut app = live_in(&["lobby"]);
    enter_line(&mut app, "earlier");
    type_text(&mut app, "one");
    update(&mut app, alt(KeyCode::Enter));
    type_text(&mut app, "two");
    update(
        &mut app,
        Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::SHIFT)),
    );
    type_text(&mut app, "three");
    assert_eq!(app.input.text(), "one\ntwo\nthree");
    // Up moves between the lines; on the first line it reaches the lines
    // sent before.
    update(&mut app, key(KeyCode::Up));
    update(&mut app, key(KeyCode::Up));
    assert_eq!(app.input.cursor_line(), (0, 3));
    update(&mut app, key(KeyCode::Home));
    type_text(&mut app, ">");
    assert_eq!(app.input.text(), ">one\ntwo\nthree");
    update(&mut app, key(KeyCode::Up));
    assert_eq!(app.input.text(), "earlier");
    update(&mut app, key(KeyCode::Down));
    assert_eq!(app.input.text(), ">one\ntwo\nthree");
    assert_eq!(app.input.cursor_line(), (2, 5));
    update(&mut app, key(KeyCode::Up));
    assert_eq!(app.input.cursor_line(), (1, 3));
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(matches!(
        sent(&fx).as_slice(),
        [ClientFrame::Message { text, .. }] if text == ">one\ntwo\nthree"
    ));
}

#[test]
fn a_line_over_the_limit_goes_as_several_messages_in_order() {
    let mut app = live_in(&["lobby"]);
    // 9,000 bytes of words: three messages, cut at spaces.
    let words: Vec<String> = (0..1000).map(|i| format!("w{i:07}")).collect();
    let line = words.join(" ");
    app.input.set(line.clone());
    let fx = update(&mut app, key(KeyCode::Enter));
    let texts: Vec<String> = sent(&fx)
        .into_iter()
        .map(|f| match f {
            ClientFrame::Message { text, .. } => text,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts.len(), 3);
    assert!(texts.iter().all(|t| t.len() <= 4000 && !t.ends_with(' ')));
    assert_eq!(texts.join(" "), line);
    assert_eq!(
        app.outbox.entries.len(),
        3,
        "each piece waits for its own ack"
    );
    assert_eq!(app.input.text(), "");
}

// ---------------------------------------------------------------- rooms

#[test]
fn room_switching_keys() {
    let mut app = live_in(&["a", "b", "c"]);
    assert_eq!(app.current, 0);
    update(&mut app, ctrl('n'));
    assert_eq!(app.current, 1);
    update(&mut app, alt(KeyCode::Down));
    assert_eq!(app.current, 2);
    update(&mut app, ctrl('n'));
    assert_eq!(app.current, 0, "wraps around");
    update(&mut app, ctrl('p'));
    assert_eq!(app.current, 2);
    update(&mut app, alt(KeyCode::Up));
    assert_eq!(app.current, 1);
    update(&mut app, alt(KeyCode::Char('1')));
    assert_eq!(app.current, 0);
    update(&mut app, alt(KeyCode::Char('3')));
    assert_eq!(app.current, 2);
    update(&mut app, alt(KeyCode::Char('9')));
    assert_eq!(app.current, 2, "no room 9: stay");
}

#[test]
fn unread_counts_and_mentions_outside_the_current_room() {
    let mut app = live_in(&["lobby", "rust"]);
    for (id, user, text) in [
        (10, "bob", "anyone here?"),
        (11, "alice", "my own line"),
        (12, "bob", "ALICE: look at this"),
        (13, "carol", "malice is not a mention"),
    ] {
        update(
            &mut app,
            frame(ServerFrame::Message(msg("rust", id, user, text))),
        );
    }
    update(
        &mut app,
        frame(ServerFrame::Message(msg("lobby", 14, "bob", "here"))),
    );
    let rust = &app.rooms[1];
    assert_eq!(rust.unread, 3, "own lines are not unread");
    assert!(rust.mentioned);
    assert_eq!(
        app.rooms[0].unread, 0,
        "the current room is read as it comes"
    );
    assert_eq!(app.rooms[0].last_read, 14);

    update(&mut app, ctrl('n'));
    let rust = &app.rooms[1];
    assert_eq!(
        (rust.unread, rust.mentioned, rust.last_read),
        (0, false, 13)
    );
    assert_eq!(rust.new_marker, Some(0), "marker above the first unread");
    let fx = update(&mut app, Action::Tick);
    let saved = fx.iter().find_map(|e| match e {
        Effect::SaveState(s) => Some(s.clone()),
        _ => None,
    });
    let saved = saved.expect("reading marks the state for saving");
    assert_eq!(saved.rooms[1].last_read, 13);
    assert_eq!(saved.current.as_deref(), Some("rust"));
    assert!(
        sent(&update(&mut app, Action::Tick)).is_empty()
            && !update(&mut app, Action::Tick)
                .iter()
                .any(|e| matches!(e, Effect::SaveState(_))),
        "nothing to save twice"
    );
}

#[test]
fn mention_flag_only_for_word_matches() {
    let mut app = live_in(&["lobby", "rust"]);
    update(
        &mut app,
        frame(ServerFrame::Message(msg("rust", 1, "bob", "palice alicex"))),
    );
    assert!(!app.rooms[1].mentioned);
    update(
        &mut app,
        frame(ServerFrame::Message(msg(
            "rust",
            2,
            "bob",
            "thanks, Alice.",
        ))),
    );
    assert!(app.rooms[1].mentioned);
}

// ---------------------------------------------------------------- commands

#[test]
fn join_command_joins_switches_and_saves() {
    let mut app = live_in(&["lobby"]);
    let fx = enter_line(&mut app, "/join #Rust");
    assert_eq!(sent(&fx), [join_frame("rust", None)]);
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::SaveState(s) if s.rooms.len() == 2))
    );
    assert_eq!(app.current_room().map(|r| r.name.as_str()), Some("rust"));
    // Joining a joined room only switches to it.
    let fx = enter_line(&mut app, "/j lobby");
    assert!(sent(&fx).is_empty());
    assert_eq!(app.current, 0);
    let fx = enter_line(&mut app, "/join bad room!");
    assert!(sent(&fx).is_empty());
    assert!(
        notices(&app)
            .last()
            .is_some_and(|n| n.contains("Cannot join"))
    );
    enter_line(&mut app, "/join");
    assert!(notices(&app).last().is_some_and(|n| n.contains("Usage")));
}

#[test]
fn leave_command_leaves_and_moves_to_a_neighbour() {
    let mut app = live_in(&["a", "b", "c"]);
    update(&mut app, alt(KeyCode::Char('2')));
    let fx = enter_line(&mut app, "/leave");
    assert_eq!(sent(&fx), [ClientFrame::Leave { room: "b".into() }]);
    let names: Vec<_> = app.rooms.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a", "c"]);
    assert_eq!(app.current_room().map(|r| r.name.as_str()), Some("c"));
    let fx = enter_line(&mut app, "/part a");
    assert_eq!(sent(&fx), [ClientFrame::Leave { room: "a".into() }]);
    assert_eq!(app.current_room().map(|r| r.name.as_str()), Some("c"));
    // Our own leave echo is ignored; someone else's updates the members.
    update(
        &mut app,
        frame(ServerFrame::Leave {
            room: "a".into(),
            user: "alice".into(),
            ts: T0,
        }),
    );
    enter_line(&mut app, "/leave nowhere");
    assert!(
        notices(&app)
            .last()
            .is_some_and(|n| n.contains("not in #nowhere"))
    );
    enter_line(&mut app, "/leave");
    assert!(app.rooms.is_empty());
    assert!(
        app.status_log
            .iter()
            .any(|e| matches!(e, Entry::Notice { text, .. } if text.contains("Left #c")))
    );
}

#[test]
fn rooms_command_opens_a_browser_and_enter_joins() {
    let mut app = live_in(&["lobby"]);
    let fx = enter_line(&mut app, "/rooms");
    assert_eq!(sent(&fx), [ClientFrame::rooms()]);
    let info = |name: &str, members| RoomInfo {
        name: name.into(),
        members,
        last_id: 0,
        read_id: None,
        topic: None,
        private: None,
    };
    update(
        &mut app,
        frame(ServerFrame::Rooms {
            rooms: vec![info("zeta", 1), info("lobby", 2), info("rust", 3)],
            mine: false,
            more: false,
        }),
    );
    let Mode::Rooms(browser) = &app.mode else {
        panic!("browser not open: {:?}", app.mode)
    };
    let names: Vec<_> = browser.visible().iter().map(|r| r.name.clone()).collect();
    assert_eq!(names, ["lobby", "rust", "zeta"]);
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Up));
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(sent(&fx), [join_frame("rust", None)]);
    // Typing filters; Esc closes without joining.
    enter_line(&mut app, "/rooms");
    update(
        &mut app,
        frame(ServerFrame::Rooms {
            rooms: vec![info("zeta", 1), info("lobby", 2)],
            mine: false,
            more: false,
        }),
    );
    type_text(&mut app, "ze");
    let Mode::Rooms(browser) = &app.mode else {
        panic!("browser not open")
    };
    assert_eq!(browser.visible().len(), 1);
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
    // An answer nobody asked for opens nothing.
    update(
        &mut app,
        frame(ServerFrame::Rooms {
            rooms: vec![],
            mine: false,
            more: false,
        }),
    );
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn who_help_quit_and_unknown_commands() {
    let mut app = live_in(&["lobby"]);
    enter_line(&mut app, "/who");
    assert_eq!(
        notices(&app).last().map(String::as_str),
        Some("#lobby: 2 members: alice, bob")
    );
    enter_line(&mut app, "/help");
    assert_eq!(app.mode, Mode::Help);
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
    enter_line(&mut app, "/frobnicate now");
    assert!(
        notices(&app)
            .last()
            .is_some_and(|n| n.contains("Unknown command /frobnicate"))
    );
    // `//` sends a line that starts with a slash.
    let fx = enter_line(&mut app, "//shrug");
    assert!(matches!(&sent(&fx)[..], [ClientFrame::Message { text, .. }] if text == "/shrug"));
    let fx = enter_line(&mut app, "/quit");
    assert!(matches!(fx[..], [Effect::SaveState(_), Effect::Quit]));
    let fx = update(&mut app, ctrl('c'));
    assert!(fx.contains(&Effect::Quit));
    let fx = update(&mut app, Action::Terminate);
    assert!(matches!(fx[..], [Effect::SaveState(_), Effect::Quit]));
}

#[test]
fn ctrl_c_quits_from_any_mode() {
    let mut app = live_in(&["lobby"]);
    app.mode = Mode::Help;
    assert!(update(&mut app, ctrl('c')).contains(&Effect::Quit));
    app.mode = Mode::Password(InputLine::default());
    assert!(update(&mut app, ctrl('c')).contains(&Effect::Quit));
}

#[test]
fn a_line_with_no_room_or_bad_text_is_kept_and_explained() {
    let mut app = app();
    let fx = enter_line(&mut app, "hello?");
    assert!(sent(&fx).is_empty());
    assert_eq!(app.input.text(), "hello?", "the line is kept to send later");
    assert!(
        app.status_log
            .iter()
            .any(|e| matches!(e, Entry::Notice { text, .. } if text.contains("/join")))
    );
    // A line over the limit is no longer refused: it is split, see
    // a_line_over_the_limit_goes_as_several_messages_in_order.
}

// ---------------------------------------------------------------- editor

#[test]
fn ctrl_x_ctrl_e_and_editor_command_open_the_editor_on_the_input() {
    let mut app = live_in(&["lobby"]);
    type_text(&mut app, "draft");
    assert!(update(&mut app, ctrl('x')).is_empty());
    let fx = update(&mut app, ctrl('e'));
    assert_eq!(fx, vec![Effect::Edit("draft".into())]);
    // Ctrl-E alone still goes to the end; Ctrl-X then another key does
    // nothing and is used up.
    update(&mut app, key(KeyCode::Home));
    update(&mut app, ctrl('e'));
    assert_eq!(app.input.cursor(), 5);
    update(&mut app, ctrl('x'));
    update(&mut app, ctrl('a'));
    assert_eq!(app.input.cursor(), 5);
    update(&mut app, ctrl('a'));
    assert_eq!(app.input.cursor(), 0);
    // Ctrl-X then a typed character: that character is used up too.
    update(&mut app, ctrl('x'));
    update(&mut app, Action::Typed("qz".into()));
    assert_eq!(app.input.text(), "zdraft");
    assert!(update(&mut app, ctrl('e')).is_empty(), "no prefix is left");
    app.input.take();
    let fx = enter_line(&mut app, "/editor");
    assert_eq!(fx, vec![Effect::Edit(String::new())]);
}

#[test]
fn what_the_editor_left_becomes_the_input() {
    let mut app = live_in(&["lobby"]);
    app.input.set("before");
    update(
        &mut app,
        Action::Edited(Ok("line one\r\n\tline two\n".into())),
    );
    assert_eq!(app.input.text(), "line one\n    line two");
    update(&mut app, Action::Edited(Err("\"vim\" ended with 1".into())));
    assert_eq!(app.input.text(), "line one\n    line two");
    assert!(
        notices(&app)
            .iter()
            .any(|n| n.contains("Editor: \"vim\" ended"))
    );
}

// ---------------------------------------------------------------- panes

#[test]
fn clear_empties_the_pane_and_new_messages_show_after_it() {
    let mut app = live_in(&["lobby"]);
    for id in 1..=3 {
        update(
            &mut app,
            frame(ServerFrame::Message(msg("lobby", id, "bob", "old"))),
        );
    }
    enter_line(&mut app, "/clear");
    draw(&mut app);
    let room = app.current_room().unwrap();
    assert_eq!(room.cleared, room.entries.len());
    assert!(room.entries.len() >= 3, "the history itself is kept");
    assert_eq!(room.viewport.rows_above, 0);
    update(
        &mut app,
        frame(ServerFrame::Message(msg("lobby", 4, "bob", "new"))),
    );
    let (rows, _) = crate::ui::history::pane(&app, 100, 10);
    let text: Vec<String> = rows.iter().map(|r| r.line.to_string()).collect();
    assert!(text.iter().any(|r| r.contains("new")), "{text:?}");
    assert!(!text.iter().any(|r| r.contains("old")), "{text:?}");
    // Scrolling up finds nothing above the clear and fetches nothing.
    let fx = key_drawn(&mut app, KeyCode::PageUp);
    assert!(sent(&fx).is_empty());
}

#[test]
fn win_and_buffer_go_to_a_room_by_number() {
    let mut app = live_in(&["a", "b", "c"]);
    enter_line(&mut app, "/win 3");
    assert_eq!(app.current, 2);
    enter_line(&mut app, "/buffer 1");
    assert_eq!(app.current, 0);
    enter_line(&mut app, "/win 9");
    enter_line(&mut app, "/win x");
    assert_eq!(app.current, 0);
    let n = notices(&app);
    assert!(n.iter().any(|t| t.contains("There is no room 9")), "{n:?}");
    assert!(n.iter().any(|t| t.contains("Usage: /win N")), "{n:?}");
}

// ---------------------------------------------------------------- mouse

fn mouse(kind: crossterm::event::MouseEventKind, column: u16, row: u16) -> Action {
    Action::Mouse(crossterm::event::MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

#[test]
fn the_wheel_scrolls_the_history_and_a_click_picks_a_room() {
    use crossterm::event::{MouseButton, MouseEventKind};
    let mut app = live_in(&["lobby", "rust"]);
    app.size = Size {
        width: 80,
        height: 12,
    };
    update(
        &mut app,
        joined("lobby", &["alice"], many("lobby", 1..=40), false),
    );
    draw(&mut app);
    update(&mut app, mouse(MouseEventKind::ScrollUp, 40, 3));
    assert_eq!(rows_scrolled(&mut app), 3);
    update(&mut app, mouse(MouseEventKind::ScrollUp, 40, 3));
    assert_eq!(rows_scrolled(&mut app), 6);
    update(&mut app, mouse(MouseEventKind::ScrollDown, 40, 3));
    assert_eq!(rows_scrolled(&mut app), 3);
    // The sidebar's second row is #rust.
    update(
        &mut app,
        mouse(MouseEventKind::Down(MouseButton::Left), 5, 1),
    );
    assert_eq!(app.current, 1);
    update(
        &mut app,
        mouse(MouseEventKind::Down(MouseButton::Left), 5, 0),
    );
    assert_eq!(app.current, 0);
    // A click elsewhere changes nothing.
    update(
        &mut app,
        mouse(MouseEventKind::Down(MouseButton::Left), 50, 1),
    );
    assert_eq!(app.current, 0);
    // On a narrow screen the room bar's labels are the targets.
    app.size = Size {
        width: 40,
        height: 12,
    };
    draw(&mut app);
    update(
        &mut app,
        mouse(MouseEventKind::Down(MouseButton::Left), 9, 0),
    );
    assert_eq!(app.current, 1, "{:?}", app.room_targets);
}

// ---------------------------------------------------------------- key bindings

#[test]
fn key_bindings_from_the_config_are_used_and_mistakes_told_on_one_line() {
    let cli = <crate::config::Cli as clap::Parser>::parse_from(["chat-tui", "--user", "alice"]);
    let mut file = crate::config::ConfigFile::default();
    file.keys.insert("scroll_up".into(), vec!["Ctrl-Y".into()]);
    file.keys.insert("jump".into(), vec!["Ctrl-J".into()]);
    file.keys.insert("redraw".into(), vec!["Ctrl-".into()]);
    let settings =
        crate::config::resolve(&cli, &file, None, Some("/tmp/s".into())).expect("settings");
    let app = crate::client::initial_app(&settings, &SavedState::default());
    let n = notices(&app);
    assert_eq!(
        n,
        [
            "Key bindings in the config file ignored: unknown action \"jump\"; \
          cannot read key \"Ctrl-\" (for redraw)."
        ]
    );
    let mut app = live_in(&["lobby"]);
    app.keymap = crate::keybind::Keymap::with_changes(&settings.keys).0;
    update(
        &mut app,
        joined("lobby", &["alice"], many("lobby", 1..=40), false),
    );
    draw(&mut app);
    update(&mut app, ctrl('y'));
    assert!(rows_scrolled(&mut app) > 0, "Ctrl-Y scrolls up now");
    update(&mut app, key(KeyCode::Esc));
    update(&mut app, key(KeyCode::PageUp));
    assert_eq!(rows_scrolled(&mut app), 0, "PgUp no longer does");
}

// ---------------------------------------------------------------- sending

#[test]
fn a_line_is_pending_until_its_ref_comes_back() {
    let mut app = live_in(&["lobby"]);
    let fx = enter_line(&mut app, "hi all");
    assert_eq!(
        sent(&fx),
        [ClientFrame::Message {
            room: "lobby".into(),
            text: "hi all".into(),
            reference: Some("r1".into()),
            reply_to: None,
            action: false
        }]
    );
    assert_eq!(app.outbox.entries.len(), 1);
    assert!(message_texts(&app, "lobby").is_empty());
    update(
        &mut app,
        frame(ServerFrame::Message(acked(
            msg("lobby", 5, "alice", "hi all"),
            "r1",
        ))),
    );
    assert!(app.outbox.entries.is_empty());
    assert_eq!(message_texts(&app, "lobby"), ["hi all"]);
}

#[test]
fn server_errors_become_visible_lines() {
    let mut app = live_in(&["lobby"]);
    enter_line(&mut app, "no such luck");
    update(
        &mut app,
        frame(ServerFrame::error(
            ErrorCode::NotInRoom,
            "join lobby first",
            Some("r1".into()),
        )),
    );
    assert!(
        app.outbox.entries.is_empty(),
        "a refused line is not pending"
    );
    assert!(
        notices(&app)
            .last()
            .is_some_and(|n| n.contains("Not sent") && n.contains("no such luck"))
    );
    update(
        &mut app,
        frame(ServerFrame::error(
            ErrorCode::Unknown,
            "\u{1b}[2Jweird",
            None,
        )),
    );
    assert!(
        notices(&app)
            .last()
            .is_some_and(|n| n.contains("^[[2Jweird"))
    );
    update(
        &mut app,
        Action::Net(NetEvent::Undecodable {
            error: "bad json".into(),
        }),
    );
    assert!(notices(&app).last().is_some_and(|n| n.contains("bad json")));
}

#[test]
fn rate_limited_lines_are_resent_after_a_pause() {
    let mut app = live_in(&["lobby"]);
    enter_line(&mut app, "one");
    update(
        &mut app,
        frame(ServerFrame::error(
            ErrorCode::RateLimited,
            "slow down",
            Some("r1".into()),
        )),
    );
    assert_eq!(app.outbox.entries.len(), 1);
    assert!(
        sent(&update(&mut app, Action::Tick)).is_empty(),
        "too early"
    );
    app.now += RESEND_DELAY;
    let fx = update(&mut app, Action::Tick);
    assert!(
        matches!(&sent(&fx)[..], [ClientFrame::Message { reference: Some(r), .. }] if r == "r1")
    );
}

// ---------------------------------------------------------------- reconnection

#[test]
fn disconnect_shows_the_countdown_and_queues_lines() {
    let mut app = live_in(&["lobby"]);
    disconnect(&mut app);
    assert!(matches!(app.conn, ConnState::Waiting { .. }));
    assert_eq!(app.rooms[0].sync, RoomSync::Offline);
    let fx = enter_line(&mut app, "while away");
    assert!(sent(&fx).is_empty(), "nothing is sent without a socket");
    assert_eq!(app.outbox.entries.len(), 1);
    assert!(update(&mut app, Action::Tick).is_empty());
    assert!(app.needs_redraw, "the countdown is redrawn each tick");
}

#[test]
fn a_lost_connection_is_told_in_plain_words_with_the_retry() {
    let mut app = live_in(&["lobby"]);
    update(
        &mut app,
        Action::Net(NetEvent::Disconnected {
            reason: "connection lost".into(),
            retry_in: Some(Duration::from_millis(2500)),
        }),
    );
    assert_eq!(
        notices(&app).last().map(String::as_str),
        Some("Disconnected: connection lost; retrying in 3 s.")
    );
}

#[test]
fn a_failing_connect_is_explained_once_per_reason() {
    let mut app = app_in(&["lobby"]);
    let refused = |app: &mut App, reason: &str| {
        update(
            app,
            Action::Net(NetEvent::Disconnected {
                reason: reason.into(),
                retry_in: Some(Duration::from_secs(1)),
            }),
        );
    };
    refused(&mut app, "Connection refused");
    refused(&mut app, "Connection refused");
    refused(&mut app, "no answer within 10s");
    let shown: Vec<_> = notices(&app)
        .into_iter()
        .filter(|n| n.starts_with("Cannot connect"))
        .collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert!(shown[0].contains("ws://test/ws") && shown[0].contains("Connection refused"));

    // After a session, "Disconnected" and the countdown say enough.
    let mut app = live_in(&["lobby"]);
    disconnect(&mut app);
    refused(&mut app, "Connection refused");
    let all = notices(&app);
    assert!(
        all.iter().all(|n| !n.starts_with("Cannot connect")),
        "{all:?}"
    );
    assert!(all.iter().any(|n| n.starts_with("Disconnected")), "{all:?}");
}

#[test]
fn reconnect_rejoins_since_the_last_id_and_resends_by_ref() {
    let mut app = live_in(&["lobby", "rust"]);
    update(
        &mut app,
        frame(ServerFrame::Message(msg("lobby", 20, "bob", "before"))),
    );
    enter_line(&mut app, "in flight");
    disconnect(&mut app);
    enter_line(&mut app, "typed offline");

    let frames = connect(&mut app, 2);
    assert_eq!(
        frames[1..],
        [join_frame("lobby", Some(20)), join_frame("rust", Some(0))]
    );
    // lobby: the server has more than one page since 20.
    let fx = update(
        &mut app,
        joined(
            "lobby",
            &["alice", "bob"],
            vec![msg("lobby", 21, "bob", "missed 1")],
            true,
        ),
    );
    assert_eq!(
        sent(&fx),
        [ClientFrame::History {
            room: "lobby".into(),
            before: None,
            after: Some(21),
            limit: Some(CATCH_UP_PAGE)
        }]
    );
    // A live message during catch-up waits until the pages are in.
    update(
        &mut app,
        frame(ServerFrame::Message(msg("lobby", 23, "bob", "live"))),
    );
    assert_eq!(message_texts(&app, "lobby"), ["before", "missed 1"]);
    let fx = update(
        &mut app,
        frame(ServerFrame::History {
            room: "lobby".into(),
            messages: page(vec![
                msg("lobby", 22, "bob", "missed 2"),
                msg("lobby", 23, "bob", "live"),
            ]),
            more: false,
        }),
    );
    assert_eq!(
        message_texts(&app, "lobby"),
        ["before", "missed 1", "missed 2", "live"],
        "in order, each once"
    );
    // Then the unacknowledged lines go out again, in order, same refs.
    assert_eq!(
        sent(&fx),
        [
            ClientFrame::Message {
                room: "lobby".into(),
                text: "in flight".into(),
                reference: Some("r1".into()),
                reply_to: None,
                action: false
            },
            ClientFrame::Message {
                room: "lobby".into(),
                text: "typed offline".into(),
                reference: Some("r2".into()),
                reply_to: None,
                action: false
            },
        ]
    );
    assert!(
        app.outbox.entries.iter().all(|p| p.in_flight),
        "both wait for their acknowledgement"
    );
}

#[test]
fn duplicates_are_dropped_by_id() {
    let mut app = live_in(&["lobby"]);
    for id in [5, 6, 6, 5, 7] {
        update(
            &mut app,
            frame(ServerFrame::Message(msg(
                "lobby",
                id,
                "bob",
                &format!("m{id}"),
            ))),
        );
    }
    assert_eq!(message_texts(&app, "lobby"), ["m5", "m6", "m7"]);
    disconnect(&mut app);
    connect(&mut app, 2);
    update(
        &mut app,
        joined(
            "lobby",
            &["bob"],
            vec![
                msg("lobby", 6, "bob", "m6"),
                msg("lobby", 7, "bob", "m7"),
                msg("lobby", 8, "bob", "m8"),
            ],
            false,
        ),
    );
    assert_eq!(message_texts(&app, "lobby"), ["m5", "m6", "m7", "m8"]);
}

#[test]
fn a_stored_line_whose_ack_was_lost_is_resent_by_ref_and_shown_once() {
    let mut app = live_in(&["lobby"]);
    enter_line(&mut app, "did it arrive?");
    enter_line(&mut app, "second");
    // The server stored the first line, but the socket died before the ack.
    disconnect(&mut app);
    connect(&mut app, 2);
    let fx = update(
        &mut app,
        joined(
            "lobby",
            &["alice"],
            vec![msg("lobby", 3, "alice", "did it arrive?")],
            false,
        ),
    );
    assert_eq!(message_texts(&app, "lobby"), ["did it arrive?"]);
    // No guessing from the text: both go again with their refs, and the
    // server, which kept r1 with the entry, answers with the stored entry.
    assert_eq!(
        sent(&fx),
        [
            ClientFrame::message("lobby", "did it arrive?", Some("r1".into())),
            ClientFrame::message("lobby", "second", Some("r2".into())),
        ]
    );
    update(
        &mut app,
        frame(ServerFrame::Message(acked(
            msg("lobby", 3, "alice", "did it arrive?"),
            "r1",
        ))),
    );
    update(
        &mut app,
        frame(ServerFrame::Message(acked(
            msg("lobby", 4, "alice", "second"),
            "r2",
        ))),
    );
    assert!(app.outbox.entries.is_empty());
    assert_eq!(
        message_texts(&app, "lobby"),
        ["did it arrive?", "second"],
        "the stored copy is shown once, by id"
    );
}

#[test]
fn an_own_line_in_history_with_the_same_text_does_not_take_a_pending_one() {
    let mut app = live_in(&["lobby"]);
    enter_line(&mut app, "hi");
    disconnect(&mut app);
    connect(&mut app, 2);
    // Another session of alice said "hi" meanwhile.
    let fx = update(
        &mut app,
        joined(
            "lobby",
            &["alice"],
            vec![msg("lobby", 9, "alice", "hi")],
            false,
        ),
    );
    assert_eq!(
        sent(&fx),
        [ClientFrame::message("lobby", "hi", Some("r1".into()))],
        "our own hi still goes out"
    );
    assert_eq!(app.outbox.entries.len(), 1);
}

#[test]
fn frames_for_an_old_room_or_socket_do_not_confuse_the_state() {
    let mut app = live_in(&["lobby"]);
    update(
        &mut app,
        frame(ServerFrame::Message(msg("elsewhere", 1, "bob", "?"))),
    );
    update(&mut app, joined("elsewhere", &["bob"], vec![], false));
    update(
        &mut app,
        frame(ServerFrame::History {
            room: "elsewhere".into(),
            messages: vec![],
            more: false,
        }),
    );
    assert_eq!(app.rooms.len(), 1);
}

#[test]
fn a_reset_server_history_is_joined_afresh() {
    let mut app = live_in(&["lobby"]);
    update(
        &mut app,
        frame(ServerFrame::Message(msg("lobby", 500, "bob", "old world"))),
    );
    disconnect(&mut app);
    connect(&mut app, 2);
    let fx = update(
        &mut app,
        frame(ServerFrame::Joined {
            room: "lobby".into(),
            members: vec!["alice".into()],
            history: vec![],
            more: false,
            last_id: 3,
            details: None,
        }),
    );
    assert_eq!(sent(&fx), [join_frame("lobby", None)]);
    update(
        &mut app,
        joined(
            "lobby",
            &["alice"],
            vec![msg("lobby", 3, "bob", "new world")],
            false,
        ),
    );
    assert_eq!(message_texts(&app, "lobby"), ["old world", "new world"]);
}

#[test]
fn a_taken_guest_name_is_explained_once_while_retrying() {
    let mut app = app_in(&["lobby"]);
    for epoch in 1..=3 {
        update(&mut app, Action::Net(NetEvent::Connected { epoch }));
        update(
            &mut app,
            frame(ServerFrame::error(
                ErrorCode::NameTaken,
                "alice is taken",
                None,
            )),
        );
        update(
            &mut app,
            Action::Net(NetEvent::Disconnected {
                reason: "server closed the connection (1008)".into(),
                retry_in: Some(Duration::from_secs(1)),
            }),
        );
    }
    let all = notices(&app);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all[0].contains("in use by another guest"));
}

#[test]
fn a_taken_guest_name_points_to_another_name_not_to_a_password() {
    let mut app = app_in(&["lobby"]);
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    update(
        &mut app,
        frame(ServerFrame::error(
            ErrorCode::NameTaken,
            "alice is taken",
            None,
        )),
    );
    let all = notices(&app);
    assert_eq!(all.len(), 1, "{all:?}");
    // The server refuses a password login for a name a live guest holds.
    assert!(!all[0].to_lowercase().contains("password"), "{all:?}");
    assert!(all[0].contains("--user"), "{all:?}");
    assert!(all[0].contains("retrying"), "{all:?}");
}

// ---------------------------------------------------------------- outbox on disk

/// The same client started again from `saved`, as the runner starts it.
fn restarted(saved: &SavedState) -> App {
    let prefix = crate::client::ref_prefix(saved);
    let mut app = App::new("ws://test/ws", "alice", &prefix);
    app.now_ms = T0;
    app.restore(saved, &[], None);
    app
}

/// The state each durable save in `fx` writes, in order.
fn durable_saves(fx: &[Effect]) -> Vec<SavedState> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::SaveStateDurably(state) => Some(state.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_line_is_on_disk_before_it_is_sent() {
    let mut app = live_in(&["lobby"]);
    let fx = enter_line(&mut app, "keep me");
    let line = ClientFrame::message("lobby", "keep me", Some("r1".into()));
    let saved_at = fx.iter().position(
        |e| matches!(e, Effect::SaveStateDurably(s) if s.outbox.iter().any(|p| p.frame == line)),
    );
    let sent_at = fx.iter().position(|e| *e == Effect::Send(line.clone()));
    assert!(
        matches!((saved_at, sent_at), (Some(s), Some(t)) if s < t),
        "saved durably, then sent: {fx:?}"
    );
    // Typed offline: saved just the same, and nothing sent.
    disconnect(&mut app);
    let fx = enter_line(&mut app, "offline");
    assert!(sent(&fx).is_empty());
    let saves = durable_saves(&fx);
    assert_eq!(saves.len(), 1);
    let texts: Vec<_> = saves[0].outbox.iter().map(|p| p.frame.clone()).collect();
    assert_eq!(
        texts,
        [
            line,
            ClientFrame::message("lobby", "offline", Some("r2".into()))
        ]
    );
    assert_eq!(saves[0].next_ref, 3);
}

#[test]
fn an_acknowledged_line_leaves_the_saved_outbox() {
    let mut app = live_in(&["lobby"]);
    enter_line(&mut app, "one");
    enter_line(&mut app, "two");
    update(
        &mut app,
        frame(ServerFrame::Message(acked(
            msg("lobby", 4, "alice", "one"),
            "r1",
        ))),
    );
    let fx = update(&mut app, Action::Tick);
    let saved = fx.iter().find_map(|e| match e {
        Effect::SaveState(s) => Some(s.clone()),
        _ => None,
    });
    let pending: Vec<_> = saved
        .expect("the removal is saved on the next tick")
        .outbox
        .into_iter()
        .map(|p| p.frame)
        .collect();
    assert_eq!(
        pending,
        [ClientFrame::message("lobby", "two", Some("r2".into()))]
    );
    assert_eq!(app.outbox.entries.len(), 1);
}

#[test]
fn refs_are_never_reused_across_restarts_or_installations() {
    let fresh = SavedState::default();
    let (a, b) = (
        crate::client::ref_prefix(&fresh),
        crate::client::ref_prefix(&fresh),
    );
    assert_ne!(a, b, "two installations get different prefixes");

    let mut first = restarted(&fresh);
    first.restore(&SavedState::default(), &["lobby".into()], None);
    let fx = enter_line(&mut first, "one");
    let saved = durable_saves(&fx).pop().expect("saved before sending");
    let r1 = first.outbox.entries[0].reference.clone();
    assert!(r1.starts_with(saved.ref_prefix.as_deref().unwrap_or("?")));

    // Killed here, started again: the prefix and the counter go on.
    let mut second = restarted(&saved);
    assert_eq!(second.outbox.entries.len(), 1, "the unsent line is back");
    assert_eq!(second.outbox.entries[0].reference, r1);
    enter_line(&mut second, "two");
    let r2 = second.outbox.entries[1].reference.clone();
    assert_ne!(r1, r2);
    assert_eq!(
        r1.rsplit_once('-').map(|p| p.0),
        r2.rsplit_once('-').map(|p| p.0)
    );
}

#[test]
fn a_restarted_client_sends_what_was_pending_once_in_order() {
    let mut first = app_in(&["lobby", "rust"]);
    for (room, text) in [("lobby", "l1"), ("rust", "r-one"), ("lobby", "l2")] {
        let index = first.room_index(room).expect("joined");
        first.current = index;
        enter_line(&mut first, text);
    }
    let saved = first.saved_state();

    let mut app = restarted(&saved);
    assert!(sent(&update(&mut app, Action::Tick)).is_empty());
    connect(&mut app, 1);
    let fx = update(&mut app, joined("lobby", &["alice"], vec![], false));
    assert_eq!(
        sent(&fx),
        [
            ClientFrame::message("lobby", "l1", Some("r1".into())),
            ClientFrame::message("lobby", "l2", Some("r3".into())),
        ],
        "in the order typed, with the refs they had"
    );
    let fx = update(&mut app, joined("rust", &["alice"], vec![], false));
    assert_eq!(
        sent(&fx),
        [ClientFrame::message("rust", "r-one", Some("r2".into()))]
    );
    // Once: a reconnect before any ack sends each again, never a third
    // copy on one socket, and an ack ends it.
    assert!(sent(&update(&mut app, Action::Tick)).is_empty());
    update(
        &mut app,
        frame(ServerFrame::Message(acked(
            msg("lobby", 1, "alice", "l1"),
            "r1",
        ))),
    );
    disconnect(&mut app);
    connect(&mut app, 2);
    let fx = update(
        &mut app,
        joined(
            "lobby",
            &["alice"],
            vec![msg("lobby", 1, "alice", "l1")],
            false,
        ),
    );
    assert_eq!(
        sent(&fx),
        [ClientFrame::message("lobby", "l2", Some("r3".into()))]
    );
    assert_eq!(message_texts(&app, "lobby"), ["l1"]);
}

#[test]
fn any_request_with_a_ref_waits_in_the_outbox_until_its_entry_comes_back() {
    let mut app = owning(&["lobby"], Role::Owner);
    let fx = enter_line(&mut app, "/topic release day");
    assert!(
        matches!(
            &fx[..],
            [
                Effect::SaveStateDurably(saved),
                Effect::Send(ClientFrame::Topic { reference: Some(r), .. })
            ] if r == "r1" && saved.outbox.len() == 1
        ),
        "saved durably, then sent: {fx:?}"
    );
    // After a restart it is pending again, still saying what it asks.
    let again = restarted(&app.saved_state());
    assert_eq!(again.outbox.entries[0].describe(), "setting the topic");
    let topic = chat_proto::TopicChange {
        room: "lobby".into(),
        id: 7,
        user: "alice".into(),
        ts: T0,
        topic: "release day".into(),
        reference: Some("r1".into()),
    };
    update(&mut app, frame(ServerFrame::Topic(topic)));
    assert!(app.outbox.entries.is_empty());
}

// ---------------------------------------------------------------- passwords

#[test]
fn a_refused_login_asks_for_a_password_inside_the_client() {
    let mut app = app_in(&["lobby"]);
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    let fx = update(
        &mut app,
        frame(ServerFrame::error(
            ErrorCode::AuthFailed,
            "wrong password",
            None,
        )),
    );
    assert_eq!(fx, [Effect::HoldConnection]);
    assert!(matches!(app.mode, Mode::Password(_)));
    update(
        &mut app,
        Action::Net(NetEvent::Disconnected {
            reason: "closed".into(),
            retry_in: Some(Duration::from_secs(1)),
        }),
    );
    assert!(
        matches!(app.conn, ConnState::NeedPassword { .. }),
        "stays held"
    );
    type_text(&mut app, "s3cret");
    assert_eq!(
        app.input.text(),
        "",
        "the password never lands in the input line"
    );
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(fx, [Effect::Reconnect]);
    assert_eq!(app.mode, Mode::Normal);
    let fx = update(&mut app, Action::Net(NetEvent::Connected { epoch: 2 }));
    assert_eq!(
        sent(&fx),
        [ClientFrame::Hello {
            user: "alice".into(),
            password: Some("s3cret".into())
        }]
    );
}

#[test]
fn escape_cancels_the_password_prompt_and_connect_reopens_it() {
    let mut app = app_in(&["lobby"]);
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    update(
        &mut app,
        frame(ServerFrame::error(
            ErrorCode::AuthRequired,
            "accounts only",
            None,
        )),
    );
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
    enter_line(&mut app, "/connect");
    assert!(matches!(app.mode, Mode::Password(_)));
}

// ---------------------------------------------------------------- scrolling

fn many(room: &str, ids: std::ops::RangeInclusive<u64>) -> Vec<Message> {
    ids.map(|id| msg(room, id, "bob", &format!("line {id}")))
        .collect()
}

/// Draws the screen into a test terminal and keeps the history pane as
/// drawn, as the runner does after every draw.
fn draw(app: &mut App) {
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(
        app.size.width,
        app.size.height,
    ))
    .expect("a test terminal");
    let drawn = crate::ui::render(&mut terminal, app).expect("drawing into a TestBackend");
    app.drawn(drawn);
}

/// Rows of the current room below the pane's bottom row, as last drawn.
fn rows_scrolled(app: &mut App) -> usize {
    draw(app);
    app.current_room().map_or(0, |r| r.viewport.rows_below)
}

/// A key, then the screen drawn as the runner would.
fn key_drawn(app: &mut App, code: KeyCode) -> Vec<Effect> {
    let fx = update(app, key(code));
    draw(app);
    fx
}

#[test]
fn page_up_scrolls_and_fetches_older_history_at_the_top() {
    let mut app = app_in(&["lobby"]);
    app.size = Size {
        width: 80,
        height: 12,
    };
    connect(&mut app, 1);
    app.rooms[0].entries.clear(); // the "Connected" notice
    update(
        &mut app,
        joined("lobby", &["alice"], many("lobby", 101..=120), true),
    );
    draw(&mut app);
    assert_eq!(app.rooms[0].older, Older::Available);
    // 20 rows of messages + a day separator in a 10-row pane.
    let fx = key_drawn(&mut app, KeyCode::PageUp);
    assert_eq!(rows_scrolled(&mut app), 8);
    assert!(sent(&fx).is_empty());
    let fx = key_drawn(&mut app, KeyCode::PageUp);
    assert_eq!(rows_scrolled(&mut app), 11, "stops at the top");
    assert_eq!(
        sent(&fx),
        [ClientFrame::History {
            room: "lobby".into(),
            before: Some(101),
            after: None,
            limit: Some(OLDER_PAGE)
        }]
    );
    assert_eq!(app.rooms[0].older, Older::Loading);
    assert!(
        sent(&key_drawn(&mut app, KeyCode::PageUp)).is_empty(),
        "one request at a time"
    );
    update(
        &mut app,
        frame(ServerFrame::History {
            room: "lobby".into(),
            messages: page(many("lobby", 91..=100)),
            more: false,
        }),
    );
    assert_eq!(app.rooms[0].older, Older::Exhausted);
    assert_eq!(
        message_texts(&app, "lobby").first().map(String::as_str),
        Some("line 91")
    );
    assert_eq!(message_texts(&app, "lobby").len(), 30);
    // A new message while scrolled up does not move the view.
    let before = rows_scrolled(&mut app);
    update(
        &mut app,
        frame(ServerFrame::Message(msg("lobby", 121, "bob", "new"))),
    );
    assert_eq!(rows_scrolled(&mut app), before + 1);
    key_drawn(&mut app, KeyCode::PageDown);
    assert_eq!(rows_scrolled(&mut app), before + 1 - 8);
    key_drawn(&mut app, KeyCode::Esc);
    assert_eq!(rows_scrolled(&mut app), 0);
}

// ------------------------------------------------ protocol 2: rooms people own

use chat_proto::{
    Admittance, Delete, Edit, Reaction, Removal, Role, RoleChange, RoomDetails, SettingsChange,
    TopicChange,
};

use crate::app::{Membership, RoomRequest};

fn welcome2(user: &str) -> Action {
    frame(ServerFrame::Welcome {
        user: user.into(),
        guest: false,
        registered: false,
        protocol: 2,
        server: "chat-server test".into(),
        admin: false,
    })
}

fn details(topic: &str, owner: Option<&str>, ops: &[&str], role: Role) -> RoomDetails {
    RoomDetails {
        topic: topic.into(),
        owner: owner.map(str::to_owned),
        ops: ops.iter().map(|o| o.to_string()).collect(),
        private: false,
        role,
        read_id: 0,
    }
}

fn joined2(
    room: &str,
    members: &[&str],
    history: Vec<chat_proto::Entry>,
    more: bool,
    details: RoomDetails,
) -> Action {
    let last_id = history.iter().map(chat_proto::Entry::id).max().unwrap_or(0);
    frame(ServerFrame::Joined {
        room: room.into(),
        members: members.iter().map(|m| m.to_string()).collect(),
        history,
        more,
        last_id,
        details: Some(details),
    })
}

/// alice, on a protocol-2 server, live in `rooms` as `role`, with bob and
/// carol there too; bob is an op, alice the owner unless `role` says else.
fn owning(rooms: &[&str], role: Role) -> App {
    let mut app = app_in(rooms);
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    update(&mut app, welcome2("alice"));
    let owner = if role == Role::Owner { "alice" } else { "dave" };
    for room in rooms {
        let d = details("", Some(owner), &["bob"], role);
        update(
            &mut app,
            joined2(room, &["alice", "bob", "carol"], vec![], false, d),
        );
    }
    app
}

fn topic(room: &str, id: u64, user: &str, topic: &str) -> chat_proto::Entry {
    chat_proto::Entry::Topic(TopicChange {
        room: room.into(),
        id,
        user: user.into(),
        ts: T0 + id as i64,
        reference: None,
        topic: topic.into(),
    })
}

fn role(room: &str, id: u64, user: &str, subject: &str, role: Role) -> chat_proto::Entry {
    chat_proto::Entry::Role(RoleChange {
        room: room.into(),
        id,
        user: user.into(),
        ts: T0 + id as i64,
        reference: None,
        subject: subject.into(),
        role,
    })
}

fn removal(room: &str, id: u64, user: &str, subject: &str, reason: Option<&str>) -> Removal {
    Removal {
        room: room.into(),
        id,
        user: user.into(),
        ts: T0 + id as i64,
        reference: None,
        subject: subject.into(),
        reason: reason.map(str::to_owned),
    }
}

fn admittance(room: &str, id: u64, user: &str, subject: &str) -> Admittance {
    Admittance {
        room: room.into(),
        id,
        user: user.into(),
        ts: T0 + id as i64,
        reference: None,
        subject: subject.into(),
    }
}

fn settings(room: &str, id: u64, user: &str, private: bool) -> chat_proto::Entry {
    chat_proto::Entry::Settings(SettingsChange {
        room: room.into(),
        id,
        user: user.into(),
        ts: T0 + id as i64,
        reference: None,
        private,
    })
}

fn reaction(room: &str, id: u64, user: &str, target: u64, emoji: &str) -> Reaction {
    Reaction {
        room: room.into(),
        id,
        user: user.into(),
        ts: T0 + id as i64,
        reference: None,
        target,
        emoji: emoji.into(),
    }
}

fn live_entry(app: &mut App, entry: chat_proto::Entry) -> Vec<Effect> {
    update(app, frame(ServerFrame::from(entry)))
}

/// The system lines of a room, as the history pane words them.
fn change_lines(app: &App, room: &str) -> Vec<String> {
    let index = app.room_index(room).expect("room exists");
    app.rooms[index]
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Change(change) => crate::ui::change::line(change, &app.user),
            _ => None,
        })
        .collect()
}

fn room<'a>(app: &'a App, name: &str) -> &'a crate::app::Room {
    &app.rooms[app.room_index(name).expect("room exists")]
}

fn room_details<'a>(app: &'a App, name: &str) -> &'a RoomDetails {
    room(app, name).details.as_ref().expect("details")
}

#[test]
fn joined_details_are_kept_and_absent_on_a_protocol_1_server() {
    let app = owning(&["lobby"], Role::Owner);
    let d = room_details(&app, "lobby");
    assert_eq!(
        (d.owner.as_deref(), d.ops.as_slice(), d.role),
        (Some("alice"), &["bob".to_owned()][..], Role::Owner)
    );
    assert_eq!(app.protocol, 2);
    let app = live_in(&["lobby"]);
    assert_eq!(room(&app, "lobby").details, None);
    assert_eq!(app.protocol, 1);
}

#[test]
fn live_room_changes_update_the_details_and_become_lines() {
    let mut app = owning(&["lobby"], Role::Op);
    live_entry(&mut app, topic("lobby", 1, "bob", "release day"));
    live_entry(&mut app, role("lobby", 2, "dave", "carol", Role::Op));
    live_entry(&mut app, role("lobby", 3, "dave", "bob", Role::Member));
    live_entry(&mut app, settings("lobby", 4, "dave", true));
    let ban = removal("lobby", 5, "bob", "mallory", Some("spam"));
    live_entry(&mut app, chat_proto::Entry::Ban(ban));
    let unban = admittance("lobby", 6, "dave", "mallory");
    live_entry(&mut app, chat_proto::Entry::Unban(unban));
    let invite = admittance("lobby", 7, "bob", "erin");
    live_entry(&mut app, chat_proto::Entry::Invite(invite));
    let kick = removal("lobby", 8, "bob", "carol", None);
    live_entry(&mut app, chat_proto::Entry::Kick(kick));
    live_entry(&mut app, topic("lobby", 9, "bob", ""));
    live_entry(&mut app, settings("lobby", 10, "dave", false));
    let d = room_details(&app, "lobby");
    assert_eq!(d.topic, "");
    assert_eq!(d.ops, ["carol"]);
    assert!(!d.private);
    assert_eq!(
        change_lines(&app, "lobby"),
        [
            "bob set the topic: release day",
            "dave made carol an op",
            "dave made bob a member",
            "the room is now private (set by dave)",
            "mallory was banned by bob: spam",
            "dave lifted the ban on mallory",
            "bob invited erin",
            "carol was kicked by bob",
            "bob cleared the topic",
            "the room is now public (set by dave)",
        ]
    );
    // Room changes move the read position, not the unread count.
    let lobby = room(&app, "lobby");
    assert_eq!(
        (lobby.last_seen, lobby.last_read, lobby.unread),
        (10, 10, 0)
    );
    assert!(lobby.is_member());
    // An entry seen again changes nothing.
    live_entry(&mut app, topic("lobby", 9, "bob", "stale"));
    assert_eq!(room_details(&app, "lobby").topic, "");
    assert_eq!(change_lines(&app, "lobby").len(), 10);
}

#[test]
fn handing_the_room_over_makes_the_old_owner_an_op() {
    let mut app = owning(&["lobby"], Role::Owner);
    live_entry(&mut app, role("lobby", 1, "alice", "carol", Role::Owner));
    let d = room_details(&app, "lobby");
    assert_eq!(d.owner.as_deref(), Some("carol"));
    assert_eq!(d.role, Role::Op);
    assert_eq!(d.ops, ["bob", "alice"]);
    assert_eq!(
        change_lines(&app, "lobby"),
        ["you handed the room to carol"]
    );
    live_entry(&mut app, role("lobby", 2, "carol", "alice", Role::Member));
    assert_eq!(room_details(&app, "lobby").role, Role::Member);
    assert_eq!(
        change_lines(&app, "lobby").last().map(String::as_str),
        Some("carol made you a member")
    );
}

#[test]
fn catch_up_pages_apply_every_entry_kind_in_id_order() {
    let mut app = app_in(&["lobby"]);
    app.rooms[0].last_read = 10;
    app.rooms[0].position_known = true;
    app.rooms[0].last_seen = 10;
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    update(&mut app, welcome2("alice"));
    let edit = chat_proto::Entry::Edit(Edit {
        room: "lobby".into(),
        id: 13,
        user: "bob".into(),
        ts: T0 + 13,
        reference: None,
        target: 11,
        text: "fixed".into(),
    });
    let history = vec![
        msg("lobby", 11, "bob", "typo").into(),
        topic("lobby", 12, "bob", "release day"),
        edit,
        chat_proto::Entry::React(reaction("lobby", 14, "carol", 11, "👍")),
        msg("lobby", 15, "carol", "second").into(),
        // Out of order on purpose: applied by id all the same.
        role("lobby", 17, "dave", "carol", Role::Op),
        settings("lobby", 16, "dave", true),
    ];
    let d = details("release day", Some("dave"), &["bob", "carol"], Role::Member);
    let fx = update(&mut app, joined2("lobby", &["alice"], history, true, d));
    // The page ended in room changes: the next one starts after them.
    assert_eq!(
        sent(&fx),
        [ClientFrame::History {
            room: "lobby".into(),
            before: None,
            after: Some(17),
            limit: Some(CATCH_UP_PAGE),
        }]
    );
    let kick = removal("lobby", 19, "bob", "alice", Some("old news"));
    let page = vec![
        chat_proto::Entry::Unreact(reaction("lobby", 18, "carol", 11, "👍")),
        // A kick of alice in a page is history: she joined again since.
        chat_proto::Entry::Kick(kick),
        chat_proto::Entry::Delete(Delete {
            room: "lobby".into(),
            id: 20,
            user: "carol".into(),
            ts: T0 + 20,
            reference: None,
            target: 15,
        }),
    ];
    update(
        &mut app,
        frame(ServerFrame::History {
            room: "lobby".into(),
            messages: page,
            more: false,
        }),
    );
    let lobby = room(&app, "lobby");
    assert_eq!((lobby.sync, lobby.last_seen), (RoomSync::Live, 20));
    assert!(lobby.is_member());
    let messages: Vec<&Message> = lobby
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(messages[0].text, "fixed");
    assert_eq!(messages[0].edited, Some(T0 + 13));
    assert!(messages[0].reactions.is_empty(), "unreacted");
    assert!(messages[1].deleted && messages[1].text.is_empty());
    let d = room_details(&app, "lobby");
    assert_eq!(
        (d.topic.as_str(), d.private, d.ops.clone()),
        (
            "release day",
            true,
            vec!["bob".to_owned(), "carol".to_owned()]
        )
    );
    assert_eq!(
        change_lines(&app, "lobby"),
        [
            "bob set the topic: release day",
            "the room is now private (set by dave)",
            "dave made carol an op",
            "you were kicked by bob: old news",
        ]
    );
}

#[test]
fn older_pages_add_room_change_lines_without_undoing_the_details() {
    let mut app = owning(&["lobby"], Role::Owner);
    app.rooms[0].details.as_mut().expect("details").topic = "now".into();
    live_entry(&mut app, msg("lobby", 30, "bob", "newest").into());
    app.rooms[0].older = Older::Available;
    draw(&mut app);
    let fx = key_drawn(&mut app, KeyCode::PageUp);
    assert!(matches!(
        &sent(&fx)[..],
        [ClientFrame::History {
            before: Some(30),
            ..
        }]
    ));
    let page = vec![
        msg("lobby", 20, "bob", "old").into(),
        topic("lobby", 21, "bob", "then"),
        chat_proto::Entry::React(reaction("lobby", 22, "bob", 20, "🎉")),
    ];
    update(
        &mut app,
        frame(ServerFrame::History {
            room: "lobby".into(),
            messages: page,
            more: false,
        }),
    );
    assert_eq!(room_details(&app, "lobby").topic, "now");
    assert_eq!(change_lines(&app, "lobby"), ["bob set the topic: then"]);
    assert_eq!(message_texts(&app, "lobby"), ["old", "newest"]);
    assert_eq!(room(&app, "lobby").oldest_id(), Some(20));
}

/// Types a command and returns the one frame it sent.
fn command_frame(app: &mut App, line: &str) -> ClientFrame {
    let frames = sent(&enter_line(app, line));
    assert_eq!(frames.len(), 1, "{line} sent {frames:?}");
    frames[0].clone()
}

#[test]
fn every_management_command_sends_its_frame_with_a_ref() {
    let mut app = owning(&["lobby"], Role::Owner);
    let room = || "lobby".to_owned();
    let r = |n: u32| Some(format!("r{n}"));
    let cases = vec![
        (
            "/topic release day",
            ClientFrame::Topic {
                room: room(),
                topic: "release day".into(),
                reference: r(1),
            },
        ),
        (
            "/topic --clear",
            ClientFrame::Topic {
                room: room(),
                topic: "".into(),
                reference: r(2),
            },
        ),
        (
            "/op carol",
            ClientFrame::Role {
                room: room(),
                subject: "carol".into(),
                role: Role::Op,
                reference: r(3),
            },
        ),
        (
            "/deop @bob",
            ClientFrame::Role {
                room: room(),
                subject: "bob".into(),
                role: Role::Member,
                reference: r(4),
            },
        ),
        (
            "/kick carol spamming the room",
            ClientFrame::Kick {
                room: room(),
                subject: "carol".into(),
                reason: Some("spamming the room".into()),
                reference: r(5),
            },
        ),
        (
            "/ban carol",
            ClientFrame::Ban {
                room: room(),
                subject: "carol".into(),
                reason: None,
                reference: r(6),
            },
        ),
        (
            "/unban carol",
            ClientFrame::Unban {
                room: room(),
                subject: "carol".into(),
                reference: r(7),
            },
        ),
        (
            "/invite erin",
            ClientFrame::Invite {
                room: room(),
                subject: "erin".into(),
                reference: r(8),
            },
        ),
        (
            "/private on",
            ClientFrame::Settings {
                room: room(),
                private: true,
                reference: r(9),
            },
        ),
        (
            "/private OFF",
            ClientFrame::Settings {
                room: room(),
                private: false,
                reference: r(10),
            },
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(command_frame(&mut app, line), expected, "{line}");
    }
    // Each waits in the outbox, not drawn as a line, until its entry
    // comes back with its ref.
    assert_eq!(app.outbox.entries.len(), 10);
    assert_eq!(app.outbox.lines_in("lobby").count(), 0);
    let mut ack = topic("lobby", 1, "alice", "release day");
    if let chat_proto::Entry::Topic(t) = &mut ack {
        t.reference = Some("r1".into());
    }
    live_entry(&mut app, ack);
    assert_eq!(app.outbox.entries.len(), 9);
    assert!(app.outbox.by_ref_mut("r1").is_none());
}

#[test]
fn handing_over_and_deleting_ask_first() {
    let mut app = owning(&["lobby"], Role::Owner);
    let fx = enter_line(&mut app, "/owner carol");
    assert!(sent(&fx).is_empty());
    let Mode::Confirm(confirm) = &app.mode else {
        panic!("no question asked: {:?}", app.mode);
    };
    assert!(confirm.question.contains("Hand #lobby over to carol"));
    // Any other key says no.
    let fx = update(&mut app, key(KeyCode::Char('n')));
    assert!(sent(&fx).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(
        notices(&app).last().map(String::as_str),
        Some("Not done: handing the room to carol.")
    );
    assert!(app.outbox.entries.is_empty());
    // `y`, as a key or typed in a burst, says yes.
    enter_line(&mut app, "/owner carol");
    let fx = update(&mut app, key(KeyCode::Char('y')));
    assert_eq!(
        sent(&fx),
        [ClientFrame::Role {
            room: "lobby".into(),
            subject: "carol".into(),
            role: Role::Owner,
            reference: Some("r1".into()),
        }]
    );
    enter_line(&mut app, "/delete-room");
    assert!(matches!(&app.mode, Mode::Confirm(c) if c.request == RoomRequest::DeleteRoom));
    let fx = update(&mut app, Action::Typed("yes".into()));
    assert_eq!(
        sent(&fx),
        [ClientFrame::DeleteRoom {
            room: "lobby".into(),
            reference: Some("r2".into()),
        }]
    );
    // What followed the answer is typed into the input line.
    assert_eq!((app.mode.clone(), app.input.text()), (Mode::Normal, "es"));
    // Enter, a paste or Esc is no.
    app.input.set("");
    enter_line(&mut app, "/delete-room");
    update(&mut app, Action::Paste("y".into()));
    assert!(matches!(app.mode, Mode::Confirm(_)), "a paste is no answer");
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(sent(&fx).is_empty());
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn bad_arguments_are_explained_and_send_nothing() {
    let mut app = owning(&["lobby"], Role::Owner);
    let long_topic = format!("/topic {}", "x".repeat(501));
    let cases: [(&str, &str); 8] = [
        ("/op", "Usage: /op NAME"),
        ("/op bob carol", "Usage: /op NAME"),
        ("/kick", "Usage: /kick NAME [REASON]"),
        ("/unban a b", "Usage: /unban NAME"),
        ("/private maybe", "Usage: /private on|off"),
        ("/delete-room now", "Usage: /delete-room"),
        ("/invite no/slash", "is no user name"),
        (&long_topic, "Not sent: the topic"),
    ];
    for (line, expected) in cases {
        let fx = enter_line(&mut app, line);
        assert!(sent(&fx).is_empty(), "{line}");
        let last = notices(&app).last().cloned().unwrap_or_default();
        assert!(last.contains(expected), "{line}: {last}");
    }
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.outbox.entries.is_empty());
}

#[test]
fn topic_alone_shows_the_topic() {
    let mut app = owning(&["lobby"], Role::Owner);
    enter_line(&mut app, "/topic");
    assert_eq!(
        notices(&app).last().map(String::as_str),
        Some("#lobby has no topic.")
    );
    live_entry(&mut app, topic("lobby", 1, "bob", "ship it \u{1b}[2J"));
    let fx = enter_line(&mut app, "/topic");
    assert!(sent(&fx).is_empty());
    assert_eq!(
        notices(&app).last().map(String::as_str),
        Some("The topic of #lobby: ship it ^[[2J")
    );
}

#[test]
fn a_refused_command_shows_the_servers_reason_in_its_room() {
    let mut app = owning(&["lobby", "rust"], Role::Member);
    command_frame(&mut app, "/kick carol");
    update(&mut app, alt(KeyCode::Char('2')));
    update(
        &mut app,
        frame(ServerFrame::error(
            ErrorCode::Forbidden,
            "only the owner and ops may kick",
            Some("r1".into()),
        )),
    );
    assert!(app.outbox.entries.is_empty());
    let lobby = room(&app, "lobby");
    assert!(lobby.entries.iter().any(|e| matches!(
        e,
        Entry::Notice { text, level: Level::Error, .. }
            if text == "#lobby: kicking carol refused: only the owner and ops may kick"
    )));
    command_frame(&mut app, "/topic same");
    update(
        &mut app,
        frame(ServerFrame::error(
            ErrorCode::Unchanged,
            "the topic is that already",
            Some("r2".into()),
        )),
    );
    assert_eq!(
        notices(&app).last().map(String::as_str),
        Some("#rust: setting the topic refused: the topic is that already")
    );
}

#[test]
fn a_protocol_1_server_gets_no_management_frames() {
    let mut app = live_in(&["lobby"]);
    let fx = enter_line(&mut app, "/kick bob");
    assert!(sent(&fx).is_empty());
    assert!(
        notices(&app)
            .last()
            .is_some_and(|n| n.contains("protocol 1"))
    );
    enter_line(&mut app, "/topic");
    assert!(
        notices(&app)
            .last()
            .is_some_and(|n| n.contains("does not say"))
    );
}

#[test]
fn a_request_typed_offline_is_sent_after_the_rejoin_with_its_ref() {
    let mut app = owning(&["lobby"], Role::Owner);
    disconnect(&mut app);
    assert!(sent(&enter_line(&mut app, "/topic later")).is_empty());
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 2 }));
    update(&mut app, welcome2("alice"));
    let d = details("", Some("alice"), &[], Role::Owner);
    let fx = update(&mut app, joined2("lobby", &["alice"], vec![], false, d));
    assert_eq!(
        sent(&fx),
        [ClientFrame::Topic {
            room: "lobby".into(),
            topic: "later".into(),
            reference: Some("r1".into()),
        }]
    );
}

#[test]
fn being_kicked_marks_the_room_as_left_with_the_reason() {
    let mut app = owning(&["lobby", "rust"], Role::Member);
    disconnect(&mut app);
    enter_line(&mut app, "never sent");
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 2 }));
    update(&mut app, welcome2("alice"));
    let kick = removal("lobby", 5, "bob", "alice", Some("spam"));
    // Live while the room was still joining: held, then applied.
    live_entry(&mut app, chat_proto::Entry::Kick(kick));
    let d = details("", Some("dave"), &["bob"], Role::Member);
    update(
        &mut app,
        joined2("lobby", &["alice", "bob"], vec![], false, d),
    );
    let lobby = room(&app, "lobby");
    assert_eq!(
        lobby.membership,
        Membership::Removed {
            why: "you were kicked by bob: spam".into()
        }
    );
    assert_eq!(lobby.sync, RoomSync::Offline);
    assert!(lobby.members.is_empty());
    assert_eq!(
        change_lines(&app, "lobby"),
        ["you were kicked by bob: spam"]
    );
    assert!(
        app.outbox.entries.is_empty(),
        "its unsent lines are dropped"
    );
    assert!(notices(&app).iter().any(|n| n.contains("1 unsent line")));
    // Still listed, not saved, not joined again on a reconnect.
    assert_eq!(app.rooms.len(), 2);
    let saved: Vec<String> = app
        .saved_state()
        .rooms
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(saved, ["rust"]);
    disconnect(&mut app);
    let frames = connect(&mut app, 3);
    assert!(
        !frames.contains(&join_frame("lobby", Some(5))),
        "{frames:?}"
    );
    // A line there is kept and explained; /join goes back.
    let fx = enter_line(&mut app, "hello?");
    assert!(sent(&fx).is_empty());
    assert_eq!(app.input.text(), "hello?");
    app.input.set("");
    let fx = enter_line(&mut app, "/join lobby");
    assert_eq!(sent(&fx), [join_frame("lobby", Some(5))]);
    assert!(room(&app, "lobby").is_member());
}

#[test]
fn being_banned_in_another_room_leaves_it_marked() {
    let mut app = owning(&["lobby", "rust"], Role::Member);
    let ban = removal("rust", 3, "bob", "alice", None);
    live_entry(&mut app, chat_proto::Entry::Ban(ban));
    let rust = room(&app, "rust");
    assert_eq!(
        rust.membership,
        Membership::Removed {
            why: "you were banned by bob".into()
        }
    );
    assert!(room(&app, "lobby").is_member());
    // Entries for a room we are out of are not shown.
    live_entry(&mut app, msg("rust", 4, "bob", "gone").into());
    assert!(message_texts(&app, "rust").is_empty());
    let fx = enter_line(&mut app, "/kick bob");
    assert_eq!(sent(&fx).len(), 1, "lobby is still ours to act in");
}

#[test]
fn an_invitation_adds_a_room_that_enter_joins() {
    let mut app = owning(&["lobby"], Role::Member);
    let invite = admittance("secret", 9, "bob", "alice");
    live_entry(&mut app, chat_proto::Entry::Invite(invite));
    assert_eq!(
        notices(&app).last().map(String::as_str),
        Some("bob invited you to #secret: it is in the room list (Alt-2); Enter there joins it.")
    );
    let secret = room(&app, "secret");
    assert_eq!(secret.membership, Membership::Invited { by: "bob".into() });
    assert_eq!(app.current, 0, "the current room stays");
    // Not joined on reconnect before it is accepted, not saved.
    disconnect(&mut app);
    let frames = connect(&mut app, 2);
    assert_eq!(
        frames
            .iter()
            .filter(|f| matches!(f, ClientFrame::Join { .. }))
            .count(),
        1
    );
    assert_eq!(app.saved_state().rooms.len(), 1);
    // Enter on an empty line there joins it.
    update(&mut app, alt(KeyCode::Char('2')));
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(sent(&fx), [join_frame("secret", None)]);
    assert!(room(&app, "secret").is_member());
    // An invitation for someone else in a room we are in is a line.
    let d = details("", Some("bob"), &[], Role::Member);
    update(
        &mut app,
        joined2("secret", &["alice", "bob"], vec![], false, d),
    );
    live_entry(
        &mut app,
        chat_proto::Entry::Invite(admittance("secret", 10, "bob", "carol")),
    );
    assert_eq!(change_lines(&app, "secret"), ["bob invited carol"]);
    // Enter on an empty line elsewhere does nothing.
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(sent(&fx).is_empty());
}

#[test]
fn a_deleted_room_leaves_the_list_with_a_notice() {
    let mut app = owning(&["lobby", "rust"], Role::Owner);
    update(&mut app, alt(KeyCode::Char('2')));
    disconnect(&mut app);
    enter_line(&mut app, "unsent");
    update(
        &mut app,
        frame(ServerFrame::RoomDeleted {
            room: "rust".into(),
            user: "bob\u{1b}".into(),
            ts: T0,
        }),
    );
    assert_eq!(app.room_index("rust"), None);
    assert_eq!(app.current_room().map(|r| r.name.as_str()), Some("lobby"));
    assert!(app.outbox.entries.is_empty());
    assert_eq!(
        notices(&app).last().map(String::as_str),
        Some("#rust was deleted by bob^[.")
    );
    update(
        &mut app,
        frame(ServerFrame::RoomDeleted {
            room: "lobby".into(),
            user: "alice".into(),
            ts: T0,
        }),
    );
    assert!(app.rooms.is_empty());
    assert_eq!(
        notices(&app).last().map(String::as_str),
        Some("You deleted #lobby.")
    );
}

#[test]
fn who_marks_the_owner_and_ops() {
    let mut app = owning(&["lobby"], Role::Owner);
    update(
        &mut app,
        frame(ServerFrame::Join {
            room: "lobby".into(),
            user: "aaron".into(),
            ts: T0,
        }),
    );
    enter_line(&mut app, "/who");
    assert_eq!(
        notices(&app).last().map(String::as_str),
        Some("#lobby: 4 members: ~alice, @bob, aaron, carol")
    );
}

#[test]
fn names_complete_after_the_management_commands() {
    let mut app = owning(&["lobby"], Role::Owner);
    let ban = removal("lobby", 1, "alice", "mallory", None);
    live_entry(&mut app, chat_proto::Entry::Ban(ban));
    live_entry(&mut app, msg("lobby", 2, "erin", "hi").into());
    let cases = [
        ("/deop ", "/deop bob "),
        ("/op ", "/op carol "),
        ("/kick c", "/kick carol "),
        ("/unban ", "/unban mallory "),
        ("/invite ", "/invite erin "),
    ];
    for (typed, completed) in cases {
        app.input.set(typed);
        update(&mut app, key(KeyCode::Tab));
        assert_eq!(app.input.text(), completed, "{typed}");
    }
    // The reason after the name completes from everyone, as anywhere.
    app.input.set("/kick carol ask e");
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.input.text(), "/kick carol ask erin ");
}

#[test]
fn a_live_kick_during_catch_up_holds_even_when_a_page_shows_it_first() {
    let mut app = app_in(&["lobby"]);
    app.rooms[0].position_known = true;
    app.rooms[0].last_seen = 4;
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    update(&mut app, welcome2("alice"));
    let d = details("", Some("dave"), &["bob"], Role::Member);
    let history = vec![msg("lobby", 5, "bob", "one").into()];
    update(
        &mut app,
        joined2("lobby", &["alice", "bob"], history, true, d),
    );
    assert_eq!(room(&app, "lobby").sync, RoomSync::CatchingUp);
    let kick = chat_proto::Entry::Kick(removal("lobby", 6, "bob", "alice", None));
    live_entry(&mut app, kick.clone());
    let fx = update(
        &mut app,
        frame(ServerFrame::History {
            room: "lobby".into(),
            messages: vec![kick],
            more: false,
        }),
    );
    assert!(
        sent(&fx).is_empty(),
        "nothing is sent to a room we are out of"
    );
    let lobby = room(&app, "lobby");
    assert!(matches!(lobby.membership, Membership::Removed { .. }));
    assert_eq!(change_lines(&app, "lobby"), ["you were kicked by bob"]);
}

#[test]
fn a_refused_join_marks_the_room_as_left_with_the_reason() {
    let mut app = owning(&["lobby"], Role::Member);
    let fx = enter_line(&mut app, "/join rust");
    assert_eq!(sent(&fx), [join_frame("rust", None)]);
    update(
        &mut app,
        frame(ServerFrame::error(
            ErrorCode::Forbidden,
            "you are banned from rust",
            None,
        )),
    );
    let rust = room(&app, "rust");
    assert_eq!(rust.sync, RoomSync::Offline);
    assert_eq!(
        rust.membership,
        Membership::Removed {
            why: "the server refused to let you in: you are banned from rust".into()
        }
    );
    assert_eq!(
        notices(&app).last().map(String::as_str),
        Some("Cannot join #rust: you are banned from rust")
    );
    // With no join waiting, a forbidden is an ordinary error line.
    update(
        &mut app,
        frame(ServerFrame::error(ErrorCode::Forbidden, "no", None)),
    );
    assert_eq!(
        notices(&app).last().map(String::as_str),
        Some("Server: no (forbidden)")
    );
}

mod fixing;

mod conversations;
mod search;
