//! Property tests: the decoder never panics on any input, and every frame
//! the encoder writes decodes back to itself.

use chat_proto::{
    ClientFrame, ErrorCode, Message, RoomInfo, ServerFrame, decode_client, decode_server, encode,
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
            Just("error")
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
        (".*", ".*", prop::option::of(".*")).prop_map(|(room, text, reference)| {
            ClientFrame::Message {
                room,
                text,
                reference,
            }
        }),
        ".*".prop_map(|room| ClientFrame::Leave { room }),
        (".*", opt_u64(), opt_u64(), prop::option::of(any::<u32>())).prop_map(
            |(room, before, after, limit)| ClientFrame::History {
                room,
                before,
                after,
                limit
            }
        ),
        Just(ClientFrame::Rooms),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        ".*",
        any::<u64>(),
        ".*",
        ".*",
        any::<i64>(),
        prop::option::of(".*"),
    )
        .prop_map(|(room, id, user, text, ts, reference)| Message {
            room,
            id,
            user,
            text,
            ts,
            reference,
        })
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    prop_oneof![
        (".*", any::<bool>(), any::<bool>(), any::<u32>(), ".*").prop_map(
            |(user, guest, registered, protocol, server)| ServerFrame::Welcome {
                user,
                guest,
                registered,
                protocol,
                server
            }
        ),
        (
            ".*",
            prop::collection::vec(".*", 0..4),
            prop::collection::vec(message(), 0..4),
            any::<bool>(),
            any::<u64>()
        )
            .prop_map(
                |(room, members, history, more, last_id)| ServerFrame::Joined {
                    room,
                    members,
                    history,
                    more,
                    last_id
                }
            ),
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
        message().prop_map(ServerFrame::Message),
        (".*", prop::collection::vec(message(), 0..4), any::<bool>()).prop_map(
            |(room, messages, more)| ServerFrame::History {
                room,
                messages,
                more
            }
        ),
        prop::collection::vec((".*", any::<u32>(), any::<u64>()), 0..4).prop_map(|rows| {
            ServerFrame::Rooms {
                rooms: rows
                    .into_iter()
                    .map(|(name, members, last_id)| RoomInfo {
                        name,
                        members,
                        last_id,
                    })
                    .collect(),
            }
        }),
        (".*", prop::option::of(".*"), prop::option::of(any::<u64>())).prop_map(
            |(message, reference, retry_after_ms)| ServerFrame::Error {
                code: ErrorCode::Internal,
                message,
                reference,
                retry_after_ms
            }
        ),
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
}
