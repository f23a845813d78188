//! The browser client in real headless Chromium: two browsers chatting,
//! catching up after a server restart with nothing lost or doubled,
//! markup shown as text, a terminal-protocol client and a browser seeing
//! each other, the Origin check, a browser and a terminal-protocol client
//! over `wss://` with a self-signed certificate, and the layout at desktop
//! and phone size.

use std::time::Duration;

use chat_e2e::browser::{Browser, ForeignSite, Forwarder, Page, Shown};
use chat_e2e::db::stored_messages;
use chat_e2e::http::http_get;
use chat_e2e::tls::{TestCertificate, client_config, https_get};
use chat_e2e::{ServerOptions, ServerProcess, TestClient, message_burst};
use chat_proto::{ClientFrame, Message, ServerFrame};
use serde_json::json;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const DESKTOP: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (390, 844);
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// The most frames a terminal client skips (presence, other lines) while
/// it waits for one message.
const MAX_SKIPPED: usize = 500;
/// WebDriver key codes.
const ENTER: &str = "\u{e007}";
const SHIFT: &str = "\u{e008}";
const ALT: &str = "\u{e00a}";
const ARROW_DOWN: &str = "\u{e015}";
const RELEASE_MODIFIERS: &str = "\u{e000}";

fn base(server: &ServerProcess) -> String {
    format!("http://{}", server.addr())
}

/// Reads frames until a message with `text` arrives, skipping presence and
/// other messages.
async fn expect_text(client: &mut TestClient, text: &str) -> Message {
    for _ in 0..MAX_SKIPPED {
        if let ServerFrame::Message(message) = client.recv().await
            && message.text == text
        {
            return message;
        }
    }
    panic!(
        "{}: no message {text:?} among {MAX_SKIPPED} frames",
        client.label()
    );
}

fn assert_ids_ascending_and_unique(shown: &[Shown]) {
    assert!(
        shown.windows(2).all(|w| w[0].id < w[1].id),
        "ids must be strictly ascending, each once: {shown:#?}"
    );
}

fn texts(shown: &[Shown]) -> Vec<&str> {
    shown.iter().map(|m| m.text.as_str()).collect()
}

async fn member_names(page: &Page) -> Vec<String> {
    let names = page
        .eval("return [...document.querySelectorAll('#member-list li')].map(e => e.textContent);")
        .await;
    serde_json::from_value(names).expect("names are strings")
}

