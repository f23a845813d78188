//! Unit tests for protocol 2's "your rooms, read markers, typing" and
//! direct conversations: who is typing (shown, renewed, expired, dropped
//! on their message) and our own `typing`; the bell and desktop
//! notification effects; `/msg` and `/query`; `rooms mine`; `read` both
//! ways.

use chat_proto::limits::TYPING_SHOWN_MS;

use super::*;
use crate::app::{NotifySettings, Scroll};
use crate::notify::{Desktop, Notification};

/// alice (registered) on a protocol-2 server, live in `rooms`, each joined
/// with bob and carol and no history; the frames sent on the way are
/// dropped.
fn live2(rooms: &[&str]) -> App {
    let mut app = app_in(rooms);
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    update(&mut app, welcome2("alice"));
    for room in rooms {
        update(
            &mut app,
            joined2(
                room,
                &["alice", "bob", "carol"],
                vec![],
                false,
                details("", None, &[], Role::Member),
            ),
        );
    }
    app
}

fn typing(room: &str, user: &str) -> Action {
    frame(ServerFrame::Typing {
        room: room.into(),
        user: user.into(),
    })
}

fn live_msg(room: &str, id: u64, user: &str, text: &str) -> Action {
    frame(ServerFrame::Message(msg(room, id, user, text)))
}

fn typing_line(app: &App) -> Option<String> {
    app.current_room().and_then(|r| r.typing.line(app.now))
}

