//! Requests that manage a room (topic, roles, kick, ban, unban, invite,
//! privacy, deleting the room or a message) as the outbox holds them until the server answers,
//! and the question asked before the ones that cannot be taken back.

use chat_proto::{ClientFrame, Role};

/// A room-management request typed as a `/command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomRequest {
    /// `""` clears the topic.
    Topic(String),
    Role {
        subject: String,
        role: Role,
    },
    Kick {
        subject: String,
        reason: Option<String>,
    },
    Ban {
        subject: String,
        reason: Option<String>,
    },
    Unban {
        subject: String,
    },
    Invite {
        subject: String,
    },
    Private(bool),
    DeleteRoom,
    /// Delete message `target` (asked about first: it cannot be undone).
    DeleteMessage {
        target: u64,
    },
}

impl RoomRequest {
    /// The frame that asks for it in `room`, with the outbox's `ref`.
    pub fn frame(&self, room: &str, reference: &str) -> ClientFrame {
        let room = room.to_owned();
        let reference = Some(reference.to_owned());
        match self.clone() {
            RoomRequest::Topic(topic) => ClientFrame::Topic {
                room,
                topic,
                reference,
            },
            RoomRequest::Role { subject, role } => ClientFrame::Role {
                room,
                subject,
                role,
                reference,
            },
            RoomRequest::Kick { subject, reason } => ClientFrame::Kick {
                room,
                subject,
                reason,
                reference,
            },
            RoomRequest::Ban { subject, reason } => ClientFrame::Ban {
                room,
                subject,
                reason,
                reference,
            },
            RoomRequest::Unban { subject } => ClientFrame::Unban {
                room,
                subject,
                reference,
            },
            RoomRequest::Invite { subject } => ClientFrame::Invite {
                room,
                subject,
                reference,
            },
            RoomRequest::Private(private) => ClientFrame::Settings {
                room,
                private,
                reference,
            },
            RoomRequest::DeleteRoom => ClientFrame::DeleteRoom { room, reference },
            RoomRequest::DeleteMessage { target } => ClientFrame::Delete {
                room,
                target,
                reference,
            },
        }
    }

    /// What was asked, in words, for the line that says it was refused.
    pub fn describe(&self) -> String {
        match self {
            RoomRequest::Topic(topic) if topic.is_empty() => "clearing the topic".to_owned(),
            RoomRequest::Topic(_) => "setting the topic".to_owned(),
            RoomRequest::Role {
                subject,
                role: Role::Owner,
            } => format!("handing the room to {subject}"),
            RoomRequest::Role {
                subject,
                role: Role::Op,
            } => format!("making {subject} an op"),
            RoomRequest::Role { subject, .. } => format!("making {subject} a member"),
            RoomRequest::Kick { subject, .. } => format!("kicking {subject}"),
            RoomRequest::Ban { subject, .. } => format!("banning {subject}"),
            RoomRequest::Unban { subject } => format!("lifting the ban on {subject}"),
            RoomRequest::Invite { subject } => format!("inviting {subject}"),
            RoomRequest::Private(true) => "making the room private".to_owned(),
            RoomRequest::Private(false) => "making the room public".to_owned(),
            RoomRequest::DeleteRoom => "deleting the room".to_owned(),
            RoomRequest::DeleteMessage { .. } => "deleting a message".to_owned(),
        }
    }
}

/// A request waiting for the user's yes: handing a room over and deleting
/// one cannot be undone by the one who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub room: String,
    pub request: RoomRequest,
    pub question: String,
}
