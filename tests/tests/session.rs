//! Sessions: `hello` as a guest, as a new or returning account, refusals
//! (wrong password, protected name, name taken, accounts required) and the
//! frames that are out of place before or after `hello`.

use chat_e2e::{ServerOptions, start_server, start_server_with};
use chat_proto::{ClientFrame, ErrorCode};

#[tokio::test]
async fn a_guest_gets_a_guest_welcome() {
    let server = start_server().await;
    let mut client = server.connect().await;
    let welcome = client.hello("gus", None).await;
    assert!(welcome.guest, "{welcome:?}");
    assert!(!welcome.registered, "{welcome:?}");
    assert_eq!(welcome.protocol, chat_proto::limits::PROTOCOL_2);
    assert!(
        welcome.server.starts_with("chat-server"),
        "server names itself: {welcome:?}"
    );
    client.barrier().await;
}

#[tokio::test]
async fn a_new_account_is_registered_and_can_then_log_in_again_alongside() {
    let server = start_server().await;
    let mut first = server.connect().await;
    let welcome = first.hello("alice", Some("correct horse")).await;
    assert!(
        welcome.registered,
        "a new name with a password registers: {welcome:?}"
    );
    assert!(!welcome.guest, "{welcome:?}");

    // A registered user may be connected several times at once.
    let mut second = server.connect().await;
    let welcome = second.hello("alice", Some("correct horse")).await;
    assert!(
        !welcome.registered,
        "logging in does not register again: {welcome:?}"
    );
    assert!(!welcome.guest, "{welcome:?}");

    first.barrier().await;
    second.barrier().await;
}

#[tokio::test]
async fn a_wrong_password_is_auth_failed_and_closes_with_1008() {
    let server = start_server().await;
    let mut owner = server.account("alice", "correct horse").await;

    let mut intruder = server.connect().await;
    intruder
        .send(&ClientFrame::Hello {
            user: "alice".into(),
            password: Some("battery staple".into()),
        })
        .await;
    intruder.expect_error(ErrorCode::AuthFailed).await;
    intruder.expect_close(1008).await;

    owner.barrier().await;
}

#[tokio::test]
async fn a_registered_name_without_password_is_protected() {
    let server = start_server().await;
    // Register, then go away: the name stays protected while nobody uses it.
    server.account("alice", "correct horse").await.close().await;

    let mut impostor = server.connect().await;
    impostor
        .send(&ClientFrame::Hello {
            user: "alice".into(),
            password: None,
        })
        .await;
    impostor.expect_error(ErrorCode::AuthFailed).await;
    impostor.expect_close(1008).await;
}

#[tokio::test]
async fn a_second_live_guest_with_the_same_name_is_name_taken() {
    let server = start_server().await;
    let mut first = server.guest("gus").await;

    let mut second = server.connect().await;
    second
        .send(&ClientFrame::Hello {
            user: "gus".into(),
            password: None,
        })
        .await;
    second.expect_error(ErrorCode::NameTaken).await;
    second.expect_close(1008).await;

    // The first guest is untouched.
    first.join("lobby").await;
}

#[tokio::test]
async fn require_accounts_refuses_guests_but_registers_accounts() {
    let server = start_server_with(ServerOptions {
        require_accounts: true,
        ..ServerOptions::default()
    })
    .await;

    let mut guest = server.connect().await;
    guest
        .send(&ClientFrame::Hello {
            user: "gus".into(),
            password: None,
        })
        .await;
    guest.expect_error(ErrorCode::AuthRequired).await;
    guest.expect_close(1008).await;

    let mut member = server.connect().await;
    let welcome = member.hello("alice", Some("correct horse")).await;
    assert!(welcome.registered && !welcome.guest, "{welcome:?}");
    member.join("lobby").await;
}

#[tokio::test]
async fn frames_before_hello_are_not_authenticated_and_hello_still_works() {
    let server = start_server().await;
    let mut client = server.connect().await;
    let early = [
        ClientFrame::rooms(),
        ClientFrame::Join {
            room: "lobby".into(),
            since: None,
            limit: None,
        },
        ClientFrame::History {
            room: "lobby".into(),
            before: None,
            after: None,
            limit: None,
        },
        ClientFrame::Leave {
            room: "lobby".into(),
        },
    ];
    for frame in &early {
        client.send(frame).await;
        client.expect_error(ErrorCode::NotAuthenticated).await;
    }
    client
        .send(&ClientFrame::Message {
            room: "lobby".into(),
            text: "hi".into(),
            reference: Some("early-1".into()),
            reply_to: None,
            action: false,
        })
        .await;
    let error = client.expect_error(ErrorCode::NotAuthenticated).await;
    assert_eq!(error.reference.as_deref(), Some("early-1"), "ref echoed");

    client.hello("gus", None).await;
    let joined = client.join("lobby").await;
    assert_eq!(joined.members, ["gus"]);
}