#[tokio::test]
async fn two_browsers_chat_with_presence_unread_counts_and_mentions() {
    let server = ServerProcess::start_default().await;
    let mut browser = Browser::start().await;
    let alice = browser.page(DESKTOP.0, DESKTOP.1).await;
    let bob = browser.page(DESKTOP.0, DESKTOP.1).await;

    // alice uses the keyboard only: Enter in the name field logs in, and
    // the focus is then in the join field.
    alice.goto(&format!("{}/", base(&server))).await;
    alice
        .type_into("login-name", &format!("alice{ENTER}"))
        .await;
    alice.wait_connected().await;
    let focused = alice
        .eval("return document.activeElement.dataset.test;")
        .await;
    assert_eq!(focused, json!("join-room"));
    alice
        .client()
        .active_element()
        .await
        .expect("an element has the focus")
        .send_keys(&format!("Lobby{ENTER}"))
        .await
        .expect("keys reach the focused field");
    alice.wait_caught_up("lobby").await; // folded, as the server does
    bob.login(&base(&server), "bob", Some("bob's secret")).await;
    bob.join("lobby").await;
    alice
        .wait_for(
            "bob among lobby's members",
            "return [...document.querySelectorAll('#member-list li')].some(e => e.textContent === 'bob');",
        )
        .await;
    assert_eq!(member_names(&bob).await, ["alice", "bob"]);

    alice.say("hello bob").await;
    let at_bob = bob.wait_message("hello bob").await;
    assert_eq!(at_bob.len(), 1, "{at_bob:#?}");
    assert_eq!(at_bob[0].user, "alice");

    // Shift-Enter makes a new line; Enter sends both lines as one message.
    bob.type_into(
        "message-input",
        &format!("hi alice{SHIFT}{ENTER}{RELEASE_MODIFIERS}second line{ENTER}"),
    )
    .await;
    let at_alice = alice.wait_message("hi alice\nsecond line").await;
    let at_bob = bob.wait_message("hi alice\nsecond line").await;
    assert_eq!(at_alice, at_bob, "both browsers show the same messages");
    assert_eq!(texts(&at_alice), ["hello bob", "hi alice\nsecond line"]);
    assert_ids_ascending_and_unique(&at_alice);

    // Away in another room, alice sees lobby's unread count and mention.
    alice.join("side").await;
    bob.say("alice: are you there?").await;
    bob.say("anyone else?").await;
    bob.wait_message("anyone else?").await;
    let badge = alice
        .wait_for(
            "lobby with 2 unread, 1 mentioning alice",
            r#"const b = document.querySelector('[data-test="room-list"] [data-room="lobby"]');
               return b.dataset.unread === "2" && b.querySelector('.mention')?.textContent === "@1"
                 && b.querySelector('.unread').textContent;"#,
        )
        .await;
    assert_eq!(badge, json!("2"));

    // Keyboard only: Alt-Down from the last room wraps to lobby, which is
    // then read.
    alice
        .type_into(
            "message-input",
            &format!("{ALT}{ARROW_DOWN}{RELEASE_MODIFIERS}"),
        )
        .await;
    alice.wait_caught_up("lobby").await;
    alice.wait_message("anyone else?").await;
    alice
        .wait_for(
            "lobby read",
            r#"const b = document.querySelector('[data-test="room-list"] [data-room="lobby"]');
               return b.dataset.unread === "0" && b.querySelector('.mention') === null;"#,
        )
        .await;

    // bob logs out: alice's member list drops him and the room says so.
    bob.client()
        .find(fantoccini::Locator::Id("logout"))
        .await
        .expect("a log-out button")
        .click()
        .await
        .expect("log out");
    alice
        .wait_for(
            "bob's leave in lobby",
            r#"return [...document.querySelectorAll('[data-test="message-list"] .presence')]
                 .some(e => e.textContent.includes('bob left'));"#,
        )
        .await;
    assert_eq!(member_names(&alice).await, ["alice"]);

    // bob's name is registered now: a wrong password is refused, in words.
    bob.type_into("login-name", "bob").await;
    bob.type_into("login-password", &format!("not it{ENTER}"))
        .await;
    let refusal = bob
        .wait_for(
            "the refusal under the login form",
            "return document.getElementById('login-error').textContent || null;",
        )
        .await;
    assert!(
        refusal
            .as_str()
            .is_some_and(|r| r.starts_with("Wrong password")),
        "{refusal}"
    );
    assert_eq!(bob.connection_state().await, "not connected");
    bob.close().await;
    alice.close().await;
}

