//! Protocol 2, rooms people own, on a single SQLite node over real
//! sockets: who may set the topic, give roles, kick, ban, invite, make a
//! room private and delete it; each error code; each entry's fields; the
//! catch-up of every entry kind with `since`; a ban kept across a restart;
//! the migration of a version-1 database made by the previous release; and
//! a protocol-1 client that keeps working as before.

use std::time::Duration;

use chat_e2e::db::{
    StoredMessage, schema_version, stored_bans, stored_entry_kinds, stored_messages,
    write_version_1_database,
};
use chat_e2e::{InProcessServer, ServerOptions, ServerProcess, TestClient, start_server_with};
use chat_proto::{ClientFrame, Entry, ErrorCode, Role, ServerFrame};
use serde_json::json;

fn options() -> ServerOptions {
    ServerOptions {
        admins: vec!["root".to_owned()],
        ..ServerOptions::unthrottled()
    }
}

async fn server() -> InProcessServer {
    start_server_with(options()).await
}

/// Alice (registered) makes room `r` and owns it; bob (registered) joins.
async fn alice_owns_r_with_bob(server: &InProcessServer) -> (TestClient, TestClient) {
    let mut alice = server.account("alice", "pw-alice").await;
    let joined = alice.join("r").await;
    let details = joined.details.expect("a protocol-2 joined");
    assert_eq!(details.owner.as_deref(), Some("alice"));
    assert_eq!(details.role, Role::Owner);
    assert_eq!((details.topic.as_str(), details.private), ("", false));
    let mut bob = server.account("bob", "pw-bob").await;
    let joined = bob.join("r").await;
    assert_eq!(joined.details.expect("details").role, Role::Member);
    alice.expect_join("r", "bob").await;
    (alice, bob)
}

#[tokio::test]
async fn the_owner_and_ops_set_the_topic_and_members_may_not() {
    let server = server().await;
    let (mut alice, mut bob) = alice_owns_r_with_bob(&server).await;
    bob.send_json(json!({"type":"topic","room":"r","topic":"mine","ref":"b1"}))
        .await;
    bob.expect_refused(ErrorCode::Forbidden, "b1").await;

    alice
        .send_json(json!({"type":"topic","room":"r","topic":"release day","ref":"a1"}))
        .await;
    let Entry::Topic(own) = alice.expect_entry("topic", "alice").await else {
        unreachable!()
    };
    assert_eq!(
        (own.topic.as_str(), own.reference.as_deref()),
        ("release day", Some("a1"))
    );
    let Entry::Topic(seen) = bob.expect_entry("topic", "alice").await else {
        unreachable!()
    };
    assert_eq!((seen.id, seen.reference), (own.id, None));

    alice
        .send_json(json!({"type":"topic","room":"r","topic":"release day","ref":"a2"}))
        .await;
    alice.expect_refused(ErrorCode::Unchanged, "a2").await;
    let long = "t".repeat(501);
    alice
        .send_json(json!({"type":"topic","room":"r","topic":long,"ref":"a3"}))
        .await;
    alice.expect_refused(ErrorCode::InvalidText, "a3").await;
    alice
        .send_json(json!({"type":"topic","room":"elsewhere","topic":"x","ref":"a4"}))
        .await;
    alice.expect_refused(ErrorCode::NotInRoom, "a4").await;

    let mut carol = server.account("carol", "pw-carol").await;
    let joined = carol.join("r").await;
    assert_eq!(joined.details.expect("details").topic, "release day");
    let rooms = carol.rooms().await;
    let listed = chat_e2e::room_info(&rooms, "r").expect("r is listed");
    assert_eq!(
        (listed.topic.as_deref(), listed.private),
        (Some("release day"), Some(false))
    );
}

