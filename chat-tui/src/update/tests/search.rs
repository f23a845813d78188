//! Unit tests for search: Ctrl-F and `/search` open the popup and ask the
//! server, its answer is browsed with Up/Down, Enter goes to the chosen
//! message in its room (fetching the older page that holds it, or joining
//! the room first), Esc closes, and a protocol-1 server is not asked.

use super::*;
use crate::app::SearchView;
use crate::update::search::SEARCH_PAGE;

/// alice, live in `lobby` (messages 1..=3 loaded) and `rust` on a
/// protocol-2 server.
fn searching_app() -> App {
    let mut app = app_in(&["lobby", "rust"]);
    update(&mut app, Action::Net(NetEvent::Connected { epoch: 1 }));
    update(
        &mut app,
        frame(ServerFrame::Welcome {
            user: "alice".into(),
            guest: false,
            registered: true,
            protocol: 2,
            server: "chat-server test".into(),
            admin: false,
        }),
    );
    let history = vec![
        msg("lobby", 1, "bob", "release notes soon"),
        msg("lobby", 2, "carol", "lunch?"),
        msg("lobby", 3, "bob", "the release is out"),
    ];
    update(&mut app, joined("lobby", &["alice", "bob"], history, false));
    let older = vec![
        msg("rust", 40, "dave", "borrowck"),
        msg("rust", 41, "dave", "ok"),
    ];
    update(&mut app, joined("rust", &["alice", "dave"], older, true));
    app.current = 0;
    app
}

fn search_frame(query: &str) -> ClientFrame {
    ClientFrame::Search {
        query: query.into(),
        room: None,
        limit: Some(SEARCH_PAGE),
        before: None,
        before_ts: None,
        reference: None,
    }
}

fn answer(query: &str, messages: Vec<Message>, more: bool) -> Action {
    frame(ServerFrame::Search {
        query: query.into(),
        messages,
        more,
    })
}

fn view(app: &App) -> &SearchView {
    match &app.mode {
        Mode::Search(view) => view,
        other => panic!("the search popup is not open: {other:?}"),
    }
}

#[test]
fn ctrl_f_opens_the_popup_typing_and_enter_ask_and_the_answer_is_shown() {
    let mut app = searching_app();
    assert!(sent(&update(&mut app, ctrl('f'))).is_empty());
    assert_eq!(view(&app).input.text(), "");
    type_text(&mut app, "release");
    assert_eq!(
        sent(&update(&mut app, key(KeyCode::Enter))),
        [search_frame("release")]
    );
    assert!(view(&app).waiting);
    // An answer to another query (asked before) is not this one's.
    update(
        &mut app,
        answer("rel", vec![msg("lobby", 1, "bob", "x")], false),
    );
    assert!(view(&app).waiting);
    let found = vec![
        msg("lobby", 3, "bob", "the release is out"),
        msg("lobby", 1, "bob", "release notes soon"),
    ];
    update(&mut app, answer("release", found.clone(), true));
    let shown = view(&app);
    assert!(!shown.waiting && shown.more);
    assert_eq!(shown.results, found);
    assert_eq!(shown.chosen().map(|m| m.id), Some(3));
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Down));
    assert_eq!(
        view(&app).chosen().map(|m| m.id),
        Some(1),
        "stops at the last"
    );
    update(&mut app, key(KeyCode::Up));
    assert_eq!(view(&app).chosen().map(|m| m.id), Some(3));
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.input.text(), "", "the query never reached the input");
}

#[test]
fn slash_search_asks_at_once_and_a_changed_query_asks_again() {
    let mut app = searching_app();
    assert_eq!(
        sent(&enter_line(&mut app, "/search release notes")),
        [search_frame("release notes")]
    );
    update(
        &mut app,
        answer(
            "release notes",
            vec![msg("lobby", 1, "bob", "release notes soon")],
            false,
        ),
    );
    update(&mut app, key(KeyCode::Backspace));
    assert_eq!(
        sent(&update(&mut app, key(KeyCode::Enter))),
        [search_frame("release note")],
        "Enter on an edited query asks, it does not jump"
    );
    assert!(matches!(app.mode, Mode::Search(_)));
    update(&mut app, key(KeyCode::Esc));
    enter_line(&mut app, "/search");
    assert_eq!(app.mode, Mode::Normal);
    assert!(notices(&app).iter().any(|n| n.contains("Usage: /search")));
}