#[tokio::test]
async fn a_restarted_server_loses_nothing_and_doubles_nothing() {
    let mut server = ServerProcess::start_default().await;
    // The page's origin includes the port, and a restarted server gets a
    // new one: the browser talks to a fixed forwarding port instead.
    let door = Forwarder::start(server.addr()).await;
    let mut browser = Browser::start().await;
    let alice = browser.page(DESKTOP.0, DESKTOP.1).await;
    alice.login(&door.base_url(), "alice", None).await;
    alice.join("lobby").await;

    let mut bob = server.guest("bob").await;
    bob.join("lobby").await;
    for n in 1..=3 {
        bob.say("lobby", &format!("before {n}")).await;
    }
    alice.say("alice before").await;
    expect_text(&mut bob, "alice before").await;
    alice.wait_message_count(4).await;

    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "graceful stop: {status}");
    alice
        .wait_for(
            "the page noticing the server is gone",
            r#"return document.querySelector('[data-test="connection-state"]').textContent.startsWith("reconnecting");"#,
        )
        .await;
    // Typed while the server is down: shown as pending, sent later.
    alice.say("typed while down 1").await;
    alice.say("typed while down 2").await;
    alice
        .wait_for(
            "two pending lines",
            r#"return document.querySelectorAll('[data-test="message-list"] .pending').length === 2;"#,
        )
        .await;

    server.restart().await;
    door.retarget(server.addr());
    let mut bob = server.guest("bob").await;
    bob.join_with("lobby", Some(4), None).await;
    // Not `say`: alice's resent lines may reach bob before his own copy.
    bob.send(&ClientFrame::Message {
        room: "lobby".into(),
        text: "after restart".into(),
        reference: None,
        reply_to: None,
        action: false,
    })
    .await;
    expect_text(&mut bob, "after restart").await;

    alice.wait_connected().await;
    let shown = alice.wait_message_count(7).await;
    assert_ids_ascending_and_unique(&shown);
    let mut seen = texts(&shown);
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            "after restart",
            "alice before",
            "before 1",
            "before 2",
            "before 3",
            "typed while down 1",
            "typed while down 2"
        ]
    );
    let down_1 = shown.iter().position(|m| m.text == "typed while down 1");
    let down_2 = shown.iter().position(|m| m.text == "typed while down 2");
    assert!(down_1 < down_2, "pending lines go out in typing order");

    // The server stored each line once: the resend was not doubled.
    let stored = stored_messages(server.db_path(), "lobby")
        .await
        .expect("the database can be read");
    let stored: Vec<&str> = stored.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(stored.len(), 7, "{stored:?}");
    for text in ["typed while down 1", "typed while down 2", "alice before"] {
        assert_eq!(
            stored.iter().filter(|t| **t == text).count(),
            1,
            "{text}: {stored:?}"
        );
    }

    // A reload restores the guest session and the room from localStorage
    // and shows the same messages, still once each.
    alice.goto(&format!("{}/", door.base_url())).await;
    alice.wait_connected().await;
    alice.wait_caught_up("lobby").await;
    let reloaded = alice.wait_message_count(7).await;
    assert_eq!(reloaded, shown);
    alice.close().await;
}

#[tokio::test]
async fn a_line_stored_whose_acknowledgement_was_lost_is_shown_and_stored_once() {
    let server = ServerProcess::start_default().await;
    let door = Forwarder::start(server.addr()).await;
    let mut browser = Browser::start().await;
    let alice = browser.page(DESKTOP.0, DESKTOP.1).await;
    alice.login(&door.base_url(), "alice", None).await;
    alice.join("lobby").await;
    let mut bob = server.guest("bob").await;
    bob.join("lobby").await;

    // The line reaches the server and is stored (bob gets it), but the
    // acknowledgement never reaches the browser, and then the connection
    // breaks.
    door.swallow_replies(true);
    alice.say("did this arrive?").await;
    expect_text(&mut bob, "did this arrive?").await;
    alice
        .wait_for(
            "the line still pending",
            r#"return document.querySelectorAll('[data-test="message-list"] .pending').length === 1;"#,
        )
        .await;
    door.swallow_replies(false);
    door.cut();

    // The catch-up brings the stored copy back (without its ref); the page
    // sends the line again with its ref, and the server answers with that
    // stored copy instead of storing it twice (exactly once, protocol 2).
    alice.wait_connected().await;
    alice.wait_caught_up("lobby").await;
    let shown = alice.wait_message_count(1).await;
    assert_eq!(texts(&shown), ["did this arrive?"]);
    let stored = stored_messages(server.db_path(), "lobby")
        .await
        .expect("the database can be read");
    assert_eq!(stored.len(), 1, "stored once: {stored:?}");
    alice.close().await;
}