#[tokio::test]
async fn a_guest_made_room_has_no_owner_and_only_admins_moderate_it() {
    let server = server().await;
    let mut gus = server.guest("gus").await;
    let details = gus.join("open").await.details.expect("details");
    assert_eq!((details.owner, details.role), (None, Role::Member));
    gus.send_json(json!({"type":"topic","room":"open","topic":"hi","ref":"g1"}))
        .await;
    gus.expect_refused(ErrorCode::Forbidden, "g1").await;

    // An admin's name is never a guest's, nor made by a hello.
    let mut fake = server.connect().await;
    fake.send(&ClientFrame::Hello {
        user: "root".into(),
        password: None,
    })
    .await;
    fake.expect_error(ErrorCode::NameTaken).await;
    let mut registering = server.connect().await;
    registering
        .send(&ClientFrame::Hello {
            user: "Root".into(),
            password: Some("pw".into()),
        })
        .await;
    registering.expect_error(ErrorCode::AuthFailed).await;
}

#[tokio::test]
async fn roles_are_given_by_the_owner_and_the_room_can_be_handed_over() {
    let server = server().await;
    let (mut alice, mut bob) = alice_owns_r_with_bob(&server).await;
    bob.send_json(json!({"type":"role","room":"r","subject":"alice","role":"member","ref":"b1"}))
        .await;
    bob.expect_refused(ErrorCode::Forbidden, "b1").await;
    alice
        .send_json(json!({"type":"role","room":"r","subject":"nobody","role":"op","ref":"a1"}))
        .await;
    alice.expect_refused(ErrorCode::NotFound, "a1").await;
    alice
        .send_json(json!({"type":"role","room":"r","subject":"bob","role":"boss","ref":"a2"}))
        .await;
    alice.expect_refused(ErrorCode::BadFrame, "a2").await;
    alice
        .send_json(json!({"type":"role","room":"r","subject":"b b","role":"op","ref":"a3"}))
        .await;
    alice.expect_refused(ErrorCode::InvalidName, "a3").await;

    alice
        .send_json(json!({"type":"role","room":"r","subject":"bob","role":"op","ref":"a4"}))
        .await;
    let Entry::Role(role) = alice.expect_entry("role", "alice").await else {
        unreachable!()
    };
    assert_eq!((role.subject.as_str(), role.role), ("bob", Role::Op));
    bob.expect_entry("role", "alice").await;
    alice
        .send_json(json!({"type":"role","room":"r","subject":"bob","role":"op","ref":"a5"}))
        .await;
    alice.expect_refused(ErrorCode::Unchanged, "a5").await;
    // An op sets the topic, but gives no roles.
    bob.send_json(json!({"type":"topic","room":"r","topic":"by bob","ref":"b2"}))
        .await;
    bob.expect_entry("topic", "bob").await;
    alice.expect_entry("topic", "bob").await;

    alice
        .send_json(json!({"type":"role","room":"r","subject":"bob","role":"owner","ref":"a6"}))
        .await;
    alice.expect_entry("role", "alice").await;
    bob.expect_entry("role", "alice").await;
    let details = bob.join("r").await.details.expect("details");
    assert_eq!(
        (details.owner.as_deref(), details.role),
        (Some("bob"), Role::Owner)
    );
    assert_eq!(details.ops, ["alice"], "the old owner is an op");
    alice
        .send_json(json!({"type":"role","room":"r","subject":"bob","role":"member","ref":"a7"}))
        .await;
    alice.expect_refused(ErrorCode::Forbidden, "a7").await;
}

