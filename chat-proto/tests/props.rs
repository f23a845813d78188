//! Property tests: the decoder never panics on any input, and every frame
//! the encoder writes decodes back to itself.

use std::collections::BTreeMap;

use chat_proto::limits::PROTOCOL_VERSION;
use chat_proto::{
    Admittance, ClientFrame, Delete, Edit, Entry, ErrorCode, Message, Reaction, Removal, Role,
    RoleChange, RoomDetails, RoomInfo, ServerFrame, SettingsChange, TopicChange, decode_client,
    decode_client_request, decode_server, encode,
};
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("hello"),
            Just("join"),
            Just("message"),
            Just("leave"),
            Just("history"),
            Just("rooms"),
            Just("welcome"),
            Just("error"),
            Just("edit"),
            Just("react"),
            Just("role"),
            Just("kick"),
            Just("search"),
            Just("joined")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_owned()),
                    Just("room".to_owned()),
                    Just("user".to_owned()),
                    Just("text".to_owned()),
                    Just("ref".to_owned()),
                    Just("since".to_owned()),
                    Just("limit".to_owned()),
                    Just("before".to_owned()),
                    Just("after".to_owned()),
                    Just("target".to_owned()),
                    Just("history".to_owned()),
                    Just("role".to_owned()),
                    Just("reply_to".to_owned()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..7
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn opt_u64() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(any::<u64>())
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        (".*", prop::option::of(".*"))
            .prop_map(|(user, password)| ClientFrame::Hello { user, password }),
        (".*", opt_u64(), prop::option::of(any::<u32>()))
            .prop_map(|(room, since, limit)| ClientFrame::Join { room, since, limit }),
        (".*", ".*", opt_text(), opt_u64(), any::<bool>()).prop_map(
            |(room, text, reference, reply_to, action)| ClientFrame::Message {
                room,
                text,
                reference,
                reply_to,
                action,
            }
        ),
        ".*".prop_map(|room| ClientFrame::Leave { room }),
        (".*", opt_u64(), opt_u64(), prop::option::of(any::<u32>())).prop_map(
            |(room, before, after, limit)| ClientFrame::History {
                room,
                before,
                after,
                limit
            }
        ),
        (
            any::<bool>(),
            opt_text(),
            prop::option::of(any::<u32>()),
            opt_text()
        )
            .prop_map(|(mine, query, limit, after)| ClientFrame::Rooms {
                mine,
                query,
                limit,
                after,
            }),
    ]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(".*")
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Member), Just(Role::Op), Just(Role::Owner)]
}

/// Every protocol-2 client frame, with arbitrary field values.
fn protocol_2_client_frame() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        (".*", any::<u64>(), ".*", opt_text()).prop_map(|(room, target, text, reference)| {
            ClientFrame::Edit {
                room,
                target,
                text,
                reference,
            }
        }),
        (".*", any::<u64>(), opt_text()).prop_map(|(room, target, reference)| {
            ClientFrame::Delete {
                room,
                target,
                reference,
            }
        }),
        (".*", any::<u64>(), ".*", opt_text(), any::<bool>()).prop_map(
            |(room, target, emoji, reference, undo)| if undo {
                ClientFrame::Unreact {
                    room,
                    target,
                    emoji,
                    reference,
                }
            } else {
                ClientFrame::React {
                    room,
                    target,
                    emoji,
                    reference,
                }
            }
        ),
        (".*", ".*", opt_text()).prop_map(|(room, topic, reference)| ClientFrame::Topic {
            room,
            topic,
            reference
        }),
        (".*", ".*", role(), opt_text()).prop_map(|(room, subject, role, reference)| {
            ClientFrame::Role {
                room,
                subject,
                role,
                reference,
            }
        }),
        (".*", ".*", opt_text(), opt_text(), any::<bool>()).prop_map(
            |(room, subject, reason, reference, ban)| if ban {
                ClientFrame::Ban {
                    room,
                    subject,
                    reason,
                    reference,
                }
            } else {
                ClientFrame::Kick {
                    room,
                    subject,
                    reason,
                    reference,
                }
            }
        ),
        (".*", ".*", opt_text(), any::<bool>()).prop_map(|(room, subject, reference, invite)| {
            if invite {
                ClientFrame::Invite {
                    room,
                    subject,
                    reference,
                }
            } else {
                ClientFrame::Unban {
                    room,
                    subject,
                    reference,
                }
            }
        }),
        (".*", any::<bool>(), opt_text()).prop_map(|(room, private, reference)| {
            ClientFrame::Settings {
                room,
                private,
                reference,
            }
        }),
        (".*", opt_text())
            .prop_map(|(room, reference)| ClientFrame::DeleteRoom { room, reference }),
        (".*", any::<u64>(), opt_text()).prop_map(|(room, id, reference)| ClientFrame::Read {
            room,
            id,
            reference
        }),
        (".*", opt_text()).prop_map(|(room, reference)| ClientFrame::Typing { room, reference }),
        (
            ".*",
            opt_text(),
            prop::option::of(any::<u32>()),
            opt_u64(),
            prop::option::of(any::<i64>()),
            opt_text()
        )
            .prop_map(|(query, room, limit, before, before_ts, reference)| {
                ClientFrame::Search {
                    query,
                    room,
                    limit,
                    before,
                    before_ts,
                    reference,
                }
            }),
    ]
}