#[tokio::test]
async fn markup_and_escape_sequences_show_as_text_and_run_nothing() {
    let server = ServerProcess::start_default().await;
    let page = http_get(server.addr(), "/", HTTP_TIMEOUT).await;
    assert_eq!(page.status, 200, "{}", page.raw);
    let head = page.raw.to_ascii_lowercase();
    assert!(
        head.contains("content-security-policy: default-src 'none'; script-src 'self';"),
        "{}",
        page.raw
    );
    assert!(
        head.contains("x-content-type-options: nosniff"),
        "{}",
        page.raw
    );

    let mut browser = Browser::start().await;
    let alice = browser.page(DESKTOP.0, DESKTOP.1).await;
    alice.login(&base(&server), "alice", None).await;
    alice.join("lobby").await;
    let mut mallory = server.guest("mallory").await;
    mallory.join("lobby").await;
    let image = "<img src=x onerror=\"window.pwned=1;document.title='pwned'\">";
    let script = "<script>window.pwned=2</script><b>bold?</b>";
    let escapes = "\u{1b}[31mred\u{1b}[0m \u{1b}]0;title\u{7} \u{9b}2J \u{202e}desrever";
    for text in [image, script, escapes] {
        mallory.say("lobby", text).await;
    }
    let shown = alice.wait_message_count(3).await;
    assert_eq!(texts(&shown)[..2], [image, script]);
    assert_eq!(
        shown[2].text,
        "\u{241b}[31mred\u{241b}[0m \u{241b}]0;title\u{2407} \\x9b2J <U+202E>desrever",
        "control characters are shown as visible symbols"
    );
    let effects = alice
        .eval(
            r#"const list = document.querySelector('[data-test="message-list"]');
               return [typeof window.pwned, document.title,
                       list.querySelectorAll('img, script, b').length];"#,
        )
        .await;
    assert_eq!(effects, json!(["undefined", "chat", 0]));

    // The other way: markup typed in the browser reaches a terminal client
    // exactly as typed.
    alice.say(image).await;
    let relayed = expect_text(&mut mallory, image).await;
    assert_eq!(relayed.user, "alice");
    alice.close().await;
}

#[tokio::test]
async fn a_terminal_client_and_a_browser_see_each_other_and_older_pages_load() {
    let server = ServerProcess::start(ServerOptions::unthrottled()).await;
    let mut carol = server.guest("carol").await;
    carol.join("lobby").await;
    carol
        .say_all(&message_burst("lobby", 80, |n| format!("backlog {n}")))
        .await;

    let mut browser = Browser::start().await;
    let dave = browser.page(DESKTOP.0, DESKTOP.1).await;
    dave.login(&base(&server), "dave", None).await;
    dave.join("lobby").await;
    carol.expect_join("lobby", "dave").await;
    // The newest page first; scrolling to the top loads the older ones.
    let newest = dave.wait_message_count(50).await;
    assert_eq!(newest[0].text, "backlog 30");
    dave.eval("document.getElementById('history').scrollTop = 0; return null;")
        .await;
    let all = dave.wait_message_count(80).await;
    assert_ids_ascending_and_unique(&all);
    let expected: Vec<String> = (0..80).map(|n| format!("backlog {n}")).collect();
    assert_eq!(texts(&all), expected);

    carol.say("lobby", "from the terminal").await;
    let shown = dave.wait_message("from the terminal").await;
    assert_eq!(shown.last().map(|m| m.user.as_str()), Some("carol"));
    dave.say("from the browser").await;
    let relayed = expect_text(&mut carol, "from the browser").await;
    assert_eq!(
        (relayed.user.as_str(), relayed.room.as_str()),
        ("dave", "lobby")
    );
    assert_eq!(dave.wait_message_count(82).await.len(), 82);
    assert_eq!(member_names(&dave).await, ["carol", "dave"]);
    dave.close().await;
}