#[tokio::test]
async fn a_kick_reaches_and_removes_every_connection_of_the_subject() {
    let server = server().await;
    let (mut alice, mut bob) = alice_owns_r_with_bob(&server).await;
    let mut bob2 = server.account("bob", "pw-bob").await;
    bob2.join("r").await;
    let mut bob3 = server.account("bob", "pw-bob").await;
    bob3.join("r").await;
    let mut carol = server.account("carol", "pw-carol").await;
    carol.join("r").await;
    alice.expect_join("r", "carol").await;
    for b in [&mut bob, &mut bob2, &mut bob3] {
        b.expect_join("r", "carol").await;
    }
    carol
        .send_json(json!({"type":"kick","room":"r","subject":"bob","ref":"c1"}))
        .await;
    carol.expect_refused(ErrorCode::Forbidden, "c1").await;
    alice
        .send_json(json!({"type":"kick","room":"r","subject":"bob","reason":"spam","ref":"k1"}))
        .await;
    let Entry::Kick(kick) = alice.expect_entry("kick", "alice").await else {
        unreachable!()
    };
    assert_eq!(
        (kick.subject.as_str(), kick.reason.as_deref()),
        ("bob", Some("spam"))
    );
    alice.expect_leave("r", "bob").await;
    carol.expect_entry("kick", "alice").await;
    carol.expect_leave("r", "bob").await;
    for b in [&mut bob, &mut bob2, &mut bob3] {
        b.expect_entry("kick", "alice").await;
        b.send(&ClientFrame::message("r", "still here?", Some("m".into())))
            .await;
        let error = b.expect_error(ErrorCode::NotInRoom).await;
        assert_eq!(error.reference.as_deref(), Some("m"));
    }
    alice
        .send_json(json!({"type":"kick","room":"r","subject":"bob","ref":"k2"}))
        .await;
    alice.expect_refused(ErrorCode::Unchanged, "k2").await;
    // Not banned: bob may come back.
    bob.join("r").await;
    alice.expect_join("r", "bob").await;
}

#[tokio::test]
async fn a_ban_holds_across_a_restart_until_unban() {
    let mut server = ServerProcess::start(options()).await;
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("r").await;
    let mut bob = server.account("bob", "pw-bob").await;
    bob.join("r").await;
    alice.expect_join("r", "bob").await;
    alice
        .send_json(json!({"type":"ban","room":"r","subject":"bob","ref":"x1"}))
        .await;
    let Entry::Ban(ban) = alice.expect_entry("ban", "alice").await else {
        unreachable!()
    };
    assert_eq!((ban.subject.as_str(), ban.reason), ("bob", None));
    alice.expect_leave("r", "bob").await;
    bob.expect_entry("ban", "alice").await;
    bob.send_json(json!({"type":"join","room":"r"})).await;
    bob.expect_error(ErrorCode::Forbidden).await;
    alice
        .send_json(json!({"type":"ban","room":"r","subject":"bob","ref":"x2"}))
        .await;
    alice.expect_refused(ErrorCode::Unchanged, "x2").await;
    assert_eq!(stored_bans(server.db_path(), "r").await.unwrap(), ["bob"]);
    drop((alice, bob));

    server.restart().await;
    let mut bob = server.account("bob", "pw-bob").await;
    bob.send_json(json!({"type":"join","room":"r"})).await;
    bob.expect_error(ErrorCode::Forbidden).await;
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("r").await;
    alice
        .send_json(json!({"type":"unban","room":"r","subject":"bob","ref":"u1"}))
        .await;
    alice.expect_entry("unban", "alice").await;
    alice
        .send_json(json!({"type":"unban","room":"r","subject":"bob","ref":"u2"}))
        .await;
    alice.expect_refused(ErrorCode::Unchanged, "u2").await;
    bob.join("r").await;
}

