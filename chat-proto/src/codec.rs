//! Turning frames into JSON text and back. Decoding never panics: every
//! failure is a [`DecodeError`] that says which field was wrong and carries
//! the frame's `ref` (when it had a usable one) so the answer can echo it.

use serde::Serialize;
use serde_json::Value;

use crate::frame::{ClientFrame, ErrorCode, ServerFrame};
use crate::limits::{MAX_REF_CHARS, PROTOCOL_2};

/// The frame types a client may send, as named on the wire: protocol 1's
/// first ([`PROTOCOL_1_CLIENT_TYPES`] of them), then protocol 2's.
pub const CLIENT_FRAME_TYPES: [&str; 21] = [
    "hello",
    "join",
    "message",
    "leave",
    "history",
    "rooms",
    "edit",
    "delete",
    "react",
    "unreact",
    "topic",
    "role",
    "kick",
    "ban",
    "unban",
    "invite",
    "settings",
    "delete_room",
    "read",
    "typing",
    "search",
];
/// How many of [`CLIENT_FRAME_TYPES`] protocol 1 has.
pub const PROTOCOL_1_CLIENT_TYPES: usize = 6;
/// The frame types a server may send, as named on the wire.
pub const SERVER_FRAME_TYPES: [&str; 23] = [
    "welcome",
    "joined",
    "join",
    "leave",
    "message",
    "history",
    "rooms",
    "error",
    "edit",
    "delete",
    "react",
    "unreact",
    "topic",
    "role",
    "kick",
    "ban",
    "unban",
    "invite",
    "settings",
    "room_deleted",
    "read",
    "typing",
    "search",
];

/// What kind of decoding failure this is; maps onto an error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// Not JSON, not an object, or a missing or mistyped field.
    BadFrame,
    /// A well-formed object whose `type` this protocol does not have.
    UnknownType,
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    /// A human explanation naming the offending field.
    pub detail: String,
    /// The frame's `ref`, when it had a string one of acceptable length.
    pub reference: Option<String>,
}

impl DecodeError {
    /// The error code the server answers this failure with.
    pub fn code(&self) -> ErrorCode {
        match self.kind {
            DecodeErrorKind::BadFrame => ErrorCode::BadFrame,
            DecodeErrorKind::UnknownType => ErrorCode::UnknownType,
        }
    }

    /// The `error` frame that answers this failure.
    pub fn to_frame(&self) -> ServerFrame {
        ServerFrame::error(self.code(), self.detail.clone(), self.reference.clone())
    }

    /// The failure for a frame whose `type` the reader does not know (or,
    /// with [`decode_client_request`], does not speak yet).
    pub fn unknown_type(frame_type: &str, reference: Option<String>) -> Self {
        Self {
            kind: DecodeErrorKind::UnknownType,
            detail: format!("unknown frame type {frame_type:?}"),
            reference,
        }
    }

    fn bad(detail: impl Into<String>, reference: Option<String>) -> Self {
        Self {
            kind: DecodeErrorKind::BadFrame,
            detail: detail.into(),
            reference,
        }
    }
}

/// Encodes any frame as one JSON object.
pub fn encode<T: Serialize>(frame: &T) -> String {
    // The frame types hold only strings, numbers, bools and sequences, and
    // their maps have string keys, so serialization cannot fail.
    serde_json::to_string(frame).expect("protocol frames always serialize")
}

/// Decodes a frame sent by a client.
pub fn decode_client(text: &str) -> Result<ClientFrame, DecodeError> {
    // Fast path: one typed parse. Only a failure pays for the slower parse
    // that works out what exactly was wrong.
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => Ok(frame),
        Err(_) => Err(diagnose::<ClientFrame>(text, &CLIENT_FRAME_TYPES)),
    }
}

/// A client frame with the `ref` that any answer about it echoes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    pub frame: ClientFrame,
    /// The frame's `ref` when it is a string within the length limit,
    /// whatever the frame's type; `None` when absent or unusable.
    pub reference: Option<String>,
}