#[test]
fn enter_on_a_loaded_message_picks_it_in_its_room() {
    let mut app = searching_app();
    app.current = 1;
    enter_line(&mut app, "/search lunch");
    update(
        &mut app,
        answer("lunch", vec![msg("lobby", 2, "carol", "lunch?")], false),
    );
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(sent(&fx).is_empty(), "nothing to fetch: {fx:?}");
    assert_eq!(app.current, 0, "in the message's room");
    assert_eq!(app.mode, Mode::Pick(2));
    assert_eq!(app.jump, None);
}

#[test]
fn enter_on_an_older_message_fetches_its_page_then_picks_it() {
    let mut app = searching_app();
    enter_line(&mut app, "/search lifetimes");
    update(
        &mut app,
        answer(
            "lifetimes",
            vec![msg("rust", 12, "dave", "lifetimes!")],
            false,
        ),
    );
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(app.current, 1);
    // Going to the room also marks what it shows now as read.
    let fetched: Vec<ClientFrame> = sent(&fx)
        .into_iter()
        .filter(|frame| !matches!(frame, ClientFrame::Read { .. }))
        .collect();
    assert_eq!(
        fetched,
        [ClientFrame::History {
            room: "rust".into(),
            before: Some(40),
            after: None,
            limit: Some(38),
        }],
        "back to the message, with some context above it"
    );
    assert_eq!(app.mode, Mode::Normal);
    let page: Vec<Message> = (2..40)
        .map(|id| {
            msg(
                "rust",
                id,
                "dave",
                if id == 12 { "lifetimes!" } else { "…" },
            )
        })
        .collect();
    let fx = update(
        &mut app,
        frame(ServerFrame::History {
            room: "rust".into(),
            messages: page.into_iter().map(chat_proto::Entry::Message).collect(),
            more: true,
        }),
    );
    assert!(sent(&fx).is_empty());
    assert_eq!(app.mode, Mode::Pick(12));
    assert_eq!(app.jump, None);
}

#[test]
fn enter_on_a_message_of_a_room_not_joined_joins_it_first() {
    let mut app = searching_app();
    enter_line(&mut app, "/search plans");
    update(
        &mut app,
        answer("plans", vec![msg("ops", 5, "erin", "plans")], false),
    );
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(sent(&fx), [join_frame("ops", None)]);
    assert_eq!(app.current_room().map(|r| r.name.as_str()), Some("ops"));
    let history = vec![msg("ops", 5, "erin", "plans"), msg("ops", 6, "erin", "go")];
    update(&mut app, joined("ops", &["alice", "erin"], history, false));
    assert_eq!(app.mode, Mode::Pick(5));
}

#[test]
fn a_jump_to_a_message_that_is_gone_says_so() {
    let mut app = searching_app();
    enter_line(&mut app, "/search gone");
    update(
        &mut app,
        answer("gone", vec![msg("lobby", 0, "bob", "gone")], false),
    );
    update(&mut app, key(KeyCode::Enter));
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.jump, None);
    assert!(
        notices(&app)
            .iter()
            .any(|n| n.contains("no longer in #lobby"))
    );
}

#[test]
fn a_query_without_a_word_is_not_sent_and_finds_nothing() {
    let mut app = searching_app();
    assert!(sent(&enter_line(&mut app, "/search ?!")).is_empty());
    let shown = view(&app);
    assert!(!shown.waiting && shown.results.is_empty());
    assert_eq!(shown.asked.as_deref(), Some("?!"));
    let long = "w".repeat(300);
    update(&mut app, key(KeyCode::Esc));
    let frames = sent(&enter_line(&mut app, &format!("/search {long}")));
    assert_eq!(
        frames,
        [search_frame(&"w".repeat(256))],
        "cut to what the server takes"
    );
}

#[test]
fn a_protocol_1_server_is_not_asked() {
    let mut app = app_in(&["lobby"]);
    connect(&mut app, 1);
    update(&mut app, joined("lobby", &["alice"], vec![], false));
    assert!(sent(&update(&mut app, ctrl('f'))).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    assert!(notices(&app).iter().any(|n| n.contains("protocol 1")));
}