fn notifications(fx: &[Effect]) -> Vec<Notification> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Notify(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

fn room_names(app: &App) -> Vec<&str> {
    app.rooms.iter().map(|r| r.name.as_str()).collect()
}

fn info(name: &str, last_id: u64, read_id: u64) -> RoomInfo {
    RoomInfo {
        read_id: Some(read_id),
        topic: Some(String::new()),
        private: Some(name.starts_with('@')),
        ..RoomInfo::new(name, 2, last_id)
    }
}

fn rooms_mine(rooms: Vec<RoomInfo>) -> Action {
    frame(ServerFrame::Rooms {
        mine: true,
        rooms,
        more: false,
    })
}

// ------------------------------------------------------------------ typing

#[test]
fn typing_is_shown_renewed_expired_and_dropped_on_the_message() {
    let mut app = live2(&["lobby"]);
    let t0 = app.now;
    update(&mut app, typing("lobby", "bob"));
    assert_eq!(typing_line(&app).as_deref(), Some("bob is typing…"));
    update(&mut app, typing("lobby", "carol"));
    assert_eq!(
        typing_line(&app).as_deref(),
        Some("bob and carol are typing…")
    );
    // Our own typing never shows (the server does not send it, but a
    // second device of ours might be relayed as us).
    update(&mut app, typing("lobby", "alice"));
    assert_eq!(
        typing_line(&app).as_deref(),
        Some("bob and carol are typing…")
    );
    // bob's message arrives: bob is no longer typing.
    update(&mut app, live_msg("lobby", 1, "bob", "done"));
    assert_eq!(typing_line(&app).as_deref(), Some("carol is typing…"));

    // Renewed at 4 s, carol is still shown at 8 s, and gone after 10 s.
    app.now = t0 + Duration::from_secs(4);
    update(&mut app, typing("lobby", "carol"));
    app.now = t0 + Duration::from_secs(8);
    app.needs_redraw = false;
    update(&mut app, Action::Tick);
    assert!(!app.needs_redraw, "nothing expired yet");
    assert_eq!(typing_line(&app).as_deref(), Some("carol is typing…"));
    app.now = t0 + Duration::from_secs(4) + Duration::from_millis(TYPING_SHOWN_MS + 1);
    update(&mut app, Action::Tick);
    assert!(app.needs_redraw, "the line goes away on the next draw");
    assert_eq!(typing_line(&app), None);
    assert!(app.rooms[0].typing.typists.is_empty());

    // Someone who leaves is no longer typing.
    update(&mut app, typing("lobby", "bob"));
    update(
        &mut app,
        frame(ServerFrame::Leave {
            room: "lobby".into(),
            user: "bob".into(),
            ts: T0,
        }),
    );
    assert_eq!(typing_line(&app), None);

    // Typing in a room that is not in the list is ignored.
    update(&mut app, typing("elsewhere", "bob"));
    assert_eq!(typing_line(&app), None);
}

fn typing_frames(fx: &[Effect]) -> Vec<ClientFrame> {
    sent(fx)
        .into_iter()
        .filter(|f| matches!(f, ClientFrame::Typing { .. }))
        .collect()
}

#[test]
fn own_typing_is_off_by_default_and_at_most_every_two_seconds_when_on() {
    let mut app = live2(&["lobby"]);
    let fx = update(&mut app, key(KeyCode::Char('h')));
    assert_eq!(typing_frames(&fx), vec![], "off unless the config says so");

    let mut app = live2(&["lobby"]);
    app.send_typing = true;
    let t0 = app.now;
    let fx = update(&mut app, key(KeyCode::Char('h')));
    assert_eq!(
        typing_frames(&fx),
        vec![ClientFrame::Typing {
            room: "lobby".into(),
            reference: None
        }]
    );
    app.now = t0 + Duration::from_millis(1_900);
    let fx = update(&mut app, Action::Typed("ello".into()));
    assert_eq!(typing_frames(&fx), vec![], "within 2 s of the last one");
    // A key that changes nothing is not typing.
    app.now = t0 + Duration::from_secs(3);
    let fx = update(&mut app, key(KeyCode::Left));
    assert_eq!(typing_frames(&fx), vec![]);
    let fx = update(&mut app, key(KeyCode::Backspace));
    assert_eq!(typing_frames(&fx).len(), 1, "an edit after 2 s is sent");

    // A command is not a message being typed.
    update(&mut app, ctrl('u'));
    app.now = t0 + Duration::from_secs(10);
    let fx = update(&mut app, Action::Typed("/join rust".into()));
    assert_eq!(typing_frames(&fx), vec![]);
}

// ----------------------------------------------------------- notifications

#[test]
fn the_bell_rings_for_a_live_mention_or_conversation_message_elsewhere() {
    let mut app = live2(&["lobby", "rust"]);
    assert_eq!(app.current, 0);
    // Not a mention: counted, no bell.
    let fx = update(&mut app, live_msg("rust", 1, "bob", "hello all"));
    assert_eq!(notifications(&fx), vec![]);
    // A mention in another room rings.
    let fx = update(&mut app, live_msg("rust", 2, "bob", "@Alice look"));
    assert_eq!(
        notifications(&fx),
        vec![Notification {
            bell: true,
            desktop: None
        }]
    );
    // A mention in the room on screen does not.
    let fx = update(&mut app, live_msg("lobby", 1, "bob", "alice: here"));
    assert_eq!(notifications(&fx), vec![]);
    // Our own message naming us does not either.
    let fx = update(&mut app, live_msg("rust", 3, "alice", "alice was here"));
    assert_eq!(notifications(&fx), vec![]);
    // A conversation message always does, with the desktop notification
    // when configured, and without the bell when that is off.
    app.notify = NotifySettings {
        bell: false,
        desktop: true,
    };
    let fx = update(&mut app, live_msg("@alice+bob", 4, "bob", "psst"));
    assert_eq!(
        notifications(&fx),
        vec![Notification {
            bell: false,
            desktop: Some(Desktop {
                title: "bob in @bob".into(),
                body: "psst".into()
            })
        }]
    );
    // Both off: nothing.
    app.notify = NotifySettings {
        bell: false,
        desktop: false,
    };
    let fx = update(&mut app, live_msg("@alice+bob", 5, "bob", "psst again"));
    assert_eq!(notifications(&fx), vec![]);
}

#[test]
fn no_bell_for_history_fetched_while_catching_up_or_scrolling_back() {
    let mut app = app_in(&["lobby", "rust"]);
    app.rooms[1].last_read = 10;
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    update(&mut app, welcome2("alice"));
    update(
        &mut app,
        joined2(
            "lobby",
            &["alice"],
            vec![],
            false,
            details("", None, &[], Role::Member),
        ),
    );
    // Catch-up of rust brings a mention: counted, no bell.
    let fx = update(
        &mut app,
        joined2(
            "rust",
            &["alice", "bob"],
            page(vec![msg("rust", 11, "bob", "alice, you there?")]),
            true,
            details("", None, &[], Role::Member),
        ),
    );
    assert_eq!(notifications(&fx), vec![]);
    let fx = update(
        &mut app,
        frame(ServerFrame::History {
            room: "rust".into(),
            messages: page(vec![msg("rust", 12, "bob", "alice!!")]),
            more: false,
        }),
    );
    assert_eq!(notifications(&fx), vec![]);
    assert!(app.rooms[1].mentioned);
    assert_eq!(app.rooms[1].unread, 2);
    // An older page (scrollback) does not ring either.
    update(&mut app, alt(KeyCode::Char('2')));
    app.rooms[1].older = Older::Loading;
    let fx = update(
        &mut app,
        frame(ServerFrame::History {
            room: "rust".into(),
            messages: page(vec![msg("rust", 5, "bob", "alice old")]),
            more: false,
        }),
    );
    assert_eq!(notifications(&fx), vec![]);
    // A live one in the other room does.
    let fx = update(&mut app, live_msg("lobby", 1, "bob", "alice?"));
    assert_eq!(notifications(&fx).len(), 1);
}

// ------------------------------------------------------------ conversations

#[test]
fn msg_and_query_open_the_conversation_at_the_top_of_the_list() {
    let mut app = live2(&["lobby"]);
    let fx = enter_line(&mut app, "/query Bob");
    assert_eq!(room_names(&app), ["@alice+bob", "lobby"]);
    assert_eq!(app.current, 0);
    assert_eq!(app.rooms[0].label("alice"), "@bob");
    assert_eq!(sent(&fx), vec![join_frame("@alice+bob", None)]);

    // /msg to another partner: a second conversation in the group, joined,
    // and the text waits in the outbox until the conversation is live.
    let fx = enter_line(&mut app, "/msg carol hi there");
    assert_eq!(room_names(&app), ["@alice+bob", "@alice+carol", "lobby"]);
    assert_eq!(app.current, 1);
    assert_eq!(sent(&fx), vec![join_frame("@alice+carol", None)]);
    assert_eq!(app.outbox.entries.len(), 1);
    let fx = update(
        &mut app,
        joined2(
            "@alice+carol",
            &["alice"],
            vec![],
            false,
            details("", None, &[], Role::Member),
        ),
    );
    assert!(
        sent(&fx).iter().any(|f| matches!(
            f,
            ClientFrame::Message { room, text, .. } if room == "@alice+carol" && text == "hi there"
        )),
        "{fx:?}"
    );

    // /msg to an open conversation switches to it and sends, no new join.
    let fx = enter_line(&mut app, "/msg bob again");
    assert_eq!(app.current, 0);
    assert_eq!(room_names(&app).len(), 3);
    assert!(
        !sent(&fx)
            .iter()
            .any(|f| matches!(f, ClientFrame::Join { .. }))
    );

    // Mistakes are explained, not sent.
    let fx = enter_line(&mut app, "/msg");
    assert_eq!(sent(&fx), vec![]);
    assert_eq!(
        notices(&app).last().map(String::as_str),
        Some("Usage: /msg NAME [TEXT]")
    );
    let fx = enter_line(&mut app, "/query alice");
    assert_eq!(sent(&fx), vec![]);
    assert!(
        notices(&app)
            .last()
            .unwrap()
            .starts_with("No conversation with alice")
    );
    // /join @bob is the same conversation.
    update(&mut app, alt(KeyCode::Char('3')));
    enter_line(&mut app, "/join @bob");
    assert_eq!(app.current, 0);
    update(&mut app, alt(KeyCode::Char('3')));
    enter_line(&mut app, "/join @Bob+Alice");
    assert_eq!(app.current, 0);
    let fx = enter_line(&mut app, "/query @bob+carol");
    assert_eq!(sent(&fx), vec![]);
    assert!(notices(&app).last().unwrap().contains("is not yours"));
}

#[test]
fn conversations_need_an_account_and_protocol_2() {
    let mut app = live_in(&["lobby"]);
    let fx = enter_line(&mut app, "/query bob");
    assert_eq!(sent(&fx), vec![]);
    assert_eq!(room_names(&app), ["lobby"]);
    assert!(notices(&app).last().unwrap().contains("protocol 1"));
}

#[test]
fn msg_completes_the_names_of_people_seen_anywhere() {
    let mut app = live2(&["lobby", "rust"]);
    update(&mut app, live_msg("rust", 1, "dave", "hi"));
    type_text(&mut app, "/msg d");
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.input.text(), "/msg dave ");
    update(&mut app, ctrl('u'));
    type_text(&mut app, "/query ");
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.input.text(), "/query bob ");
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.input.text(), "/query carol ");
}

