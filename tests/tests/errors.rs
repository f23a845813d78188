//! Error answers: every non-fatal error code, the offending frame's `ref`
//! echoed, and the connection still usable afterwards (each check ends
//! with a request that succeeds).

use chat_e2e::{InProcessServer, ServerOptions, TestClient, start_server, start_server_with};
use chat_proto::{ClientFrame, ErrorCode};

/// A guest `alice` who has joined `lobby`.
async fn alice_in_lobby(server: &InProcessServer) -> TestClient {
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await;
    alice
}

#[tokio::test]
async fn malformed_frames_are_bad_frame_and_the_connection_goes_on() {
    // Many frames in a row: keep the rate limit out of this test.
    let server = start_server_with(ServerOptions::unthrottled()).await;
    let mut alice = alice_in_lobby(&server).await;
    let broken = [
        "not json",
        "{\"type\":\"rooms\"",
        "",
        "[1,2]",
        "[{\"type\":\"rooms\"}]",
        "\"rooms\"",
        "42",
        "null",
        "{}",
        "{\"room\":\"lobby\"}",
        "{\"type\":7}",
        "{\"type\":null}",
        "{\"type\":\"join\"}",
        "{\"type\":\"join\",\"room\":5}",
        "{\"type\":\"join\",\"room\":\"lobby\",\"since\":\"yesterday\"}",
        "{\"type\":\"join\",\"room\":\"lobby\",\"since\":-1}",
        "{\"type\":\"join\",\"room\":\"lobby\",\"limit\":1.5}",
        "{\"type\":\"message\",\"room\":\"lobby\"}",
        "{\"type\":\"message\",\"room\":\"lobby\",\"text\":5}",
        "{\"type\":\"message\",\"text\":\"hi\"}",
        "{\"type\":\"leave\"}",
        "{\"type\":\"history\",\"room\":\"lobby\",\"before\":\"x\"}",
        "{\"type\":\"history\",\"room\":[\"lobby\"]}",
    ];
    for text in broken {
        alice.send_raw(text).await;
        let error = alice.expect_error(ErrorCode::BadFrame).await;
        assert_eq!(error.reference, None, "{text:?} had no ref");
        alice.barrier().await;
    }
    let ack = alice.say("lobby", "still fine").await;
    assert_eq!(ack.text, "still fine");
}