#[tokio::test]
async fn a_second_hello_is_already_authenticated_and_the_session_goes_on() {
    let server = start_server().await;
    let mut client = server.guest("gus").await;
    client
        .send(&ClientFrame::Hello {
            user: "other".into(),
            password: None,
        })
        .await;
    client.expect_error(ErrorCode::AlreadyAuthenticated).await;
    client
        .send(&ClientFrame::Hello {
            user: "gus".into(),
            password: None,
        })
        .await;
    client.expect_error(ErrorCode::AlreadyAuthenticated).await;

    // Still the same session, under the first name.
    client.join("lobby").await;
    let ack = client.say("lobby", "still me").await;
    assert_eq!(ack.user, "gus");
}

#[tokio::test]
async fn an_invalid_user_name_is_invalid_name_and_a_valid_hello_follows() {
    let server = start_server().await;
    let mut client = server.connect().await;
    let too_long = "x".repeat(33);
    for bad in [
        "",
        ".alice",
        "-alice",
        "al ice",
        "alicé",
        "a/b",
        too_long.as_str(),
    ] {
        client
            .send(&ClientFrame::Hello {
                user: bad.to_owned(),
                password: None,
            })
            .await;
        let error = client.expect_error(ErrorCode::InvalidName).await;
        assert!(!error.message.is_empty(), "{bad:?}");
    }
    // Names at the edges of the rules are fine.
    let longest = "_".to_owned() + &"x".repeat(31);
    let welcome = client.hello(&longest, None).await;
    assert!(welcome.guest);
    let mut digit = server.connect().await;
    digit.hello("9lives.a-b", None).await;
}

#[tokio::test]
async fn hello_with_a_password_for_a_live_guest_name_does_not_take_it_over() {
    let server = start_server().await;
    let mut guest = server.guest("gus").await;
    guest.join("lobby").await;

    // The name is not registered, so a password would register it; the
    // live guest session using it must keep working whatever the answer.
    let mut other = server.connect().await;
    other
        .send(&ClientFrame::Hello {
            user: "gus".into(),
            password: Some("pw".into()),
        })
        .await;
    let answer = other.recv().await;
    match &answer {
        chat_proto::ServerFrame::Welcome { .. } => {}
        chat_proto::ServerFrame::Error { code, .. } => {
            assert_eq!(*code, ErrorCode::NameTaken, "{answer:?}");
            other.expect_close(1008).await;
        }
        other => panic!("expected welcome or name_taken, got {other:?}"),
    }
    let ack = guest.say("lobby", "still here").await;
    assert_eq!(ack.user, "gus");
}

#[tokio::test]
async fn a_guest_name_is_free_again_once_its_session_has_closed() {
    let server = start_server().await;
    let mut watcher = server.guest("watcher").await;
    watcher.join("lobby").await;
    for round in 0..5 {
        let mut gus = server.guest("gus").await;
        gus.join("lobby").await;
        watcher.expect_join("lobby", "gus").await;
        // close() returns once the server has answered the close and
        // ended the connection: the session is over.
        gus.close().await;
        watcher.expect_leave("lobby", "gus").await;
        let mut again = server.connect().await;
        again
            .send(&ClientFrame::Hello {
                user: "gus".into(),
                password: None,
            })
            .await;
        let answer = again.recv().await;
        assert!(
            matches!(answer, chat_proto::ServerFrame::Welcome { .. }),
            "round {round}: the name of a closed guest session is still taken: {answer:?}"
        );
        again.close().await;
    }
}

#[tokio::test]
async fn an_empty_password_is_auth_failed() {
    // Project choice (docs/protocol.md): "" never registers an account.
    let server = start_server().await;
    let mut client = server.connect().await;
    client
        .send(&ClientFrame::Hello {
            user: "alice".into(),
            password: Some(String::new()),
        })
        .await;
    client.expect_error(ErrorCode::AuthFailed).await;
    client.expect_close(1008).await;
    // Nothing was registered: the name is still free for a guest.
    let welcome = server.connect().await.hello("alice", None).await;
    assert!(welcome.guest);
}
