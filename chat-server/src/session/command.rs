//! [`Command`]: a decoded client frame made typed once (names parsed and
//! validated, the `ref` checked, the history page chosen) before any
//! handler sees it. Each kind's parsing lives beside its handler, so a new
//! frame kind is a new file and one arm here.

use chat_proto::{ClientFrame, ConversationName, DecodeError, ErrorCode, RoomName, UserName};

use super::entry::Request;
use super::hello::Hello;
use super::history::History;
use super::join::Join;
use super::leave::Leave;
use super::message::Post;
use super::read::MarkRead;
use super::reply::Refusal;
use super::rooms::Rooms;
use super::search::Search;
use super::typing::Typing;
use super::{ban, delete, delete_room, edit, invite, kick, react, role, settings, topic, unban};

/// A request a session serves, with every field already valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Command {
    Hello(Hello),
    Join(Join),
    Post(Post),
    Leave(Leave),
    History(History),
    Rooms(Rooms),
    Typing(Typing),
    Read(MarkRead),
    Search(Search),
    /// A protocol-2 request that makes an entry (or deletes the room).
    Entry(Request),
}

impl Command {
    /// Makes the command a frame asks for, or the refusal that answers it.
    /// `echoed` is the frame's `ref` as decoded for echoing; `me` is the
    /// session's user once logged in, whose conversation with bob `@bob`
    /// names.
    pub(super) fn parse(
        mut frame: ClientFrame,
        echoed: Option<&str>,
        me: Option<&UserName>,
    ) -> Result<Self, Refusal> {
        if let (Some(me), Some(room)) = (me, frame.room_mut()) {
            expand_shorthand(room, me);
        }
        Ok(match frame {
            ClientFrame::Hello { user, password } => Command::Hello(Hello::parse(&user, password)?),
            ClientFrame::Join { room, since, limit } => {
                Command::Join(Join::parse(&room, since, limit)?)
            }
            ClientFrame::Message {
                room,
                text,
                reference,
                reply_to,
                action,
            } => Command::Post(Post::parse(&room, text, reference, echoed)?.with(reply_to, action)),
            ClientFrame::Leave { room } => Command::Leave(Leave::parse(&room)?),
            ClientFrame::History {
                room,
                before,
                after,
                limit,
            } => Command::History(History::parse(&room, before, after, limit)?),
            ClientFrame::Rooms {
                mine,
                query,
                limit,
                after,
            } => Command::Rooms(Rooms::parse(mine, query, limit, after)),
            ClientFrame::Typing { room, .. } => Command::Typing(Typing::parse(&room)?),
            ClientFrame::Read { room, id, .. } => Command::Read(MarkRead::parse(&room, id)?),
            ClientFrame::Search {
                query,
                room,
                limit,
                before,
                before_ts,
                ..
            } => Command::Search(Search::parse(query, room, limit, before, before_ts)?),
            newer => return Self::parse_entry(newer, echoed),
        })
    }

