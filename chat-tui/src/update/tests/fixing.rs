//! Unit tests for fixing messages: picking one with the keyboard, and the
//! frame each action puts in the outbox (reply, edit, delete, react,
//! unreact, `/me`), Up on an empty input, and edits, deletions and
//! reactions applied in id order over what is loaded, live, caught up or
//! fetched later.

use chat_proto::{Delete, Edit, Entry as StreamEntry, Reaction, Role, RoomDetails};

use super::*;
use crate::app::{ComposeKind, apply_fix};

/// alice, live in `lobby` on a protocol-2 server with `role`; the room
/// (owned by carol, bob an op when `role` is not `Op`) holds bob's 1,
/// alice's 2 and dave's 3.
fn fixing_app(role: Role) -> App {
    let mut app = app_in(&["lobby"]);
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    update(
        &mut app,
        frame(ServerFrame::Welcome {
            user: "alice".into(),
            guest: false,
            registered: false,
            protocol: 2,
            server: "chat-server test".into(),
            admin: false,
        }),
    );
    let history = vec![
        msg("lobby", 1, "bob", "morning all"),
        msg("lobby", 2, "alice", "hi bob"),
        msg("lobby", 3, "dave", "hello"),
    ];
    update(
        &mut app,
        frame(ServerFrame::Joined {
            room: "lobby".into(),
            members: vec!["alice".into(), "bob".into(), "dave".into()],
            history: page(history),
            more: false,
            last_id: 3,
            details: Some(RoomDetails {
                topic: String::new(),
                owner: Some("carol".into()),
                ops: vec!["bob".into()],
                private: false,
                role,
                read_id: 3,
            }),
        }),
    );
    app
}

fn alt_char(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT))
}

/// The frames the outbox would send, in order.
fn outbox_frames(app: &App) -> Vec<ClientFrame> {
    app.outbox.entries.iter().map(|p| p.frame.clone()).collect()
}

fn message_in(app: &App, id: u64) -> Message {
    app.rooms[0].message(id).cloned().expect("message loaded")
}

fn edit(id: u64, target: u64, text: &str, reference: Option<&str>) -> StreamEntry {
    StreamEntry::Edit(Edit {
        room: "lobby".into(),
        id,
        user: "bob".into(),
        ts: T0 + id as i64 * 1000,
        reference: reference.map(str::to_owned),
        target,
        text: text.into(),
    })
}

fn reaction(id: u64, user: &str, target: u64, emoji: &str) -> Reaction {
    Reaction {
        room: "lobby".into(),
        id,
        user: user.into(),
        ts: T0 + id as i64 * 1000,
        reference: None,
        target,
        emoji: emoji.into(),
    }
}

fn live(app: &mut App, entry: StreamEntry) {
    let frame_of = match entry {
        StreamEntry::Message(m) => ServerFrame::Message(m),
        StreamEntry::Edit(e) => ServerFrame::Edit(e),
        StreamEntry::Delete(d) => ServerFrame::Delete(d),
        StreamEntry::React(r) => ServerFrame::React(r),
        StreamEntry::Unreact(r) => ServerFrame::Unreact(r),
        other => panic!("not a fix: {other:?}"),
    };
    update(app, frame(frame_of));
}

#[test]
fn alt_p_picks_the_newest_message_and_up_down_move_the_pick() {
    let mut app = fixing_app(Role::Member);
    update(&mut app, alt_char('p'));
    assert_eq!(app.mode, Mode::Pick(3));
    update(&mut app, key(KeyCode::Up));
    assert_eq!(app.mode, Mode::Pick(2));
    // Plain letters arrive typed in a burst, as the runner reads them.
    update(&mut app, Action::Typed("k".into()));
    assert_eq!(app.mode, Mode::Pick(1));
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Down));
    assert_eq!(app.mode, Mode::Pick(3));
    // Down past the newest leaves, as Esc does.
    update(&mut app, key(KeyCode::Down));
    assert_eq!(app.mode, Mode::Normal);
    update(&mut app, alt_char('p'));
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.outbox.entries.is_empty());
}