/// The fields every entry has: room, id, user, ts, ref.
type Head = (String, u64, String, i64, Option<String>);

fn head() -> impl Strategy<Value = Head> {
    (".*", any::<u64>(), ".*", any::<i64>(), opt_text())
}

fn reactions() -> impl Strategy<Value = BTreeMap<String, Vec<String>>> {
    prop::collection::btree_map(".{1,4}", prop::collection::vec("[a-z]{1,5}", 1..3), 0..3)
}

fn message() -> impl Strategy<Value = Message> {
    (
        head(),
        ".*",
        opt_u64(),
        any::<bool>(),
        prop::option::of(any::<i64>()),
        any::<bool>(),
        reactions(),
    )
        .prop_map(
            |(
                (room, id, user, ts, reference),
                text,
                reply_to,
                action,
                edited,
                deleted,
                reactions,
            )| {
                Message {
                    room,
                    id,
                    user,
                    text,
                    ts,
                    reference,
                    reply_to,
                    action,
                    edited,
                    deleted,
                    reactions,
                }
            },
        )
}

/// Every kind of room-stream entry.
fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        message().prop_map(Entry::Message),
        (head(), any::<u64>(), ".*").prop_map(|((room, id, user, ts, reference), target, text)| {
            Entry::Edit(Edit {
                room,
                id,
                user,
                ts,
                reference,
                target,
                text,
            })
        }),
        (head(), any::<u64>()).prop_map(|((room, id, user, ts, reference), target)| {
            Entry::Delete(Delete {
                room,
                id,
                user,
                ts,
                reference,
                target,
            })
        }),
        (head(), any::<u64>(), ".*", any::<bool>()).prop_map(
            |((room, id, user, ts, reference), target, emoji, undo)| {
                let reaction = Reaction {
                    room,
                    id,
                    user,
                    ts,
                    reference,
                    target,
                    emoji,
                };
                if undo {
                    Entry::Unreact(reaction)
                } else {
                    Entry::React(reaction)
                }
            }
        ),
        (head(), ".*").prop_map(|((room, id, user, ts, reference), topic)| {
            Entry::Topic(TopicChange {
                room,
                id,
                user,
                ts,
                reference,
                topic,
            })
        }),
        (head(), ".*", role()).prop_map(|((room, id, user, ts, reference), subject, role)| {
            Entry::Role(RoleChange {
                room,
                id,
                user,
                ts,
                reference,
                subject,
                role,
            })
        }),
        (head(), ".*", opt_text(), any::<bool>()).prop_map(
            |((room, id, user, ts, reference), subject, reason, ban)| {
                let removal = Removal {
                    room,
                    id,
                    user,
                    ts,
                    reference,
                    subject,
                    reason,
                };
                if ban {
                    Entry::Ban(removal)
                } else {
                    Entry::Kick(removal)
                }
            }
        ),
        (head(), ".*", any::<bool>()).prop_map(
            |((room, id, user, ts, reference), subject, invite)| {
                let admittance = Admittance {
                    room,
                    id,
                    user,
                    ts,
                    reference,
                    subject,
                };
                if invite {
                    Entry::Invite(admittance)
                } else {
                    Entry::Unban(admittance)
                }
            }
        ),
        (head(), any::<bool>()).prop_map(|((room, id, user, ts, reference), private)| {
            Entry::Settings(SettingsChange {
                room,
                id,
                user,
                ts,
                reference,
                private,
            })
        }),
    ]
}