#[tokio::test]
async fn a_browser_and_a_terminal_client_chat_over_wss_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let cert = TestCertificate::new();
    let server = ServerProcess::start(ServerOptions {
        extra_args: cert.server_args(dir.path(), "server"),
        ..ServerOptions::default()
    })
    .await;
    let origin = format!("https://{}", server.addr());
    let trust = client_config(&[&cert]);

    // The https page's policy lets it open wss:// to its own host.
    let page = https_get(server.addr(), "/", trust.clone(), HTTP_TIMEOUT).await;
    assert_eq!(page.status, 200, "{}", page.raw);
    let wss_allowed = format!("connect-src 'self' ws://{0} wss://{0};", server.addr());
    assert!(page.raw.contains(&wss_allowed), "{}", page.raw);

    // Chromium trusts exactly this certificate, by its key's pin.
    let mut browser = Browser::start().await;
    let pin = format!("--ignore-certificate-errors-spki-list={}", cert.spki_sha256);
    let alice = browser.page_with_args(DESKTOP.0, DESKTOP.1, &[pin]).await;
    alice.login(&origin, "alice", None).await;
    assert_eq!(alice.connection_state().await, "connected");
    let location = alice.eval("return location.protocol;").await;
    assert_eq!(location, json!("https:"));
    // The URL the page's WebSocket was opened with.
    let endpoint = alice
        .eval(
            r#"return document.querySelector('[data-test="connection-state"]').dataset.endpoint;"#,
        )
        .await;
    assert_eq!(endpoint, json!(format!("wss://{}/ws", server.addr())));
    alice.join("lobby").await;

    // The port speaks TLS only, so a page that is connected is on wss://.
    let mut bob = TestClient::connect_tls(&server.wss_url(), trust).await;
    bob.hello("bob", None).await;
    bob.join("lobby").await;
    alice
        .wait_for(
            "bob among lobby's members",
            "return [...document.querySelectorAll('#member-list li')].some(e => e.textContent === 'bob');",
        )
        .await;

    let sent = bob.say("lobby", "hello from wss").await;
    let shown = alice.wait_message("hello from wss").await;
    assert_eq!(
        shown,
        [Shown {
            id: sent.id,
            user: "bob".into(),
            text: "hello from wss".into(),
        }]
    );
    alice.say("and back over wss").await;
    let relayed = expect_text(&mut bob, "and back over wss").await;
    assert_eq!(relayed.user, "alice");
    let shown = alice.wait_message_count(2).await;
    assert_eq!(texts(&shown), ["hello from wss", "and back over wss"]);
    assert_eq!(shown[1].id, relayed.id, "the page shows the stored id");
    assert_ids_ascending_and_unique(&shown);
    assert_eq!(alice.connection_state().await, "connected");
    bob.close().await;
    alice.close().await;
}

/// Opens a WebSocket from the current page and reports "open" or
/// "closed CODE".
const TRY_WEBSOCKET: &str = r#"
    const [url, done] = arguments;
    const ws = new WebSocket(url);
    ws.onopen = () => { ws.close(); done("open"); };
    ws.onclose = (e) => done("closed " + e.code);
"#;

/// The HTTP status a WebSocket upgrade to `url` with this `Origin` gets.
async fn upgrade_status(url: &str, origin: Option<&str>) -> u16 {
    let mut request = url.into_client_request().expect("a WebSocket URL");
    if let Some(origin) = origin {
        let value = origin.parse().expect("an origin is a header value");
        request.headers_mut().insert("Origin", value);
    }
    match timeout(HTTP_TIMEOUT, tokio_tungstenite::connect_async(request)).await {
        Ok(Ok((_socket, response))) => response.status().as_u16(),
        Ok(Err(tungstenite::Error::Http(response))) => response.status().as_u16(),
        Ok(Err(e)) => panic!("the upgrade failed without an HTTP answer: {e}"),
        Err(_) => panic!("no answer to the upgrade within {HTTP_TIMEOUT:?}"),
    }
}

#[tokio::test]
async fn a_page_from_another_origin_cannot_open_the_websocket() {
    let site = ForeignSite::start().await;
    let server = ServerProcess::start_default().await;
    let url = server.ws_url();
    assert_eq!(upgrade_status(&url, Some(&site.origin())).await, 403);
    assert_eq!(upgrade_status(&url, Some(&base(&server))).await, 101);
    assert_eq!(upgrade_status(&url, None).await, 101);

    let mut browser = Browser::start().await;
    let page = browser.page(DESKTOP.0, DESKTOP.1).await;
    page.goto(&format!("{}/", site.origin())).await;
    let refused = page
        .client()
        .execute_async(TRY_WEBSOCKET, vec![json!(server.ws_url())])
        .await
        .expect("the script reports");
    assert_eq!(refused, json!("closed 1006"));

    // The same page may once the server lists its origin: what refused it
    // was the Origin check, nothing else.
    let listed = ServerProcess::start(ServerOptions {
        extra_args: vec!["--allow-origin".into(), site.origin()],
        ..ServerOptions::default()
    })
    .await;
    let opened = page
        .client()
        .execute_async(TRY_WEBSOCKET, vec![json!(listed.ws_url())])
        .await
        .expect("the script reports");
    assert_eq!(opened, json!("open"));
    page.close().await;
}