/// Decodes a frame sent by a client to a server that speaks `protocol`,
/// and its `ref`: what a server needs to answer any frame. One typed
/// parse for a frame that carries its `ref` (every `message`); a second
/// ([`reference_of`]) for one that does not. Frame types of later
/// versions are `unknown_type` (with the frame's `ref`), whether
/// well-formed or not, exactly as that version's decoder answered them.
pub fn decode_client_request(text: &str, protocol: u32) -> Result<ClientRequest, DecodeError> {
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => {
            let reference = match frame.reference() {
                Some(reference) if echoable(reference) => Some(reference.to_owned()),
                // A frame with no `ref` of its own (a `join`, a `hello`, …)
                // may still carry one.
                _ => reference_of(text),
            };
            if frame.protocol() <= protocol {
                Ok(ClientRequest { frame, reference })
            } else {
                Err(DecodeError::unknown_type(frame.kind(), reference))
            }
        }
        Err(_) => Err(diagnose::<ClientFrame>(text, client_frame_types(protocol))),
    }
}

/// The client frame types a server speaking `protocol` knows.
fn client_frame_types(protocol: u32) -> &'static [&'static str] {
    if protocol < PROTOCOL_2 {
        &CLIENT_FRAME_TYPES[..PROTOCOL_1_CLIENT_TYPES]
    } else {
        &CLIENT_FRAME_TYPES
    }
}

/// Decodes a frame sent by the server.
pub fn decode_server(text: &str) -> Result<ServerFrame, DecodeError> {
    match serde_json::from_str::<ServerFrame>(text) {
        Ok(frame) => Ok(frame),
        Err(_) => Err(diagnose::<ServerFrame>(text, &SERVER_FRAME_TYPES)),
    }
}

/// The `ref` of a frame given as text, when it has a string one within the
/// length limit: what an error about that frame echoes.
pub fn reference_of(text: &str) -> Option<String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => usable_reference(object.get("ref")),
        _ => None,
    }
}

fn usable_reference(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .filter(|r| echoable(r))
        .map(str::to_owned)
}

/// Whether an error may echo this `ref`: one within the length limit.
fn echoable(reference: &str) -> bool {
    reference.chars().count() <= MAX_REF_CHARS
}