fn room_details() -> impl Strategy<Value = RoomDetails> {
    (
        ".*",
        opt_text(),
        prop::collection::vec(".*", 0..3),
        any::<bool>(),
        role(),
        any::<u64>(),
    )
        .prop_map(|(topic, owner, ops, private, role, read_id)| RoomDetails {
            topic,
            owner,
            ops,
            private,
            role,
            read_id,
        })
}

fn room_info() -> impl Strategy<Value = RoomInfo> {
    (
        ".*",
        any::<u32>(),
        any::<u64>(),
        opt_u64(),
        opt_text(),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(name, members, last_id, read_id, topic, private)| RoomInfo {
                name,
                members,
                last_id,
                read_id,
                topic,
                private,
            },
        )
}

/// The protocol-2 server frames that are not entries.
fn protocol_2_server_frame() -> impl Strategy<Value = ServerFrame> {
    prop_oneof![
        (".*", ".*", any::<i64>()).prop_map(|(room, user, ts)| ServerFrame::RoomDeleted {
            room,
            user,
            ts
        }),
        (".*", any::<u64>()).prop_map(|(room, id)| ServerFrame::Read { room, id }),
        (".*", ".*").prop_map(|(room, user)| ServerFrame::Typing { room, user }),
        (".*", prop::collection::vec(message(), 0..3), any::<bool>()).prop_map(
            |(query, messages, more)| ServerFrame::Search {
                query,
                messages,
                more
            }
        ),
        (
            error_code(),
            ".*",
            opt_text(),
            prop::option::of(any::<u64>())
        )
            .prop_map(|(code, message, reference, retry_after_ms)| {
                ServerFrame::Error {
                    code,
                    message,
                    reference,
                    retry_after_ms,
                }
            }),
    ]
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::Forbidden),
        Just(ErrorCode::NotFound),
        Just(ErrorCode::Unchanged),
        Just(ErrorCode::RateLimited),
        Just(ErrorCode::BadFrame),
    ]
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    prop_oneof![
        (
            ".*",
            any::<bool>(),
            any::<bool>(),
            any::<u32>(),
            ".*",
            any::<bool>()
        )
            .prop_map(|(user, guest, registered, protocol, server, admin)| {
                ServerFrame::Welcome {
                    user,
                    guest,
                    registered,
                    protocol,
                    server,
                    admin,
                }
            }),
        (
            ".*",
            prop::collection::vec(".*", 0..4),
            prop::collection::vec(entry(), 0..4),
            any::<bool>(),
            any::<u64>(),
            prop::option::of(room_details())
        )
            .prop_map(|(room, members, history, more, last_id, details)| {
                ServerFrame::Joined {
                    room,
                    members,
                    history,
                    more,
                    last_id,
                    details,
                }
            }),
        (".*", ".*", any::<i64>()).prop_map(|(room, user, ts)| ServerFrame::Join {
            room,
            user,
            ts
        }),
        (".*", ".*", any::<i64>()).prop_map(|(room, user, ts)| ServerFrame::Leave {
            room,
            user,
            ts
        }),
        entry().prop_map(ServerFrame::from),
        (".*", prop::collection::vec(entry(), 0..4), any::<bool>()).prop_map(
            |(room, messages, more)| ServerFrame::History {
                room,
                messages,
                more
            }
        ),
        (
            any::<bool>(),
            prop::collection::vec(room_info(), 0..4),
            any::<bool>()
        )
            .prop_map(|(mine, rooms, more)| ServerFrame::Rooms { mine, rooms, more }),
        (".*", prop::option::of(".*"), prop::option::of(any::<u64>())).prop_map(
            |(message, reference, retry_after_ms)| ServerFrame::Error {
                code: ErrorCode::Internal,
                message,
                reference,
                retry_after_ms
            }
        ),
        protocol_2_server_frame(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = decode_client(&text);
        let _ = decode_server(&text);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        let text = value.to_string();
        let client = decode_client(&text);
        let _ = decode_server(&text);
        // A refusal always names a reason.
        if let Err(e) = client {
            prop_assert!(!e.detail.is_empty());
        }
    }

    #[test]
    fn client_frames_roundtrip(frame in client_frame()) {
        prop_assert_eq!(decode_client(&encode(&frame)).unwrap(), frame);
    }

    #[test]
    fn server_frames_roundtrip(frame in server_frame()) {
        prop_assert_eq!(decode_server(&encode(&frame)).unwrap(), frame);
    }

    #[test]
    fn a_protocol_1_server_decodes_protocol_1_frames_as_before(frame in client_frame()) {
        let text = encode(&frame);
        let request = decode_client_request(&text, PROTOCOL_VERSION);
        prop_assert_eq!(request.map(|r| r.frame), decode_client(&text));
    }

    #[test]
    fn protocol_2_client_frames_roundtrip(frame in protocol_2_client_frame()) {
        prop_assert_eq!(decode_client(&encode(&frame)).unwrap(), frame);
    }

    #[test]
    fn a_protocol_1_server_takes_protocol_2_frames_as_unknown_types(
        frame in protocol_2_client_frame()
    ) {
        let text = encode(&frame);
        // Protocol 1 by number: PROTOCOL_VERSION is 2 now that the server
        // serves the room stream.
        let refused = decode_client_request(&text, 1).unwrap_err();
        prop_assert_eq!(refused.code(), ErrorCode::UnknownType);
        let usable = frame.reference().filter(|r| r.chars().count() <= 64);
        prop_assert_eq!(refused.reference.as_deref(), usable);
        prop_assert_eq!(decode_client_request(&text, 2).unwrap().frame, frame);
    }

    #[test]
    fn every_entry_roundtrips_alone_live_and_in_pages(entry in entry()) {
        let alone: Entry = serde_json::from_str(&encode(&entry)).unwrap();
        prop_assert_eq!(&alone, &entry);
        let live = decode_server(&encode(&ServerFrame::from(entry.clone()))).unwrap();
        prop_assert_eq!(Entry::try_from(live).unwrap(), entry);
    }

    #[test]
    fn a_protocol_1_reader_still_reads_every_message_a_page_holds(
        entries in prop::collection::vec(entry(), 0..6)
    ) {
        // What a protocol-1 client decoded pages into: messages with the
        // protocol-1 fields, ignoring the others.
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct V1Message { room: String, id: u64, user: String, text: String, ts: i64 }
        #[derive(serde::Deserialize)]
        struct V1History { messages: Vec<serde_json::Value> }
        let frame = ServerFrame::History { room: "r".into(), messages: entries.clone(), more: false };
        let page: V1History = serde_json::from_str(&encode(&frame)).unwrap();
        for (value, entry) in page.messages.into_iter().zip(&entries) {
            if let Entry::Message(m) = entry {
                prop_assert!(value.get("type").is_none(), "a message is written as in protocol 1");
                let v1: V1Message = serde_json::from_value(value).unwrap();
                prop_assert_eq!(v1, V1Message {
                    room: m.room.clone(), id: m.id, user: m.user.clone(),
                    text: m.text.clone(), ts: m.ts,
                });
            } else {
                prop_assert_eq!(value.get("type").and_then(|t| t.as_str()), Some(entry.kind()));
            }
        }
    }
}