/// Where the layout test writes its screenshots when asked
/// (`CHAT_E2E_SCREENSHOTS=$PWD/docs cargo test -p chat-e2e --test browser layout`,
/// from the workspace root; the test runs in `tests/`).
const SCREENSHOT_DIR: &str = "CHAT_E2E_SCREENSHOTS";

#[tokio::test]
async fn the_layout_fits_a_desktop_and_a_phone() {
    let server = ServerProcess::start_default().await;
    let mut erin = server.account("erin", "erin's secret").await;
    for room in ["rust", "lobby"] {
        erin.join(room).await;
    }
    for text in [
        "morning all",
        "is anyone reviewing #42? it touches the fan-out",
        "a longer line, to show how the history wraps text that does not fit on one line of a phone screen",
    ] {
        erin.say("lobby", text).await;
    }

    let mut browser = Browser::start().await;
    let visits = [("desktop", DESKTOP, "frank"), ("phone", PHONE, "grace")];
    for (visit, (name, (width, height), user)) in visits.into_iter().enumerate() {
        let page = browser.page(width, height).await;
        page.login(&base(&server), user, Some("a secret")).await;
        page.join("rust").await;
        page.join("lobby").await;
        page.say(&format!("{user} here, on it")).await;
        // erin's three lines and one from each visitor so far.
        page.wait_message_count(4 + visit).await;
        // News in the room not on screen: an unread count and a mention.
        erin.send(&ClientFrame::Message {
            room: "rust".into(),
            text: format!("{user}: the borrow checker says no"),
            reference: None,
            reply_to: None,
            action: false,
        })
        .await;
        expect_text(&mut erin, &format!("{user}: the borrow checker says no")).await;
        page.wait_for(
            "rust with one unread mention",
            r#"const b = document.querySelector('[data-test="room-list"] [data-room="rust"]');
               return b.dataset.unread === "1" && b.querySelector('.mention') !== null;"#,
        )
        .await;
        let fits = page
            .eval(
                r#"const input = document.querySelector('[data-test="message-input"]').getBoundingClientRect();
                   const list = document.querySelector('[data-test="message-list"]').getBoundingClientRect();
                   const rooms = document.querySelector('[data-test="room-list"]').getBoundingClientRect();
                   return [document.documentElement.scrollWidth <= innerWidth,
                           input.bottom <= innerHeight && input.width > 150,
                           list.width > 300, rooms.height > 0];"#,
            )
            .await;
        assert_eq!(fits, json!([true, true, true, true]), "{name} layout");
        if let Some(dir) = std::env::var_os(SCREENSHOT_DIR) {
            let path = std::path::Path::new(&dir).join(format!("web-{name}.png"));
            std::fs::write(&path, page.screenshot().await)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        }
        // Who is here: beside the history on a desktop, behind the "N here"
        // button on a phone; either way on screen and listing erin.
        if name == "phone" {
            page.client()
                .find(fantoccini::Locator::Id("members-toggle"))
                .await
                .expect("the members button")
                .click()
                .await
                .expect("the members button can be pressed");
        }
        let members = page
            .wait_for(
                "the members on screen",
                r#"const m = document.getElementById('members').getBoundingClientRect();
                   return m.width > 0 && m.right <= innerWidth && m.bottom <= innerHeight
                     && document.getElementById('member-list').textContent;"#,
            )
            .await;
        assert!(
            members.as_str().is_some_and(|m| m.contains("erin")),
            "{name}: {members}"
        );
        page.close().await;
    }
}

/// Reads frames until the live `topic` entry with `topic` arrives.
async fn expect_topic(client: &mut TestClient, topic: &str) {
    for _ in 0..MAX_SKIPPED {
        if let ServerFrame::Topic(change) = client.recv().await
            && change.topic == topic
        {
            return;
        }
    }
    panic!(
        "{}: no topic {topic:?} among {MAX_SKIPPED} frames",
        client.label()
    );
}

