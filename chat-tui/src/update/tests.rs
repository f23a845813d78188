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
fn paste_inserts_one_line_without_control_characters() {
    let mut app = app_in(&["lobby"]);
    update(&mut app, Action::Paste("two\nlines\u{1b}[31m".into()));
    assert_eq!(app.input.text(), "two lines[31m");
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
    let mut app = live_in(&["lobby"]);
    app.input.set("x".repeat(4001));
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(sent(&fx).is_empty());
    assert_eq!(app.input.text().len(), 4001);
    assert!(app.outbox.entries.is_empty());
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
    assert_eq!(
        app.outbox
            .entries
            .iter()
            .map(|p| p.attempts)
            .collect::<Vec<_>>(),
        [2, 1]
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
fn a_stored_line_whose_ack_was_lost_is_not_sent_twice() {
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
    let resent = sent(&fx);
    assert_eq!(
        resent,
        [ClientFrame::Message {
            room: "lobby".into(),
            text: "second".into(),
            reference: Some("r2".into()),
            reply_to: None,
            action: false
        }],
        "only the line that was not stored is sent again"
    );
    assert_eq!(app.outbox.entries.len(), 1);
}

#[test]
fn a_line_never_sent_is_not_mistaken_for_a_stored_copy() {
    let mut app = live_in(&["lobby"]);
    disconnect(&mut app);
    enter_line(&mut app, "hi");
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
    assert_eq!(sent(&fx).len(), 1, "our own hi still goes out");
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