#[test]
fn up_at_the_first_message_of_the_room_stays_there() {
    // Older history being fetched on Up is in
    // `a_fix_of_a_message_not_loaded_applies_when_its_page_comes`.
    let mut app = fixing_app(Role::Member);
    app.rooms[0].older = Older::Available;
    update(&mut app, alt_char('p'));
    update(&mut app, key(KeyCode::Up));
    update(&mut app, key(KeyCode::Up));
    let fx = update(&mut app, key(KeyCode::Up));
    assert_eq!(app.mode, Mode::Pick(1));
    // Nothing comes before id 1.
    assert!(sent(&fx).is_empty());
    assert_eq!(app.rooms[0].older, Older::Exhausted);
}

#[test]
fn reply_sends_a_message_with_reply_to_through_the_outbox() {
    let mut app = fixing_app(Role::Member);
    update(&mut app, alt_char('p'));
    update(&mut app, key(KeyCode::Up));
    update(&mut app, key(KeyCode::Up));
    update(&mut app, Action::Typed("r".into()));
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(
        app.compose.as_ref().map(|c| (c.target, c.kind.clone())),
        Some((1, ComposeKind::Reply))
    );
    let fx = enter_line(&mut app, "morning!");
    let expected = ClientFrame::Message {
        room: "lobby".into(),
        text: "morning!".into(),
        reference: Some("r1".into()),
        reply_to: Some(1),
        action: false,
    };
    // Saved before it is sent, as every line.
    let saved = fx
        .iter()
        .position(|e| matches!(e, Effect::SaveStateDurably(s) if s.outbox[0].frame == expected));
    let sent_at = fx.iter().position(|e| *e == Effect::Send(expected.clone()));
    assert!(saved.is_some() && saved < sent_at, "{fx:?}");
    assert_eq!(app.compose, None);
    // The next line is a plain one again.
    let fx = enter_line(&mut app, "plain");
    assert_eq!(
        sent(&fx),
        [ClientFrame::message("lobby", "plain", Some("r2".into()))]
    );
}

#[test]
fn esc_cancels_a_reply_and_an_edit_takes_its_text_with_it() {
    let mut app = fixing_app(Role::Member);
    update(&mut app, alt_char('p'));
    update(&mut app, key(KeyCode::Char('r')));
    type_text(&mut app, "draft");
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.compose, None);
    assert_eq!(app.input.text(), "draft");
    app.input.take();
    update(&mut app, key(KeyCode::Up));
    assert_eq!(app.input.text(), "hi bob");
    update(&mut app, key(KeyCode::Esc));
    assert_eq!((app.compose.clone(), app.input.text()), (None, ""));
}

#[test]
fn edit_puts_the_text_in_the_input_and_enter_sends_an_edit() {
    let mut app = fixing_app(Role::Member);
    update(&mut app, alt_char('p'));
    update(&mut app, key(KeyCode::Up));
    update(&mut app, key(KeyCode::Char('e')));
    assert_eq!(app.input.text(), "hi bob");
    update(&mut app, ctrl('u'));
    let fx = enter_line(&mut app, "hi bob!");
    let edit_frame = ClientFrame::Edit {
        room: "lobby".into(),
        target: 2,
        text: "hi bob!".into(),
        reference: Some("r1".into()),
    };
    assert_eq!(sent(&fx), [edit_frame]);
    assert_eq!(
        app.outbox.entries[0].what.as_deref(),
        Some("editing a message")
    );
    // The server's copy with our ref acknowledges it and changes the line.
    live(&mut app, edit(4, 2, "hi bob!", Some("r1")));
    assert!(app.outbox.entries.is_empty());
    let m = message_in(&app, 2);
    assert_eq!((m.text.as_str(), m.edited), ("hi bob!", Some(T0 + 4000)));
}

#[test]
fn only_own_messages_are_edited_and_the_same_text_is_not_sent() {
    let mut app = fixing_app(Role::Member);
    update(&mut app, alt_char('p'));
    update(&mut app, key(KeyCode::Char('e')));
    assert_eq!(app.input.text(), "");
    assert!(notices(&app).iter().any(|n| n.contains("Only your own")));
    update(&mut app, key(KeyCode::Esc));
    update(&mut app, key(KeyCode::Up));
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(sent(&fx).is_empty());
    assert!(notices(&app).iter().any(|n| n.contains("Not changed")));
}