#[tokio::test]
async fn the_owners_topic_shows_and_a_kick_puts_the_browser_user_out() {
    let server = ServerProcess::start_default().await;
    // alice is registered and makes the room, so she owns it.
    let mut alice = server.account("alice", "alice's secret").await;
    alice.join("lobby").await;
    let topic = "release day <b>not bold</b>";
    alice
        .send(&ClientFrame::Topic {
            room: "lobby".into(),
            topic: topic.into(),
            reference: None,
        })
        .await;
    expect_topic(&mut alice, topic).await;

    let mut browser = Browser::start().await;
    let bob = browser.page(DESKTOP.0, DESKTOP.1).await;
    bob.login(&base(&server), "bob", None).await;
    bob.join("lobby").await;
    alice.expect_join("lobby", "bob").await;
    let head = bob
        .wait_for(
            "the topic in the title bar",
            r#"const t = document.querySelector('[data-test="room-topic"]');
               return !t.hidden && t.querySelector('.topic')?.textContent && t.textContent;"#,
        )
        .await;
    assert_eq!(
        head,
        json!(format!("{topic}public · you: member")),
        "topic as text, privacy and role"
    );
    let markup = bob
        .eval(r#"return document.querySelector('[data-test="room-topic"] b') === null;"#)
        .await;
    assert_eq!(markup, json!(true), "the topic is never parsed as HTML");
    // The topic entry came in joined.history: drawn as a line, with its id.
    let shown = bob
        .wait_message(&format!("alice set the topic: {topic}"))
        .await;
    assert_eq!(shown.len(), 1, "{shown:#?}");

    // A member may not set the topic: the server's refusal is a notice.
    bob.say("/topic mine now").await;
    bob.wait_for(
        "the refused /topic as a notice",
        r#"return document.getElementById('notice').textContent
             === "topic not set: only the room's owner and ops may set it";"#,
    )
    .await;

    alice
        .send(&ClientFrame::Kick {
            room: "lobby".into(),
            subject: "bob".into(),
            reason: Some("spam".into()),
            reference: None,
        })
        .await;
    let shown = bob.wait_message("bob was kicked by alice: spam").await;
    assert_ids_ascending_and_unique(&shown);
    assert_eq!(
        texts(&shown),
        [
            format!("alice set the topic: {topic}").as_str(),
            "bob was kicked by alice: spam"
        ],
        "each entry once, in id order"
    );
    let left = bob
        .wait_for(
            "lobby marked as left, with the reason",
            r#"const b = document.querySelector('[data-test="room-list"] [data-room="lobby"]');
               const why = document.querySelector('[data-test="room-left"]');
               return b.dataset.left === "true" && !why.hidden && why.textContent;"#,
        )
        .await;
    assert_eq!(
        left,
        json!("You were kicked by alice: spam. Join it again to go back in.")
    );
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_tui_user_and_a_browser_user_see_each_others_lines() {
    use chat_e2e::tui::{TuiOptions, TuiProcess};
    let server = ServerProcess::start(ServerOptions::default()).await;
    let state = tempfile::tempdir().expect("a temporary directory");
    let mut erin = TuiProcess::spawn(&TuiOptions::new(
        "erin",
        &server.ws_url(),
        &["lobby"],
        &state.path().join("erin"),
    ));
    erin.wait_for_text("#lobby: 1 member").await;

    let mut browser = Browser::start().await;
    let frank = browser.page(DESKTOP.0, DESKTOP.1).await;
    frank.login(&base(&server), "frank", None).await;
    frank.join("lobby").await;
    erin.wait_for_text("frank joined").await;

    erin.type_line("typed in a terminal");
    let shown = frank.wait_message("typed in a terminal").await;
    assert_eq!(shown.last().map(|m| m.user.as_str()), Some("erin"));
    frank.say("typed in a browser").await;
    erin.wait_for_text("typed in a browser").await;
    assert_eq!(erin.count("typed in a browser"), 1, "shown once");
    assert_eq!(frank.wait_message_count(2).await.len(), 2);
    frank.close().await;
}