#[test]
fn a_conversation_message_from_elsewhere_joins_the_list_as_a_mention() {
    let mut app = live2(&["lobby"]);
    let fx = update(&mut app, live_msg("@alice+bob", 7, "bob", "got a minute?"));
    assert_eq!(room_names(&app), ["@alice+bob", "lobby"]);
    assert_eq!(app.current, 1, "the room on screen stays");
    let convo = &app.rooms[0];
    assert_eq!((convo.unread, convo.mentioned), (1, true));
    assert_eq!(message_texts(&app, "@alice+bob"), ["got a minute?"]);
    assert_eq!(notifications(&fx).len(), 1);
    // Joined from there, with a page of what came before once live.
    assert_eq!(sent(&fx), vec![join_frame("@alice+bob", Some(7))]);
    let fx = update(
        &mut app,
        joined2(
            "@alice+bob",
            &["alice", "bob"],
            page(vec![msg("@alice+bob", 7, "bob", "got a minute?")]),
            false,
            details("", None, &[], Role::Member),
        ),
    );
    assert!(
        sent(&fx).iter().any(|f| matches!(
            f,
            ClientFrame::History {
                before: Some(7),
                ..
            }
        )),
        "{fx:?}"
    );
    // Someone else's conversation name is not ours to show.
    update(&mut app, live_msg("@bob+carol", 1, "bob", "hm"));
    assert_eq!(room_names(&app).len(), 2);
}