fn diagnose<T: serde::de::DeserializeOwned>(text: &str, known_types: &[&str]) -> DecodeError {
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => return DecodeError::bad(format!("frame is not valid JSON: {e}"), None),
    };
    let Value::Object(object) = &value else {
        return DecodeError::bad("frame must be a JSON object", None);
    };
    let reference = usable_reference(object.get("ref"));
    let frame_type = match object.get("type") {
        None => return DecodeError::bad("missing field `type`", reference),
        Some(Value::String(t)) => t.clone(),
        Some(_) => return DecodeError::bad("field `type` must be a string", reference),
    };
    if !known_types.contains(&frame_type.as_str()) {
        return DecodeError::unknown_type(&frame_type, reference);
    }
    let detail = match serde_json::from_value::<T>(value) {
        Err(e) => format!("{frame_type}: {e}"),
        // The typed parse of the text failed but the value parsed: only
        // possible through number forms serde_json reads differently.
        Ok(_) => format!("{frame_type}: malformed frame"),
    };
    DecodeError::bad(detail, reference)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Entry, Message};
    use crate::frame::RoomInfo;

    fn roundtrip_client(json: &str) -> ClientFrame {
        let frame = decode_client(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        let again: Value = serde_json::from_str(&encode(&frame)).unwrap();
        let original: Value = serde_json::from_str(json).unwrap();
        assert_eq!(again, original, "re-encoding {json}");
        frame
    }

    /// What a server speaking `protocol` decodes, without the echoed `ref`.
    fn frame_for(text: &str, protocol: u32) -> Result<ClientFrame, DecodeError> {
        decode_client_request(text, protocol).map(|request| request.frame)
    }

    fn roundtrip_server(json: &str) -> ServerFrame {
        let frame = decode_server(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        let again: Value = serde_json::from_str(&encode(&frame)).unwrap();
        let original: Value = serde_json::from_str(json).unwrap();
        assert_eq!(again, original, "re-encoding {json}");
        frame
    }

    const MESSAGE: &str =
        r#"{"type":"message","room":"lobby","id":121,"user":"bob","text":"yo","ts":1763719200000}"#;

    #[test]
    fn every_client_example_in_the_protocol_roundtrips() {
        assert_eq!(
            roundtrip_client(r#"{"type":"hello","user":"alice"}"#),
            ClientFrame::Hello {
                user: "alice".into(),
                password: None
            }
        );
        assert_eq!(
            roundtrip_client(r#"{"type":"hello","user":"alice","password":"correct horse"}"#),
            ClientFrame::Hello {
                user: "alice".into(),
                password: Some("correct horse".into())
            }
        );
        assert_eq!(
            roundtrip_client(r#"{"type":"join","room":"lobby"}"#),
            ClientFrame::Join {
                room: "lobby".into(),
                since: None,
                limit: None
            }
        );
        assert_eq!(
            roundtrip_client(r#"{"type":"join","room":"lobby","since":120}"#),
            ClientFrame::Join {
                room: "lobby".into(),
                since: Some(120),
                limit: None
            }
        );
        assert_eq!(
            roundtrip_client(r#"{"type":"message","room":"lobby","text":"hi","ref":"c17"}"#),
            ClientFrame::Message {
                room: "lobby".into(),
                text: "hi".into(),
                reference: Some("c17".into()),
                reply_to: None,
                action: false
            }
        );
        assert_eq!(
            roundtrip_client(r#"{"type":"leave","room":"lobby"}"#),
            ClientFrame::Leave {
                room: "lobby".into()
            }
        );
        assert_eq!(
            roundtrip_client(r#"{"type":"history","room":"lobby","before":122,"limit":50}"#),
            ClientFrame::History {
                room: "lobby".into(),
                before: Some(122),
                after: None,
                limit: Some(50)
            }
        );
        assert_eq!(
            roundtrip_client(r#"{"type":"history","room":"lobby","after":100,"limit":500}"#),
            ClientFrame::History {
                room: "lobby".into(),
                before: None,
                after: Some(100),
                limit: Some(500)
            }
        );
        assert_eq!(
            roundtrip_client(r#"{"type":"rooms"}"#),
            ClientFrame::rooms()
        );
    }

    #[test]
    fn every_server_example_in_the_protocol_roundtrips() {
        let message = Message {
            room: "lobby".into(),
            id: 121,
            user: "bob".into(),
            text: "yo".into(),
            ts: 1_763_719_200_000,
            reference: None,
            ..Message::default()
        };
        assert_eq!(
            roundtrip_server(
                r#"{"type":"welcome","user":"alice","guest":false,"registered":false,"protocol":1,"server":"chat-server 0.1.0"}"#
            ),
            ServerFrame::Welcome {
                user: "alice".into(),
                guest: false,
                registered: false,
                protocol: 1,
                server: "chat-server 0.1.0".into(),
                admin: false
            }
        );
        let joined = format!(
            r#"{{"type":"joined","room":"lobby","members":["alice","bob"],"history":[{MESSAGE}],"more":false,"last_id":121}}"#
        );
        // Messages inside `history` carry a `type` too in this example; the
        // decoder ignores it as an unknown field, so compare decoded values.
        assert_eq!(
            decode_server(&joined).unwrap(),
            ServerFrame::Joined {
                room: "lobby".into(),
                members: vec!["alice".into(), "bob".into()],
                history: vec![Entry::Message(message.clone())],
                more: false,
                last_id: 121,
                details: None
            }
        );
        assert_eq!(
            roundtrip_server(r#"{"type":"join","room":"lobby","user":"bob","ts":1763719200123}"#),
            ServerFrame::Join {
                room: "lobby".into(),
                user: "bob".into(),
                ts: 1_763_719_200_123
            }
        );
        assert_eq!(
            roundtrip_server(r#"{"type":"leave","room":"lobby","user":"bob","ts":1763719200999}"#),
            ServerFrame::Leave {
                room: "lobby".into(),
                user: "bob".into(),
                ts: 1_763_719_200_999
            }
        );
        assert_eq!(
            roundtrip_server(
                r#"{"type":"message","room":"lobby","id":122,"user":"alice","text":"hi","ts":1763719201000,"ref":"c17"}"#
            ),
            ServerFrame::Message(Message {
                room: "lobby".into(),
                id: 122,
                user: "alice".into(),
                text: "hi".into(),
                ts: 1_763_719_201_000,
                reference: Some("c17".into()),
                ..Message::default()
            })
        );
        let history = r#"{"type":"history","room":"lobby","messages":[{"room":"lobby","id":121,"user":"bob","text":"yo","ts":1763719200000}],"more":true}"#;
        assert_eq!(
            roundtrip_server(history),
            ServerFrame::History {
                room: "lobby".into(),
                messages: vec![Entry::Message(message)],
                more: true
            }
        );
        assert_eq!(
            roundtrip_server(
                r#"{"type":"rooms","rooms":[{"name":"lobby","members":2,"last_id":122}]}"#
            ),
            ServerFrame::Rooms {
                mine: false,
                rooms: vec![RoomInfo::new("lobby", 2, 122)],
                more: false
            }
        );
        assert_eq!(
            roundtrip_server(
                r#"{"type":"error","code":"not_in_room","message":"join lobby before sending to it","ref":"c17"}"#
            ),
            ServerFrame::error(
                ErrorCode::NotInRoom,
                "join lobby before sending to it",
                Some("c17".into())
            )
        );
        let throttled = ServerFrame::Error {
            code: ErrorCode::RateLimited,
            message: "too many failed logins".into(),
            reference: None,
            retry_after_ms: Some(4000),
        };
        assert_eq!(
            roundtrip_server(
                r#"{"type":"error","code":"rate_limited","message":"too many failed logins","retry_after_ms":4000}"#
            ),
            throttled
        );
    }

    #[test]
    fn every_protocol_2_client_example_roundtrips() {
        for json in [
            r#"{"type":"message","room":"r","text":"yes","reply_to":122}"#,
            r#"{"type":"message","room":"r","text":"waves","action":true,"ref":"c1"}"#,
            r#"{"type":"edit","room":"r","target":122,"text":"fixed"}"#,
            r#"{"type":"delete","room":"r","target":122}"#,
            r#"{"type":"react","room":"r","target":122,"emoji":"👍"}"#,
            r#"{"type":"unreact","room":"r","target":122,"emoji":"👍"}"#,
            r#"{"type":"topic","room":"r","topic":"release day"}"#,
            r#"{"type":"role","room":"r","subject":"bob","role":"op"}"#,
            r#"{"type":"kick","room":"r","subject":"bob","reason":"…"}"#,
            r#"{"type":"ban","room":"r","subject":"bob","reason":"…"}"#,
            r#"{"type":"unban","room":"r","subject":"bob"}"#,
            r#"{"type":"invite","room":"r","subject":"carol"}"#,
            r#"{"type":"settings","room":"r","private":true}"#,
            r#"{"type":"delete_room","room":"r"}"#,
            r#"{"type":"rooms","mine":true}"#,
            r#"{"type":"read","room":"r","id":125}"#,
            r#"{"type":"typing","room":"r"}"#,
            r#"{"type":"search","query":"release notes","room":"lobby","limit":50,"before":9}"#,
            r#"{"type":"search","query":"release notes","before_ts":1763719201000}"#,
            r#"{"type":"rooms","query":"ru","limit":100,"after":"rust"}"#,
        ] {
            let frame = roundtrip_client(json);
            let kind = serde_json::from_str::<Value>(json).unwrap()["type"].clone();
            assert_eq!(frame.kind(), kind, "{json}");
            assert_eq!(
                frame.protocol(),
                if kind == "message" || kind == "rooms" {
                    1
                } else {
                    2
                }
            );
        }
        assert_eq!(
            roundtrip_client(
                r#"{"type":"message","room":"r","text":"yes","reply_to":122,"ref":"m1"}"#
            )
            .reference(),
            Some("m1")
        );
        assert_eq!(
            roundtrip_client(r#"{"type":"typing","room":"r","ref":"t1"}"#).reference(),
            Some("t1")
        );
    }

    #[test]
    fn every_frame_type_is_listed_once_with_its_protocol() {
        assert_eq!(CLIENT_FRAME_TYPES.len(), 21);
        for (index, kind) in CLIENT_FRAME_TYPES.iter().enumerate() {
            assert_eq!(CLIENT_FRAME_TYPES.iter().filter(|k| k == &kind).count(), 1);
            let e = decode_client(&format!(r#"{{"type":"{kind}","zzz":1}}"#));
            // Known types fail on their fields, not as unknown.
            if let Err(e) = e {
                assert_eq!(e.code(), ErrorCode::BadFrame, "{kind}");
            }
            let v1 = frame_for(&format!(r#"{{"type":"{kind}","ref":"q"}}"#), 1);
            if index < PROTOCOL_1_CLIENT_TYPES {
                assert!(v1.is_ok() || v1.unwrap_err().code() == ErrorCode::BadFrame);
            } else {
                let e = v1.unwrap_err();
                assert_eq!(e.code(), ErrorCode::UnknownType, "{kind}");
                assert_eq!(e.detail, format!("unknown frame type {kind:?}"));
                assert_eq!(e.reference.as_deref(), Some("q"));
            }
        }
        for kind in SERVER_FRAME_TYPES {
            assert_eq!(SERVER_FRAME_TYPES.iter().filter(|k| **k == kind).count(), 1);
            let e = decode_server(&format!(r#"{{"type":"{kind}","zzz":1}}"#)).unwrap_err();
            assert_eq!(e.code(), ErrorCode::BadFrame, "{kind}");
        }
    }

    #[test]
    fn a_protocol_1_server_answers_protocol_2_types_as_before() {
        // Well-formed or not, a protocol-2 type is unknown to protocol 1.
        for json in [
            r#"{"type":"edit","room":"r","target":1,"text":"x","ref":"e1"}"#,
            r#"{"type":"edit","ref":"e1"}"#,
        ] {
            let e = frame_for(json, 1).unwrap_err();
            assert_eq!(e.code(), ErrorCode::UnknownType, "{json}");
            assert_eq!(e.reference.as_deref(), Some("e1"));
        }
        assert_eq!(
            frame_for(r#"{"type":"edit","ref":"e1"}"#, 2)
                .unwrap_err()
                .code(),
            ErrorCode::BadFrame
        );
        // Protocol-1 types decode alike in both, protocol-2 fields included.
        let json = r#"{"type":"message","room":"r","text":"x","reply_to":3}"#;
        assert_eq!(frame_for(json, 1), decode_client(json));
        assert_eq!(
            frame_for(r#"{"type":"dance"}"#, 1).unwrap_err().code(),
            ErrorCode::UnknownType
        );
        assert_eq!(
            frame_for(r#"{"type":"dance"}"#, 2).unwrap_err().code(),
            ErrorCode::UnknownType
        );
    }

    #[test]
    fn a_protocol_1_rooms_request_ignores_a_ref_of_any_type() {
        assert_eq!(
            decode_client(r#"{"type":"rooms","ref":42}"#).unwrap(),
            ClientFrame::rooms()
        );
        assert_eq!(
            decode_client(r#"{"type":"rooms","ref":"x"}"#)
                .unwrap()
                .reference(),
            None
        );
    }

    const PAGE_MESSAGE: &str = r#"{"room":"r","id":122,"user":"alice","text":"fixed","ts":1,"reply_to":120,"edited":5,"reactions":{"👍":["alice","bob"]}}"#;

    #[test]
    fn every_protocol_2_server_example_roundtrips() {
        for json in [
            r#"{"type":"welcome","user":"alice","guest":false,"registered":false,"protocol":2,"server":"chat-server 0.2.0","admin":true}"#,
            r#"{"type":"edit","room":"r","id":123,"user":"alice","ts":2,"target":122,"text":"fixed","ref":"e1"}"#,
            r#"{"type":"delete","room":"r","id":124,"user":"alice","ts":3,"target":122}"#,
            r#"{"type":"react","room":"r","id":125,"user":"bob","ts":4,"target":122,"emoji":"👍"}"#,
            r#"{"type":"unreact","room":"r","id":126,"user":"bob","ts":5,"target":122,"emoji":"👍"}"#,
            r#"{"type":"topic","room":"r","id":127,"user":"alice","ts":6,"topic":"release day"}"#,
            r#"{"type":"role","room":"r","id":128,"user":"alice","ts":7,"subject":"bob","role":"owner"}"#,
            r#"{"type":"kick","room":"r","id":129,"user":"alice","ts":8,"subject":"bob","reason":"spam"}"#,
            r#"{"type":"ban","room":"r","id":130,"user":"alice","ts":9,"subject":"bob"}"#,
            r#"{"type":"unban","room":"r","id":131,"user":"alice","ts":10,"subject":"bob"}"#,
            r#"{"type":"invite","room":"r","id":132,"user":"alice","ts":11,"subject":"carol"}"#,
            r#"{"type":"settings","room":"r","id":133,"user":"alice","ts":12,"private":true}"#,
            r#"{"type":"message","room":"r","id":134,"user":"alice","text":"waves","ts":13,"action":true}"#,
            r#"{"type":"room_deleted","room":"r","user":"alice","ts":14}"#,
            r#"{"type":"read","room":"r","id":125}"#,
            r#"{"type":"typing","room":"r","user":"alice"}"#,
            r#"{"type":"rooms","mine":true,"rooms":[{"name":"lobby","members":2,"last_id":130,"read_id":125,"topic":"","private":false}]}"#,
            r#"{"type":"rooms","rooms":[{"name":"rust","members":0,"last_id":9,"topic":"","private":false}],"more":true}"#,
            r#"{"type":"error","code":"rate_limited","message":"too many logins","retry_after_ms":1500}"#,
            r#"{"type":"error","code":"forbidden","message":"not an op","ref":"k1"}"#,
        ] {
            roundtrip_server(json);
        }
        let search = format!(
            r#"{{"type":"search","query":"fixed","messages":[{PAGE_MESSAGE}],"more":true}}"#
        );
        assert!(matches!(
            roundtrip_server(&search),
            ServerFrame::Search { messages, more: true, .. } if messages[0].edited == Some(5)
        ));
    }

    #[test]
    fn a_protocol_2_joined_carries_the_room_details() {
        let json = format!(
            r#"{{"type":"joined","room":"@alice+bob","members":["alice"],"history":[{PAGE_MESSAGE},{{"type":"delete","room":"@alice+bob","id":123,"user":"bob","ts":2,"target":121}}],"more":false,"last_id":123,"topic":"","owner":null,"ops":[],"private":true,"role":"member","read_id":122}}"#
        );
        let ServerFrame::Joined {
            history, details, ..
        } = roundtrip_server(&json)
        else {
            panic!("not joined");
        };
        let details = details.expect("protocol-2 details");
        assert_eq!(details.owner, None);
        assert_eq!(details.role, crate::Role::Member);
        assert_eq!(details.read_id, 122);
        assert!(details.private);
        let message = history[0].as_message().expect("a message");
        assert_eq!(message.reactions["👍"], ["alice", "bob"]);
        assert_eq!((message.reply_to, message.edited), (Some(120), Some(5)));
        assert_eq!(history[1].kind(), "delete");
        assert_eq!(
            (history[1].target(), history[1].subject()),
            (Some(121), None)
        );
        assert_eq!(history[1].id(), 123);
        // The encoder writes `"owner":null`, as the contract shows.
        assert!(encode(&decode_server(&json).unwrap()).contains(r#""owner":null"#));
    }

    #[test]
    fn a_joined_without_every_detail_is_read_as_protocol_1() {
        let json = r#"{"type":"joined","room":"r","members":[],"history":[],"more":false,"last_id":0,"topic":"x"}"#;
        assert!(matches!(
            decode_server(json).unwrap(),
            ServerFrame::Joined { details: None, .. }
        ));
        // Malformed details count as none: the room is shown as protocol 1
        // shows it rather than not at all.
        let json = r#"{"type":"joined","room":"r","members":[],"history":[],"more":false,"last_id":0,"topic":"","owner":null,"ops":[],"private":false,"role":"admin","read_id":0}"#;
        assert!(matches!(
            decode_server(json).unwrap(),
            ServerFrame::Joined { details: None, .. }
        ));
    }

    #[test]
    fn pages_read_messages_with_or_without_type_and_skip_newer_kinds() {
        let json = r#"{"type":"history","room":"r","messages":[
            {"room":"r","id":1,"user":"a","text":"old","ts":1},
            {"type":"message","room":"r","id":2,"user":"a","text":"new","ts":2},
            {"type":"poll","room":"r","id":3,"user":"a","ts":3,"question":"?"},
            {"type":"topic","room":"r","id":4,"user":"a","ts":4,"topic":"t"}],"more":false}"#;
        let ServerFrame::History { messages, .. } = decode_server(json).unwrap() else {
            panic!("not history");
        };
        let ids: Vec<u64> = messages.iter().map(Entry::id).collect();
        assert_eq!(ids, [1, 2, 4], "the unknown kind is left out");
        assert_eq!(
            messages[1].as_message().map(|m| m.text.as_str()),
            Some("new")
        );
        // Messages are written back without `type`, as protocol 1 wrote them.
        assert!(!encode(&messages[1]).contains("\"type\""));
        assert!(encode(&messages[2]).starts_with(r#"{"type":"topic""#));
        // A known kind with a bad field fails the whole frame.
        let bad = r#"{"type":"history","room":"r","messages":[{"type":"edit","room":"r","id":1,"user":"a","ts":1,"target":"x","text":""}],"more":false}"#;
        assert_eq!(decode_server(bad).unwrap_err().code(), ErrorCode::BadFrame);
        let bad = r#"{"type":"history","room":"r","messages":[{"type":7,"room":"r","id":1,"user":"a","text":"","ts":1}],"more":false}"#;
        assert_eq!(decode_server(bad).unwrap_err().code(), ErrorCode::BadFrame);
    }

    #[test]
    fn a_lone_entry_of_an_unknown_kind_is_refused() {
        let e =
            serde_json::from_str::<Entry>(r#"{"type":"poll","room":"r","id":3,"user":"a","ts":3}"#)
                .unwrap_err();
        assert!(e.to_string().contains("poll"), "{e}");
    }

    #[test]
    fn live_entry_frames_and_entries_convert_both_ways() {
        let frame = decode_server(
            r#"{"type":"kick","room":"r","id":9,"user":"alice","ts":1,"subject":"bob","ref":"k"}"#,
        )
        .unwrap();
        let entry = Entry::try_from(frame.clone()).unwrap();
        assert_eq!(
            (entry.kind(), entry.user(), entry.room()),
            ("kick", "alice", "r")
        );
        assert_eq!((entry.ts(), entry.reference()), (1, Some("k")));
        assert_eq!((entry.subject(), entry.target()), (Some("bob"), None));
        assert_eq!(ServerFrame::from(entry), frame);
        let typing = ServerFrame::Typing {
            room: "r".into(),
            user: "bob".into(),
        };
        assert_eq!(Entry::try_from(typing.clone()), Err(typing));
    }

    #[test]
    fn protocol_2_error_codes_have_their_wire_names() {
        for (code, name) in [
            (ErrorCode::Forbidden, "forbidden"),
            (ErrorCode::NotFound, "not_found"),
            (ErrorCode::Unchanged, "unchanged"),
        ] {
            assert_eq!(code.as_str(), name);
            assert_eq!(encode(&code), format!("\"{name}\""));
            assert!(!code.closes_connection());
        }
        assert_eq!(
            ServerFrame::error_with_retry(ErrorCode::RateLimited, "later", None, 250),
            ServerFrame::Error {
                code: ErrorCode::RateLimited,
                message: "later".into(),
                reference: None,
                retry_after_ms: Some(250)
            }
        );
    }

    #[test]
    fn every_error_code_has_its_wire_name() {
        for code in [
            ErrorCode::BadFrame,
            ErrorCode::UnknownType,
            ErrorCode::NotAuthenticated,
            ErrorCode::AlreadyAuthenticated,
            ErrorCode::AuthFailed,
            ErrorCode::AuthRequired,
            ErrorCode::NameTaken,
            ErrorCode::InvalidName,
            ErrorCode::InvalidText,
            ErrorCode::NotInRoom,
            ErrorCode::RateLimited,
            ErrorCode::Internal,
        ] {
            assert_eq!(encode(&code), format!("\"{}\"", code.as_str()));
            assert_eq!(
                serde_json::from_str::<ErrorCode>(&encode(&code)).unwrap(),
                code
            );
        }
        assert_eq!(
            serde_json::from_str::<ErrorCode>(r#""from_the_future""#).unwrap(),
            ErrorCode::Unknown
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert_eq!(
            decode_client(r#"{"type":"rooms","client":"x","v":[1,2]}"#).unwrap(),
            ClientFrame::rooms()
        );
        assert!(matches!(
            decode_server(r#"{"type":"join","room":"r","user":"u","ts":1,"extra":true}"#),
            Ok(ServerFrame::Join { .. })
        ));
    }

    #[test]
    fn decode_errors_name_what_was_wrong() {
        let e = decode_client("not json").unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::BadFrame);
        assert!(e.detail.contains("not valid JSON"), "{}", e.detail);

        let e = decode_client("[1,2]").unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadFrame);
        assert!(e.detail.contains("object"), "{}", e.detail);

        let e = decode_client(r#"{"room":"lobby"}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadFrame);
        assert!(e.detail.contains("`type`"), "{}", e.detail);

        let e = decode_client(r#"{"type":7}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadFrame);

        let e = decode_client(r#"{"type":"dance","ref":"r1"}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::UnknownType);
        assert_eq!(e.reference.as_deref(), Some("r1"));

        let e = decode_client(r#"{"type":"message","room":"lobby","ref":"c9"}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadFrame);
        assert!(e.detail.contains("text"), "{}", e.detail);
        assert_eq!(e.reference.as_deref(), Some("c9"));

        let e = decode_client(r#"{"type":"join","room":"lobby","since":"yesterday"}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadFrame);
        assert!(e.detail.starts_with("join:"), "{}", e.detail);

        let e = decode_client(r#"{"type":"join","room":"lobby","since":-1}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadFrame);

        let e = decode_client(r#"{"type":"hello","user":42}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadFrame);
    }

    #[test]
    fn any_frame_can_carry_a_ref() {
        assert_eq!(
            reference_of(r#"{"type":"join","room":"x","ref":"j1"}"#).as_deref(),
            Some("j1")
        );
        assert_eq!(reference_of(r#"{"type":"rooms","ref":7}"#), None);
        assert_eq!(reference_of("[]"), None);
        assert_eq!(
            reference_of(&format!(r#"{{"ref":"{}"}}"#, "r".repeat(65))),
            None
        );
    }

    #[test]
    fn a_request_decodes_like_its_frame_and_carries_any_frames_ref() {
        let cases = [
            r#"{"type":"join","room":"x","ref":"j1"}"#,
            r#"{"type":"rooms","ref":7}"#,
            r#"{"type":"rooms"}"#,
            r#"{"type":"hello","user":"a","ref":"h"}"#,
            r#"{"type":"message","room":"lobby","text":"hi","ref":"c17"}"#,
            r#"{"type":"message","room":"lobby","text":"hi"}"#,
            r#"{"type":"history","room":"r","before":3,"ref":["x"],"extra":{"a":1}}"#,
            r#"{"type":"message","room":"r","text":"t","ref":7}"#,
            r#"{"type":"join","room":"lobby","since":-1,"ref":"s"}"#,
            r#"{"type":"dance","ref":"r1"}"#,
            r#"[1,2]"#,
            "not json",
        ];
        for (text, protocol) in cases
            .iter()
            .flat_map(|text| [(*text, 1), (*text, PROTOCOL_2)])
        {
            let request = decode_client_request(text, protocol);
            assert_eq!(
                request.clone().map(|r| r.frame),
                decode_client(text),
                "{text}"
            );
            if let Ok(request) = request {
                assert_eq!(request.reference, reference_of(text), "{text}");
            }
        }
        let long = "r".repeat(65);
        let request = decode_client_request(
            &format!(r#"{{"type":"message","room":"r","text":"t","ref":"{long}"}}"#),
            1,
        )
        .unwrap();
        assert_eq!(request.reference, None);
        assert_eq!(request.frame.reference(), Some(long.as_str()));
    }

    #[test]
    fn an_overlong_ref_is_not_echoed() {
        let long = "r".repeat(65);
        let e = decode_client(&format!(r#"{{"type":"nope","ref":"{long}"}}"#)).unwrap_err();
        assert_eq!(e.reference, None);
    }
}