    /// The protocol-2 requests that make an entry.
    fn parse_entry(frame: ClientFrame, echoed: Option<&str>) -> Result<Self, Refusal> {
        Ok(Command::Entry(match frame {
            ClientFrame::Edit {
                room,
                target,
                text,
                reference,
            } => edit::parse(&room, target, text, reference, echoed)?,
            ClientFrame::Delete {
                room,
                target,
                reference,
            } => delete::parse(&room, target, reference, echoed)?,
            ClientFrame::React {
                room,
                target,
                emoji,
                reference,
            } => react::parse(&room, target, emoji, true, reference, echoed)?,
            ClientFrame::Unreact {
                room,
                target,
                emoji,
                reference,
            } => react::parse(&room, target, emoji, false, reference, echoed)?,
            ClientFrame::Topic {
                room,
                topic,
                reference,
            } => topic::parse(&room, topic, reference, echoed)?,
            ClientFrame::Role {
                room,
                subject,
                role,
                reference,
            } => role::parse(&room, &subject, role, reference, echoed)?,
            ClientFrame::Kick {
                room,
                subject,
                reason,
                reference,
            } => kick::parse(&room, &subject, reason, reference, echoed)?,
            ClientFrame::Ban {
                room,
                subject,
                reason,
                reference,
            } => ban::parse(&room, &subject, reason, reference, echoed)?,
            ClientFrame::Unban {
                room,
                subject,
                reference,
            } => unban::parse(&room, &subject, reference, echoed)?,
            ClientFrame::Invite {
                room,
                subject,
                reference,
            } => invite::parse(&room, &subject, reference, echoed)?,
            ClientFrame::Settings {
                room,
                private,
                reference,
            } => settings::parse(&room, private, reference, echoed)?,
            ClientFrame::DeleteRoom { room, reference } => {
                delete_room::parse(&room, reference, echoed)?
            }
            other => {
                let unknown = DecodeError::unknown_type(other.kind(), None);
                return Err(Refusal::new(unknown.code(), unknown.detail));
            }
        }))
    }
}

/// `@bob` from alice is her conversation with bob: `@alice+bob`, which
/// [`room_name`] then makes canonical (or refuses).
fn expand_shorthand(room: &mut String, me: &UserName) {
    if let Some(partner) = room.strip_prefix('@')
        && !partner.contains('+')
    {
        *room = format!("@{me}+{partner}");
    }
}

/// A room name from a frame (a plain room, or a conversation's full name,
/// answered by its canonical one), or the refusal: `invalid_name`, or
/// `forbidden` for a conversation with oneself.
pub(super) fn room_name(raw: &str) -> Result<RoomName, Refusal> {
    if raw.starts_with('@') {
        return ConversationName::parse_pair(raw)
            .map(RoomName::from)
            .map_err(|e| Refusal::new(e.code(), format!("conversation: {e}")));
    }
    RoomName::parse(raw)
        .map_err(|e| Refusal::new(ErrorCode::InvalidName, format!("room name: {e}")))
}

#[cfg(test)]
mod tests {
    use chat_proto::decode_client_request;
    use chat_proto::limits::PROTOCOL_VERSION;

    use super::*;
    use crate::store::Page;

    fn command(text: &str) -> Result<Command, Refusal> {
        let request = decode_client_request(text, PROTOCOL_VERSION).expect("a well-formed frame");
        Command::parse(request.frame, request.reference.as_deref(), None)
    }