// ------------------------------------------------------ rooms mine, read

#[test]
fn rooms_mine_is_asked_on_connect_by_registered_users_of_protocol_2() {
    let mut app = app_in(&["lobby"]);
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    let fx = update(&mut app, welcome2("alice"));
    let frames = sent(&fx);
    assert_eq!(
        frames[0],
        ClientFrame::Rooms {
            mine: true,
            query: None,
            limit: None,
            after: None
        }
    );
    assert_eq!(frames[1], join_frame("lobby", None));

    // Not for a guest, not from a protocol-1 server.
    let mut app = app_in(&["lobby"]);
    let frames = connect(&mut app, 1);
    assert!(
        !frames
            .iter()
            .any(|f| matches!(f, ClientFrame::Rooms { .. }))
    );
    let mut app = app_in(&["lobby"]);
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    let fx = update(
        &mut app,
        frame(ServerFrame::Welcome {
            user: "alice".into(),
            guest: true,
            registered: false,
            protocol: 2,
            server: "s".into(),
            admin: false,
        }),
    );
    assert!(
        !sent(&fx)
            .iter()
            .any(|f| matches!(f, ClientFrame::Rooms { .. }))
    );
}

#[test]
fn rooms_mine_sets_unread_counts_and_adds_rooms_from_other_devices() {
    let mut app = app_in(&["lobby", "rust"]);
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    update(&mut app, welcome2("alice"));
    let fx = update(
        &mut app,
        rooms_mine(vec![
            info("lobby", 130, 125),
            info("rust", 40, 30),
            info("ops", 9, 9),
            info("@alice+bob", 3, 1),
        ]),
    );
    assert_eq!(room_names(&app), ["@alice+bob", "lobby", "rust", "ops"]);
    assert_eq!(app.current, 1, "lobby stays on screen");
    let counts: Vec<(u32, bool)> = app.rooms.iter().map(|r| (r.unread, r.mentioned)).collect();
    assert_eq!(counts, [(2, true), (0, false), (10, false), (0, false)]);
    assert_eq!(app.rooms[2].last_read, 30);
    // The rooms we were not in yet are joined from the server's marker.
    assert_eq!(
        sent(&fx),
        vec![
            join_frame("ops", Some(9)),
            join_frame("@alice+bob", Some(1))
        ]
    );
    // Catching up rust does not count its entries a second time.
    update(
        &mut app,
        joined2(
            "rust",
            &["alice"],
            page((31..=40).map(|id| msg("rust", id, "bob", "x")).collect()),
            false,
            details("", None, &[], Role::Member),
        ),
    );
    assert_eq!(app.rooms[2].unread, 10);
    // A message after what the server counted does count.
    update(&mut app, live_msg("rust", 41, "bob", "y"));
    assert_eq!(app.rooms[2].unread, 11);
}

fn read_frames(fx: &[Effect]) -> Vec<ClientFrame> {
    sent(fx)
        .into_iter()
        .filter(|f| matches!(f, ClientFrame::Read { .. }))
        .collect()
}

fn read(room: &str, id: u64) -> ClientFrame {
    ClientFrame::Read {
        room: room.into(),
        id,
        reference: Some("read-marker".into()),
    }
}