#[test]
fn up_on_an_empty_input_edits_the_last_own_message() {
    let mut app = fixing_app(Role::Member);
    update(&mut app, key(KeyCode::Up));
    assert_eq!(app.input.text(), "hi bob");
    assert_eq!(
        app.compose.as_ref().map(|c| (c.target, c.kind.clone())),
        Some((2, ComposeKind::Edit))
    );
    // On a protocol-1 server Up still walks through earlier lines.
    let mut old = live_in(&["lobby"]);
    enter_line(&mut old, "earlier");
    update(&mut old, key(KeyCode::Up));
    assert_eq!((old.input.text(), old.compose.clone()), ("earlier", None));
}

#[test]
fn delete_asks_first_then_sends_a_delete() {
    let mut app = fixing_app(Role::Member);
    update(&mut app, alt_char('p'));
    update(&mut app, key(KeyCode::Up));
    update(&mut app, key(KeyCode::Char('d')));
    let Mode::Confirm(confirm) = &app.mode else {
        panic!("asks first: {:?}", app.mode);
    };
    assert_eq!(confirm.question, "Delete your message, for everyone?");
    // The answer typed in the same burst as the key that asked.
    app.mode = Mode::Pick(2);
    let fx = update(&mut app, Action::Typed("dy".into()));
    assert_eq!(
        sent(&fx),
        [ClientFrame::Delete {
            room: "lobby".into(),
            target: 2,
            reference: Some("r1".into()),
        }]
    );
    update(
        &mut app,
        frame(ServerFrame::Delete(Delete {
            room: "lobby".into(),
            id: 4,
            user: "alice".into(),
            ts: T0 + 4000,
            reference: Some("r1".into()),
            target: 2,
        })),
    );
    let m = message_in(&app, 2);
    assert!(m.deleted && m.text.is_empty());
    assert!(app.outbox.entries.is_empty());
}

#[test]
fn a_member_may_not_delete_others_messages_an_op_may_delete_members() {
    let mut member = fixing_app(Role::Member);
    update(&mut member, alt_char('p'));
    update(&mut member, key(KeyCode::Char('d')));
    assert_eq!(member.mode, Mode::Pick(3));
    assert!(
        notices(&member)
            .iter()
            .any(|n| n.contains("Only its author"))
    );

    let mut op = fixing_app(Role::Op);
    update(&mut op, alt_char('p'));
    update(&mut op, key(KeyCode::Char('d')));
    assert!(
        matches!(&op.mode, Mode::Confirm(c) if c.question == "Delete dave's message, for everyone?")
    );
    update(&mut op, key(KeyCode::Char('n')));
    assert!(op.outbox.entries.is_empty());
    // bob is an op too: an op cannot delete his message.
    update(&mut op, alt_char('p'));
    update(&mut op, key(KeyCode::Up));
    update(&mut op, key(KeyCode::Up));
    update(&mut op, key(KeyCode::Char('d')));
    assert_eq!(op.mode, Mode::Pick(1));

    let mut owner = fixing_app(Role::Owner);
    update(&mut owner, alt_char('p'));
    update(&mut owner, key(KeyCode::Up));
    update(&mut owner, key(KeyCode::Up));
    update(&mut owner, key(KeyCode::Char('d')));
    assert!(matches!(owner.mode, Mode::Confirm(_)));
    let fx = update(&mut owner, key(KeyCode::Char('y')));
    assert!(matches!(
        &sent(&fx)[..],
        [ClientFrame::Delete { target: 1, .. }]
    ));
}