    fn refusal(text: &str) -> (ErrorCode, String) {
        let refusal = command(text).expect_err("a refusal");
        (refusal.code, refusal.message)
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).expect("a valid room name")
    }

    #[test]
    fn each_frame_becomes_its_command_with_names_parsed() {
        assert_eq!(
            command(r#"{"type":"hello","user":"alice","password":"pw"}"#),
            Ok(Command::Hello(Hello {
                user: UserName::parse("alice").unwrap(),
                password: Some("pw".into())
            }))
        );
        assert_eq!(
            command(r#"{"type":"message","room":"lobby","text":"hi","ref":"c1"}"#),
            Ok(Command::Post(Post {
                room: room("lobby"),
                text: "hi".into(),
                reference: Some("c1".into()),
                reply_to: None,
                action: false,
            }))
        );
        assert_eq!(
            command(
                r#"{"type":"message","room":"lobby","text":"waves","reply_to":3,"action":true}"#
            ),
            Ok(Command::Post(Post {
                room: room("lobby"),
                text: "waves".into(),
                reference: None,
                reply_to: Some(3),
                action: true,
            }))
        );
        assert_eq!(
            command(r#"{"type":"leave","room":"lobby","ref":"l"}"#),
            Ok(Command::Leave(Leave {
                room: room("lobby")
            }))
        );
        assert_eq!(
            command(r#"{"type":"rooms"}"#),
            Ok(Command::Rooms(Rooms::parse(false, None, None, None)))
        );
    }

    #[test]
    fn rooms_pages_fold_their_query_and_clamp_their_limit() {
        use crate::store::RoomQuery;
        assert_eq!(
            command(r#"{"type":"rooms"}"#),
            Ok(Command::Rooms(Rooms::Page(RoomQuery {
                contains: None,
                after: None,
                limit: 100
            })))
        );
        assert_eq!(
            command(r#"{"type":"rooms","query":"RU","after":"Rust","limit":9000}"#),
            Ok(Command::Rooms(Rooms::Page(RoomQuery {
                contains: Some("ru".into()),
                after: Some("rust".into()),
                limit: 500
            })))
        );
        assert_eq!(
            command(r#"{"type":"rooms","mine":true,"query":"x"}"#),
            Ok(Command::Rooms(Rooms::Mine))
        );
    }

    #[test]
    fn join_and_history_choose_their_page() {
        let join = |text| match command(text) {
            Ok(Command::Join(join)) => join.page,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(
            join(r#"{"type":"join","room":"lobby"}"#),
            Page::Newest { limit: 50 }
        );
        assert_eq!(
            join(r#"{"type":"join","room":"lobby","since":7,"limit":0}"#),
            Page::After { id: 7, limit: 1 }
        );
        let history = |text| match command(text) {
            Ok(Command::History(history)) => history.page,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(
            history(r#"{"type":"history","room":"lobby","before":9,"limit":100000}"#),
            Page::Before { id: 9, limit: 500 }
        );
        assert_eq!(
            history(r#"{"type":"history","room":"lobby","after":3,"limit":5}"#),
            Page::After { id: 3, limit: 5 }
        );
        assert_eq!(
            history(r#"{"type":"history","room":"lobby"}"#),
            Page::Newest { limit: 50 }
        );
    }

    #[test]
    fn invalid_fields_are_refused_in_the_protocols_order() {
        let (code, message) = refusal(r#"{"type":"hello","user":"no spaces"}"#);
        assert_eq!(code, ErrorCode::InvalidName);
        assert!(message.starts_with("user name: "), "{message}");
        let (code, message) = refusal(r#"{"type":"join","room":""}"#);
        assert_eq!(code, ErrorCode::InvalidName);
        assert!(message.starts_with("room name: "), "{message}");
        // A message's ref is checked before its room, its room before its text.
        let long = "r".repeat(65);
        assert_eq!(
            refusal(&format!(
                r#"{{"type":"message","room":"","text":"","ref":"{long}"}}"#
            )),
            (
                ErrorCode::BadFrame,
                "ref is longer than 64 characters".into()
            )
        );
        assert_eq!(
            refusal(r#"{"type":"message","room":"","text":""}"#).0,
            ErrorCode::InvalidName
        );
        assert_eq!(
            refusal(r#"{"type":"message","room":"lobby","text":""}"#).0,
            ErrorCode::InvalidText
        );
        assert_eq!(
            refusal(r#"{"type":"history","room":"lobby","before":1,"after":2}"#),
            (
                ErrorCode::BadFrame,
                "history takes `before` or `after`, not both".into()
            )
        );
        assert_eq!(
            refusal(r#"{"type":"history","room":"","before":1,"after":2}"#).0,
            ErrorCode::InvalidName
        );
    }

    #[test]
    fn a_ref_of_64_characters_is_kept() {
        let ref64 = "é".repeat(64);
        let text = format!(r#"{{"type":"message","room":"lobby","text":"hi","ref":"{ref64}"}}"#);
        match command(&text) {
            Ok(Command::Post(post)) => assert_eq!(post.reference, Some(ref64)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_hello_never_shows_its_password() {
        let hello = command(r#"{"type":"hello","user":"alice","password":"hunter2"}"#);
        let shown = format!("{hello:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("alice"), "{shown}");
    }
}