#[tokio::test]
async fn catch_up_with_since_brings_every_entry_kind_once_in_order() {
    let server = server().await;
    let (mut alice, mut bob) = alice_owns_r_with_bob(&server).await;
    let mark = bob.say("r", "before").await.id;
    alice.expect_message().await;
    let mut carol = server.account("carol", "pw-carol").await;
    carol.join("lobby").await;
    let steps = [
        json!({"type":"topic","room":"r","topic":"t"}),
        json!({"type":"role","room":"r","subject":"carol","role":"op"}),
        json!({"type":"invite","room":"r","subject":"carol"}),
        json!({"type":"settings","room":"r","private":true}),
        json!({"type":"kick","room":"r","subject":"bob","reason":"r1"}),
        json!({"type":"ban","room":"r","subject":"dave"}),
        json!({"type":"unban","room":"r","subject":"dave"}),
    ];
    for step in steps {
        alice.send_json(step).await;
    }
    let kinds = [
        "topic", "role", "invite", "settings", "kick", "ban", "unban",
    ];
    for kind in kinds {
        alice.expect_entry(kind, "alice").await;
        if kind == "kick" {
            alice.expect_leave("r", "bob").await;
        }
    }
    alice.say("r", "after").await;
    // The invitation reached carol in the lobby.
    carol.expect_entry("invite", "alice").await;
    // Carol, an op now, catches up; bob, kicked, is off the private list.
    let joined = carol.join_with("r", Some(mark), None).await;
    let got: Vec<&str> = joined.entries.iter().map(Entry::kind).collect();
    assert_eq!(got, [&kinds[..], &["message"]].concat());
    let ids: Vec<u64> = joined.entries.iter().map(Entry::id).collect();
    assert_eq!(ids, ((mark + 1)..=(mark + 8)).collect::<Vec<_>>());
    assert_eq!(joined.last_id, mark + 8);
    let Entry::Settings(settings) = &joined.entries[3] else {
        panic!("settings")
    };
    assert!(settings.private);
    let stored = stored_entry_kinds(server.db_path(), "r").await.unwrap();
    let stored: Vec<i64> = stored.into_iter().map(|(_, kind)| kind).collect();
    assert_eq!(stored, [0, 5, 6, 10, 11, 7, 8, 9, 0]);
}

#[tokio::test]
async fn a_private_room_is_listed_and_joined_only_by_its_list() {
    let server = server().await;
    let (mut alice, mut bob) = alice_owns_r_with_bob(&server).await;
    let mut gus = server.guest("gus").await;
    gus.join("r").await;
    alice.expect_join("r", "gus").await;
    bob.expect_join("r", "gus").await;
    bob.send_json(json!({"type":"settings","room":"r","private":true,"ref":"b1"}))
        .await;
    bob.expect_refused(ErrorCode::Forbidden, "b1").await;
    alice
        .send_json(json!({"type":"settings","room":"r","private":true,"ref":"s1"}))
        .await;
    alice.expect_entry("settings", "alice").await;
    alice
        .send_json(json!({"type":"settings","room":"r","private":true,"ref":"s2"}))
        .await;
    alice.expect_refused(ErrorCode::Unchanged, "s2").await;
    // Guests present then stay until they leave.
    gus.expect_entry("settings", "alice").await;
    gus.say("r", "still here").await;
    alice.expect_message().await;
    // Roles and access are for registered users: a guest here is refused.
    alice
        .send_json(json!({"type":"invite","room":"r","subject":"gus","ref":"g"}))
        .await;
    alice.expect_refused(ErrorCode::Forbidden, "g").await;

    let mut carol = server.account("carol", "pw-carol").await;
    assert!(chat_e2e::room_info(&carol.rooms().await, "r").is_none());
    carol.send_json(json!({"type":"join","room":"r"})).await;
    carol.expect_error(ErrorCode::Forbidden).await;
    // Bob was in the room when it became private: he is on the list.
    let mut bob_again = server.account("bob", "pw-bob").await;
    assert!(chat_e2e::room_info(&bob_again.rooms().await, "r").is_some());
    bob_again.join("r").await;
    // Guests are never on the list.
    let mut gwen = server.guest("gwen").await;
    gwen.send_json(json!({"type":"join","room":"r"})).await;
    gwen.expect_error(ErrorCode::Forbidden).await;

    alice
        .send_json(json!({"type":"invite","room":"r","subject":"nobody","ref":"i0"}))
        .await;
    alice.expect_refused(ErrorCode::NotFound, "i0").await;
    alice
        .send_json(json!({"type":"invite","room":"r","subject":"carol","ref":"i1"}))
        .await;
    let Entry::Invite(invite) = alice.expect_entry("invite", "alice").await else {
        unreachable!()
    };
    assert_eq!(invite.subject, "carol");
    // Carol is in no room: the invitation reaches her all the same.
    let Entry::Invite(seen) = carol.expect_entry("invite", "alice").await else {
        unreachable!()
    };
    assert_eq!((seen.id, seen.reference), (invite.id, None));
    alice
        .send_json(json!({"type":"invite","room":"r","subject":"carol","ref":"i2"}))
        .await;
    alice.expect_refused(ErrorCode::Unchanged, "i2").await;
    let listed = carol.rooms().await;
    assert_eq!(
        chat_e2e::room_info(&listed, "r").and_then(|r| r.private),
        Some(true)
    );
    let details = carol.join("r").await.details.expect("details");
    assert!(details.private);
}