#[test]
fn react_by_quick_number_or_typed_emoji_and_again_takes_it_back() {
    let mut app = fixing_app(Role::Member);
    update(&mut app, alt_char('p'));
    update(&mut app, Action::Typed("+1".into()));
    assert_eq!(app.mode, Mode::Normal);
    let react = ClientFrame::React {
        room: "lobby".into(),
        target: 3,
        emoji: "👍".into(),
        reference: Some("r1".into()),
    };
    assert_eq!(outbox_frames(&app), [react]);
    live(
        &mut app,
        StreamEntry::React(Reaction {
            reference: Some("r1".into()),
            ..reaction(4, "alice", 3, "👍")
        }),
    );
    assert_eq!(message_in(&app, 3).reactions["👍"], ["alice"]);
    // The same reaction again is taken back.
    update(&mut app, alt_char('p'));
    update(&mut app, key(KeyCode::Char('+')));
    let fx = update(&mut app, key(KeyCode::Char('1')));
    assert!(matches!(
        &sent(&fx)[..],
        [ClientFrame::Unreact { target: 3, emoji, .. }] if emoji == "👍"
    ));
    // A typed one, sent with Enter.
    update(&mut app, alt_char('p'));
    update(&mut app, key(KeyCode::Char('+')));
    update(&mut app, Action::Typed("🦀".into()));
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(matches!(
        &sent(&fx)[..],
        [ClientFrame::React { target: 3, emoji, .. }] if emoji == "🦀"
    ));
    // Esc at the prompt goes back to the pick.
    update(&mut app, alt_char('p'));
    update(&mut app, key(KeyCode::Char('+')));
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Pick(3));
}

#[test]
fn slash_me_sends_an_action() {
    let mut app = fixing_app(Role::Member);
    let fx = enter_line(&mut app, "/me waves");
    assert_eq!(
        sent(&fx),
        [ClientFrame::Message {
            room: "lobby".into(),
            text: "waves".into(),
            reference: Some("r1".into()),
            reply_to: None,
            action: true,
        }]
    );
    let fx = enter_line(&mut app, "/me");
    assert!(sent(&fx).is_empty());
    assert!(notices(&app).iter().any(|n| n == "Usage: /me TEXT"));
}

#[test]
fn fixes_apply_in_id_order_and_twice_changes_nothing() {
    let mut app = fixing_app(Role::Member);
    live(&mut app, edit(4, 1, "morning everyone", None));
    live(&mut app, StreamEntry::React(reaction(5, "dave", 1, "❤")));
    live(&mut app, StreamEntry::React(reaction(6, "alice", 1, "❤")));
    live(&mut app, StreamEntry::Unreact(reaction(7, "dave", 1, "❤")));
    // Seen again after a reconnect's catch-up: duplicates, dropped.
    live(&mut app, StreamEntry::Unreact(reaction(6, "alice", 1, "❤")));
    live(&mut app, edit(4, 1, "stale", None));
    let m = message_in(&app, 1);
    assert_eq!(m.text, "morning everyone");
    assert_eq!(m.reactions["❤"], ["alice"]);
    let shown: Vec<_> = app.rooms[0]
        .entries
        .iter()
        .filter_map(Entry::message_id)
        .collect();
    assert_eq!(shown, [1, 2, 3], "fixes add no line");
}

#[test]
fn catch_up_pages_apply_fixes_over_what_is_on_screen() {
    let mut app = fixing_app(Role::Member);
    disconnect(&mut app);
    connect(&mut app, 2);
    update(
        &mut app,
        frame(ServerFrame::Joined {
            room: "lobby".into(),
            members: vec!["alice".into()],
            history: vec![
                edit(5, 1, "edited while away", None),
                StreamEntry::Delete(Delete {
                    room: "lobby".into(),
                    id: 6,
                    user: "dave".into(),
                    ts: T0 + 6000,
                    reference: None,
                    target: 3,
                }),
                msg("lobby", 4, "bob", "new one").into(),
            ],
            more: false,
            last_id: 6,
            details: None,
        }),
    );
    assert_eq!(
        message_texts(&app, "lobby"),
        ["edited while away", "hi bob", "", "new one"]
    );
    assert!(message_in(&app, 3).deleted);
}