#[test]
fn read_is_sent_once_per_change_for_the_room_on_screen() {
    let mut app = live2(&["lobby", "rust"]);
    let fx = update(&mut app, live_msg("lobby", 1, "bob", "one"));
    assert_eq!(read_frames(&fx), vec![read("lobby", 1)]);
    // Nothing new: no read, whatever happens.
    let fx = update(&mut app, Action::Tick);
    assert_eq!(read_frames(&fx), vec![]);
    let fx = update(&mut app, key(KeyCode::Char('x')));
    assert_eq!(read_frames(&fx), vec![]);
    // Another room's message is not read until that room is on screen.
    let fx = update(&mut app, live_msg("rust", 2, "bob", "two"));
    assert_eq!(read_frames(&fx), vec![]);
    let fx = update(&mut app, alt(KeyCode::Char('2')));
    assert_eq!(read_frames(&fx), vec![read("rust", 2)]);
    let fx = update(&mut app, alt(KeyCode::Char('1')));
    assert_eq!(read_frames(&fx), vec![], "lobby was read already");
    // Scrolled up, the newest lines are not in view: no read until they are.
    app.rooms[0].scroll = Scroll::Anchored {
        entries: 1,
        rows_up: 0,
    };
    let fx = update(&mut app, live_msg("lobby", 2, "bob", "while scrolled"));
    assert_eq!(read_frames(&fx), vec![]);
    app.rooms[0].scroll = Scroll::Bottom;
    let fx = update(&mut app, Action::Tick);
    assert_eq!(read_frames(&fx), vec![read("lobby", 2)]);
    // A server that does not serve `read` says so once, quietly, and is
    // sent no more until the next connection.
    let shown = notices(&app).len();
    update(
        &mut app,
        frame(ServerFrame::error(
            ErrorCode::UnknownType,
            "unknown frame type \"read\"",
            Some("read-marker".into()),
        )),
    );
    assert_eq!(notices(&app).len(), shown);
    let fx = update(&mut app, live_msg("lobby", 3, "bob", "three"));
    assert_eq!(read_frames(&fx), vec![]);
    disconnect(&mut app);
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 2 }));
    update(&mut app, welcome2("alice"));
    let mut d = details("", None, &[], Role::Member);
    d.read_id = 1;
    let fx = update(
        &mut app,
        joined2(
            "lobby",
            &["alice"],
            page(vec![msg("lobby", 3, "bob", "three")]),
            false,
            d,
        ),
    );
    assert_eq!(read_frames(&fx), vec![read("lobby", 3)]);
    // A protocol-1 server is never sent one.
    let mut app = live_in(&["lobby"]);
    let fx = update(&mut app, live_msg("lobby", 1, "bob", "one"));
    assert_eq!(read_frames(&fx), vec![]);
}

#[test]
fn read_from_another_device_clears_the_count() {
    let mut app = live2(&["lobby", "rust"]);
    update(&mut app, live_msg("rust", 1, "bob", "alice: one"));
    update(&mut app, live_msg("rust", 2, "bob", "two"));
    update(&mut app, live_msg("rust", 3, "bob", "three"));
    assert_eq!((app.rooms[1].unread, app.rooms[1].mentioned), (3, true));
    // Read up to 2 elsewhere: one left, and it is no mention.
    update(
        &mut app,
        frame(ServerFrame::Read {
            room: "rust".into(),
            id: 2,
        }),
    );
    assert_eq!(app.rooms[1].unread, 1);
    assert_eq!(app.rooms[1].last_read, 2);
    update(
        &mut app,
        frame(ServerFrame::Read {
            room: "rust".into(),
            id: 3,
        }),
    );
    assert_eq!((app.rooms[1].unread, app.rooms[1].mentioned), (0, false));
    assert!(app.state_dirty || app.rooms[1].last_read == 3);
    // Switching there sends nothing: the server knows already.
    let fx = update(&mut app, alt(KeyCode::Char('2')));
    assert_eq!(read_frames(&fx), vec![]);
    assert_eq!(app.rooms[1].new_marker, None, "nothing new to mark");
}

#[test]
fn the_new_messages_line_sits_at_the_servers_marker() {
    let mut app = app_in(&["lobby"]);
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    update(&mut app, welcome2("alice"));
    update(&mut app, rooms_mine(vec![info("lobby", 5, 3)]));
    let mut d = details("", None, &[], Role::Member);
    d.read_id = 3;
    update(
        &mut app,
        joined2(
            "lobby",
            &["alice"],
            page((1..=5).map(|id| msg("lobby", id, "bob", "m")).collect()),
            false,
            d,
        ),
    );
    assert_eq!(app.rooms[0].new_marker, Some(3));
}