#[tokio::test]
async fn a_deleted_room_is_erased_and_made_again_above_its_old_ids() {
    let server = server().await;
    let (mut alice, mut bob) = alice_owns_r_with_bob(&server).await;
    bob.say("r", "one").await;
    alice.expect_message().await;
    bob.send_json(json!({"type":"delete_room","room":"r","ref":"b1"}))
        .await;
    bob.expect_refused(ErrorCode::Forbidden, "b1").await;
    alice
        .send_json(json!({"type":"ban","room":"r","subject":"carol"}))
        .await;
    alice.expect_entry("ban", "alice").await;
    bob.expect_entry("ban", "alice").await;
    alice
        .send_json(json!({"type":"delete_room","room":"r","ref":"d1"}))
        .await;
    for client in [&mut alice, &mut bob] {
        let frame = client
            .expect("room_deleted", |f| {
                matches!(f, ServerFrame::RoomDeleted { room, user, .. } if room == "r" && user == "alice")
            })
            .await;
        drop(frame);
        client
            .send(&ClientFrame::message("r", "gone?", Some("g".into())))
            .await;
        client.expect_error(ErrorCode::NotInRoom).await;
    }
    assert!(
        stored_entry_kinds(server.db_path(), "r")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(chat_e2e::room_info(&alice.rooms().await, "r").is_none());

    // Made again: a new room, owned by its new maker, without the ban,
    // whose ids continue above the old ones (3 closed the old room).
    let joined = bob.join("r").await;
    assert_eq!((joined.last_id, joined.entries.len()), (3, 0));
    let details = joined.details.expect("details");
    assert_eq!(
        (details.owner.as_deref(), details.topic.as_str()),
        (Some("bob"), "")
    );
    let mut carol = server.account("carol", "pw-carol").await;
    carol.join("r").await;
    bob.expect_join("r", "carol").await;
    assert_eq!(bob.say("r", "again").await.id, 4);
}

#[tokio::test]
async fn a_protocol_1_client_sees_what_it_always_saw() {
    let server = server().await;
    let mut old = server.guest("old").await;
    let joined = old.join("p1").await;
    assert!(joined.history.is_empty());
    let sent = old.say("p1", "plain").await;
    assert_eq!((sent.id, sent.reply_to, sent.action), (1, None, false));
    let mut again = server.guest("again").await;
    let joined = again.join_with("p1", Some(0), None).await;
    assert_eq!(chat_e2e::ids(&joined.history), [1]);
    assert_eq!(
        joined.entries.len(),
        1,
        "a room of messages holds nothing else"
    );
    let (page, more) = again.history("p1", None, None, None).await;
    assert_eq!((chat_e2e::ids(&page), more), (vec![1], false));
}

#[tokio::test]
async fn a_version_1_database_keeps_every_message_and_id() {
    // A file as the first release wrote it: five messages in `old`, and
    // alice's account (its hash made by today's `user add` elsewhere).
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let accounts_db = scratch.path().join("accounts.sqlite3");
    user_command(&accounts_db, &["add", "alice"], "pw-alice\n").await;
    let hash = chat_e2e::db::stored_account(&accounts_db, "alice")
        .await
        .expect("the accounts file reads")
        .expect("alice was added")
        .password_hash;
    let before: Vec<StoredMessage> = (1..=5)
        .map(|id| StoredMessage {
            room: "old".into(),
            id,
            user: "alice".into(),
            text: format!("m{id}"),
            ts: 1_700_000_000_000 + id,
        })
        .collect();
    let v1 = scratch.path().join("v1.sqlite3");
    write_version_1_database(&v1, before.clone(), vec![("alice".into(), hash)])
        .await
        .expect("the version-1 file is written");
    assert_eq!(schema_version(&v1).await.unwrap(), 1);

    let mut server = ServerProcess::start_on_copy(ServerOptions::unthrottled(), &v1).await;
    assert_eq!(schema_version(server.db_path()).await.unwrap(), 9);
    let after = stored_messages(server.db_path(), "old").await.unwrap();
    assert_eq!(after, before);
    let mut alice = server.account("alice", "pw-alice").await;
    let joined = alice.join("old").await;
    assert_eq!(chat_e2e::ids(&joined.history), [1, 2, 3, 4, 5]);
    assert_eq!(
        joined.details.expect("details").owner,
        None,
        "v1 rooms have no owner"
    );
    assert_eq!(alice.say("old", "new").await.id, 6);
    tokio::time::timeout(Duration::from_secs(5), alice.close())
        .await
        .expect("closes");
    server.restart().await;
    let mut bob = server.guest("bob").await;
    assert_eq!(
        chat_e2e::ids(&bob.join("old").await.history),
        [1, 2, 3, 4, 5, 6]
    );
}

/// Runs `chat-server user ARGS --db DB` with `stdin` as its input; returns
/// its standard output, failing the test when it fails.
async fn user_command(db: &std::path::Path, args: &[&str], stdin: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let mut child =
        tokio::process::Command::new(chat_e2e::process::workspace_binary("chat-server"))
            .arg("user")
            .args(args)
            .arg("--db")
            .arg(db)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("chat-server runs");
    let mut input = child.stdin.take().expect("a piped stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("stdin takes the password");
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the command ends")
        .expect("its output is read");
    assert!(
        output.status.success(),
        "chat-server user {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn the_operator_makes_an_admin_who_moderates_every_room() {
    let mut server = ServerProcess::start(options()).await;
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("r").await;
    alice
        .send_json(json!({"type":"settings","room":"r","private":true}))
        .await;
    alice.expect_entry("settings", "alice").await;
    drop(alice);
    server.sigterm();
    assert!(server.wait_exit(Duration::from_secs(10)).await.success());

    let db = server.db_path().to_owned();
    assert!(
        user_command(&db, &["add", "root"], "root-pw\n")
            .await
            .contains("root")
    );
    user_command(&db, &["add", "temp"], "temp-pw\n").await;
    user_command(&db, &["passwd", "temp"], "new-pw\n").await;
    assert_eq!(
        user_command(&db, &["list"], "").await,
        "alice\nroot\ntemp\n"
    );
    user_command(&db, &["remove", "temp"], "").await;
    assert_eq!(user_command(&db, &["list"], "").await, "alice\nroot\n");

    server.restart().await;
    let mut root = server.connect().await;
    root.send(&ClientFrame::Hello {
        user: "root".into(),
        password: Some("root-pw".into()),
    })
    .await;
    let frame = root
        .expect("an admin's welcome", |f| {
            matches!(f, ServerFrame::Welcome { admin: true, .. })
        })
        .await;
    drop(frame);
    root.label_as("root");
    // Private, and not on its list: an admin enters anyway, and acts.
    root.join("r").await;
    root.send_json(json!({"type":"topic","room":"r","topic":"by root","ref":"t"}))
        .await;
    root.expect_entry("topic", "root").await;
    let mut alice = server.account("alice", "pw-alice").await;
    alice.join("r").await;
    root.expect_join("r", "alice").await;
    root.send_json(json!({"type":"kick","room":"r","subject":"alice","ref":"k"}))
        .await;
    root.expect_entry("kick", "root").await;
    alice.expect_entry("kick", "root").await;
}