#[test]
fn a_fix_of_a_message_not_loaded_applies_when_its_page_comes() {
    let mut app = fixing_app(Role::Member);
    app.rooms[0].older = Older::Available;
    // Only message 3 is loaded, as if the room was joined at its end.
    app.rooms[0]
        .entries
        .retain(|e| e.message_id() != Some(1) && e.message_id() != Some(2));
    live(&mut app, edit(4, 1, "fixed text", None));
    live(&mut app, StreamEntry::React(reaction(5, "dave", 2, "👀")));
    assert_eq!(app.rooms[0].unplaced_fixes.len(), 2);
    update(&mut app, alt_char('p'));
    let fx = update(&mut app, key(KeyCode::Up));
    assert!(matches!(
        &sent(&fx)[..],
        [ClientFrame::History {
            before: Some(3),
            ..
        }]
    ));
    // The page was built before the fixes: its messages do not show them.
    update(
        &mut app,
        frame(ServerFrame::History {
            room: "lobby".into(),
            messages: page(vec![
                msg("lobby", 1, "bob", "morning all"),
                msg("lobby", 2, "alice", "hi bob"),
            ]),
            more: false,
        }),
    );
    assert_eq!(
        message_texts(&app, "lobby"),
        ["fixed text", "hi bob", "hello"]
    );
    assert_eq!(message_in(&app, 2).reactions["👀"], ["dave"]);
    assert!(app.rooms[0].unplaced_fixes.is_empty());
    // A page built after them already shows them: applying again changes
    // nothing.
    let mut later = message_in(&app, 1);
    apply_fix(&mut later, &edit(4, 1, "fixed text", None));
    assert_eq!(later, message_in(&app, 1));
}

#[test]
fn the_pick_keys_follow_the_config_file() {
    let changes = [
        ("pick", vec!["F3"]),
        ("pick_reply", vec!["a"]),
        ("pick_react", vec!["Ctrl-R"]),
    ]
    .into_iter()
    .map(|(a, k)| (a.to_owned(), k.into_iter().map(str::to_owned).collect()))
    .collect();
    let (keymap, problems) = crate::keybind::Keymap::with_changes(&changes);
    assert!(problems.is_empty(), "{problems:?}");
    let mut app = fixing_app(Role::Member);
    app.keymap = keymap;
    update(&mut app, alt_char('p'));
    assert_eq!(app.mode, Mode::Normal);
    update(&mut app, key(KeyCode::F(3)));
    assert_eq!(app.mode, Mode::Pick(3));
    update(&mut app, key(KeyCode::Char('r')));
    assert_eq!(
        (app.mode.clone(), app.compose.clone()),
        (Mode::Pick(3), None)
    );
    update(&mut app, ctrl('r'));
    assert!(matches!(app.mode, Mode::React(_)));
    update(&mut app, key(KeyCode::Esc));
    update(&mut app, Action::Typed("a".into()));
    assert!(app.compose.is_some());
}

#[test]
fn picking_on_a_protocol_1_server_says_why_not() {
    let mut app = live_in(&["lobby"]);
    update(
        &mut app,
        frame(ServerFrame::Message(msg("lobby", 1, "bob", "hi"))),
    );
    update(&mut app, alt_char('p'));
    assert_eq!(app.mode, Mode::Normal);
    assert!(notices(&app).iter().any(|n| n.contains("protocol 1")));
}

#[test]
fn going_to_another_room_drops_a_reply_or_an_edit_begun_here() {
    let mut app = fixing_app(Role::Member);
    app.rooms.push(crate::app::Room::new("rust"));
    update(&mut app, key(KeyCode::Up));
    assert!(app.compose.is_some());
    update(&mut app, alt(KeyCode::Char('2')));
    assert_eq!(app.current, 1);
    // The edit's text went with it: nothing of lobby is sent to rust.
    assert_eq!((app.compose.clone(), app.input.text()), (None, ""));
    update(&mut app, alt(KeyCode::Char('1')));
    update(&mut app, alt_char('p'));
    update(&mut app, key(KeyCode::Char('r')));
    type_text(&mut app, "to bob");
    update(&mut app, alt(KeyCode::Char('2')));
    assert_eq!((app.compose.clone(), app.input.text()), (None, "to bob"));
}