#[tokio::test]
async fn a_bad_frame_echoes_its_ref() {
    let server = start_server().await;
    let mut alice = alice_in_lobby(&server).await;
    alice
        .send_raw(r#"{"type":"message","room":"lobby","ref":"c9"}"#)
        .await;
    let error = alice.expect_error(ErrorCode::BadFrame).await;
    assert_eq!(error.reference.as_deref(), Some("c9"));
    alice
        .send_raw(r#"{"type":"message","room":"lobby","text":["x"],"ref":"c10"}"#)
        .await;
    let error = alice.expect_error(ErrorCode::BadFrame).await;
    assert_eq!(error.reference.as_deref(), Some("c10"));
    alice.say("lobby", "ok").await;
}

#[tokio::test]
async fn a_binary_frame_is_bad_frame_and_the_connection_goes_on() {
    let server = start_server().await;
    let mut alice = alice_in_lobby(&server).await;
    alice.send_binary(br#"{"type":"rooms"}"#).await;
    alice.expect_error(ErrorCode::BadFrame).await;
    alice.send_binary(&[0xff, 0x00, 0x13]).await;
    alice.expect_error(ErrorCode::BadFrame).await;
    alice.barrier().await;
    alice.say("lobby", "after binary").await;
}

#[tokio::test]
async fn a_binary_frame_before_hello_does_not_end_the_connection() {
    let server = start_server().await;
    let mut client = server.connect().await;
    client.send_binary(b"\x00\x01").await;
    let answer = client.recv().await;
    assert!(
        matches!(
            &answer,
            chat_proto::ServerFrame::Error {
                code: ErrorCode::BadFrame | ErrorCode::NotAuthenticated,
                ..
            }
        ),
        "expected bad_frame (or not_authenticated), got {answer:?}"
    );
    client.hello("gus", None).await;
}

#[tokio::test]
async fn an_unknown_type_is_unknown_type_with_its_ref() {
    let server = start_server().await;
    let mut alice = alice_in_lobby(&server).await;
    alice.send_raw(r#"{"type":"dance","ref":"d1"}"#).await;
    let error = alice.expect_error(ErrorCode::UnknownType).await;
    assert_eq!(error.reference.as_deref(), Some("d1"));
    alice.send_raw(r#"{"type":"welcome","user":"alice"}"#).await;
    alice.expect_error(ErrorCode::UnknownType).await;
    alice.send_raw(r#"{"type":"ROOMS"}"#).await;
    alice.expect_error(ErrorCode::UnknownType).await;
    alice.barrier().await;
}

#[tokio::test]
async fn protocol_2_types_are_unknown_type_before_hello_and_take_no_token() {
    // One banked token: a protocol-2 frame that took one would leave the
    // join at the end refused as rate_limited.
    let server = start_server_with(ServerOptions {
        rate_limit: Some(1),
        rate_burst: Some(1),
        ..ServerOptions::default()
    })
    .await;
    let mut client = server.connect().await;
    // Well-formed or not, a type this server does not know is
    // `unknown_type`: before the hello check, with its ref.
    let newer = [
        (r#"{"type":"teleport","room":"lobby","ref":"t1"}"#, "t1"),
        (r#"{"type":"teleport","room":7,"ref":"t2"}"#, "t2"),
    ];
    for (frame, reference) in newer {
        client.send_raw(frame).await;
        let error = client.expect_error(ErrorCode::UnknownType).await;
        assert_eq!(error.reference.as_deref(), Some(reference), "{frame}");
    }
    let welcome = client.hello("alice", None).await;
    assert_eq!(welcome.protocol, chat_proto::limits::PROTOCOL_VERSION);
    for (frame, reference) in newer {
        client.send_raw(frame).await;
        let error = client.expect_error(ErrorCode::UnknownType).await;
        assert_eq!(error.reference.as_deref(), Some(reference), "{frame}");
    }
    client.join("lobby").await;
}

#[tokio::test]
async fn invalid_room_names_are_invalid_name() {
    let server = start_server().await;
    let mut alice = alice_in_lobby(&server).await;
    let too_long = "r".repeat(65);
    for bad in [
        "",
        "a b",
        "#general",
        "lobby!",
        "café",
        "a/b",
        too_long.as_str(),
    ] {
        alice
            .send(&ClientFrame::Join {
                room: bad.to_owned(),
                since: None,
                limit: None,
            })
            .await;
        alice.expect_error(ErrorCode::InvalidName).await;
    }
    let rooms = alice.barrier().await;
    assert_eq!(rooms.len(), 1, "no room was created: {rooms:?}");
    // The longest legal name works, folded.
    let longest = "R".repeat(64);
    alice.join_as(&longest, &longest.to_lowercase()).await;
}

#[tokio::test]
async fn invalid_text_is_invalid_text_with_its_ref_and_nothing_is_stored() {
    let server = start_server().await;
    let mut alice = alice_in_lobby(&server).await;
    let mut bob = server.guest("bob").await;
    bob.join("lobby").await;
    alice.expect_join("lobby", "bob").await;

    let too_long = "a".repeat(4001);
    let too_long_multibyte = "é".repeat(2000) + "a"; // 4001 bytes, 2001 chars
    for (n, bad) in [
        "",
        " ",
        " \n\t\r ",
        too_long.as_str(),
        too_long_multibyte.as_str(),
    ]
    .into_iter()
    .enumerate()
    {
        let reference = format!("t{n}");
        alice
            .send(&ClientFrame::Message {
                room: "lobby".into(),
                text: bad.to_owned(),
                reference: Some(reference.clone()),
                reply_to: None,
                action: false,
            })
            .await;
        let error = alice.expect_error(ErrorCode::InvalidText).await;
        assert_eq!(error.reference, Some(reference), "text {n}");
    }
    bob.barrier().await;
    let (history, _) = bob.history("lobby", None, None, None).await;
    assert!(history.is_empty(), "refused texts were stored: {history:?}");
    alice.say("lobby", "x").await;
    bob.expect_message().await;
}

#[tokio::test]
async fn not_in_room_for_message_leave_and_history_of_a_room_not_joined() {
    let server = start_server().await;
    let mut alice = alice_in_lobby(&server).await;
    let mut bob = server.guest("bob").await;
    bob.join("private").await;

    alice
        .send(&ClientFrame::Message {
            room: "private".into(),
            text: "let me in".into(),
            reference: Some("n1".into()),
            reply_to: None,
            action: false,
        })
        .await;
    let error = alice.expect_error(ErrorCode::NotInRoom).await;
    assert_eq!(error.reference.as_deref(), Some("n1"));
    bob.barrier().await;

    for frame in [
        ClientFrame::Leave {
            room: "private".into(),
        },
        ClientFrame::History {
            room: "private".into(),
            before: None,
            after: None,
            limit: None,
        },
        // A room that does not exist at all.
        ClientFrame::Message {
            room: "nowhere".into(),
            text: "hello?".into(),
            reference: None,
            reply_to: None,
            action: false,
        },
        ClientFrame::Leave {
            room: "nowhere".into(),
        },
        ClientFrame::History {
            room: "nowhere".into(),
            before: Some(5),
            after: None,
            limit: Some(5),
        },
    ] {
        alice.send(&frame).await;
        let error = alice.expect_error(ErrorCode::NotInRoom).await;
        assert_eq!(error.reference, None, "{frame:?}");
    }
    // Asking about a room does not create it.
    let rooms = alice.barrier().await;
    let mut names: Vec<&str> = rooms.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["lobby", "private"]);

    // After leaving, the room is closed to this session again.
    alice
        .send(&ClientFrame::Leave {
            room: "lobby".into(),
        })
        .await;
    alice.expect_leave("lobby", "alice").await;
    alice
        .send(&ClientFrame::Message {
            room: "lobby".into(),
            text: "gone".into(),
            reference: Some("n2".into()),
            reply_to: None,
            action: false,
        })
        .await;
    let error = alice.expect_error(ErrorCode::NotInRoom).await;
    assert_eq!(error.reference.as_deref(), Some("n2"));
    alice
        .send(&ClientFrame::Leave {
            room: "lobby".into(),
        })
        .await;
    alice.expect_error(ErrorCode::NotInRoom).await;
    alice.join("lobby").await;
}

#[tokio::test]
async fn history_with_both_before_and_after_is_bad_frame() {
    // A project choice (docs/protocol.md): the two directions exclude each other.
    let server = start_server().await;
    let mut alice = alice_in_lobby(&server).await;
    alice.say("lobby", "one").await;
    alice
        .send(&ClientFrame::History {
            room: "lobby".into(),
            before: Some(10),
            after: Some(0),
            limit: None,
        })
        .await;
    alice.expect_error(ErrorCode::BadFrame).await;
    let (page, more) = alice.history("lobby", None, None, None).await;
    assert_eq!((page.len(), more), (1, false));
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let server = start_server().await;
    let mut client = server.connect().await;
    client
        .send_raw(r#"{"type":"hello","user":"gus","client":"future-tui 9.0","caps":["x"]}"#)
        .await;
    let welcome = client.expect_welcome().await;
    assert_eq!(welcome.user, "gus");
    client
        .send_raw(r#"{"type":"join","room":"lobby","colour":"blue","extra":{"nested":[1,2]}}"#)
        .await;
    let answer = client.recv().await;
    assert!(
        matches!(&answer, chat_proto::ServerFrame::Joined { room, .. } if room == "lobby"),
        "an unknown field must not break a join: {answer:?}"
    );
    client.send_raw(r#"{"type":"rooms","page":2}"#).await;
    client.expect_rooms().await;
}

#[tokio::test]
async fn a_bad_room_name_in_any_frame_is_invalid_name_and_an_overlong_ref_is_bad_frame() {
    // Project choices (docs/protocol.md).
    let server = start_server().await;
    let mut alice = alice_in_lobby(&server).await;
    alice
        .send(&ClientFrame::Message {
            room: "no such room!".into(),
            text: "x".into(),
            reference: Some("m1".into()),
            reply_to: None,
            action: false,
        })
        .await;
    let error = alice.expect_error(ErrorCode::InvalidName).await;
    assert_eq!(error.reference.as_deref(), Some("m1"));
    for frame in [
        ClientFrame::Leave { room: "A B".into() },
        ClientFrame::History {
            room: "#x".into(),
            before: None,
            after: None,
            limit: None,
        },
    ] {
        alice.send(&frame).await;
        alice.expect_error(ErrorCode::InvalidName).await;
    }

    let long_ref = "r".repeat(65);
    alice
        .send(&ClientFrame::Message {
            room: "lobby".into(),
            text: "x".into(),
            reference: Some(long_ref),
            reply_to: None,
            action: false,
        })
        .await;
    let error = alice.expect_error(ErrorCode::BadFrame).await;
    assert_eq!(error.reference, None, "an overlong ref is not echoed");
    let longest_ref = "é".repeat(64);
    alice
        .send(&ClientFrame::Message {
            room: "lobby".into(),
            text: "x".into(),
            reference: Some(longest_ref.clone()),
            reply_to: None,
            action: false,
        })
        .await;
    let ack = alice.expect_message().await;
    assert_eq!(ack.reference, Some(longest_ref), "64 characters is fine");
    let (history, _) = alice.history("lobby", None, None, None).await;
    assert_eq!(history.len(), 1, "only the valid message was stored");
}

#[tokio::test]
async fn errors_about_any_frame_echo_its_ref() {
    let server = start_server().await;
    let mut alice = alice_in_lobby(&server).await;
    let cases = [
        (
            r#"{"type":"join","room":"no way","ref":"j1"}"#,
            ErrorCode::InvalidName,
            "j1",
        ),
        (
            r#"{"type":"leave","room":"elsewhere","ref":"l1"}"#,
            ErrorCode::NotInRoom,
            "l1",
        ),
        (
            r#"{"type":"history","room":"elsewhere","ref":"h1"}"#,
            ErrorCode::NotInRoom,
            "h1",
        ),
        (
            r#"{"type":"history","room":"lobby","before":5,"after":1,"ref":"h2"}"#,
            ErrorCode::BadFrame,
            "h2",
        ),
        (
            r#"{"type":"hello","user":"alice","ref":"again"}"#,
            ErrorCode::AlreadyAuthenticated,
            "again",
        ),
    ];
    for (frame, code, reference) in cases {
        alice.send_raw(frame).await;
        let error = alice.expect_error(code).await;
        assert_eq!(
            error.reference.as_deref(),
            Some(reference),
            "answer to {frame}"
        );
    }
    // A ref that is not a string is not echoed; the frame is still served.
    alice.send_raw(r#"{"type":"rooms","ref":42}"#).await;
    alice.expect_rooms().await;
}
