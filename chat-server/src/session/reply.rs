//! The one place a session answers from: every reply goes into the
//! session's outbox, and every error about a frame echoes that frame's
//! `ref`.

use chat_proto::{ErrorCode, ServerFrame};

use crate::registry::{Outbox, frame};

/// Why a request is refused: the code and message of its `error` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    pub(super) code: ErrorCode,
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Replies to the client, knowing which frame is being answered.
pub(super) struct Replies {
    outbox: Outbox,
    /// The `ref` of the frame being handled: every error about it echoes it.
    replying_to: Option<String>,
}

impl Replies {
    pub(super) fn new(outbox: Outbox) -> Self {
        Self {
            outbox,
            replying_to: None,
        }
    }

    /// The session's outbox, for the room registry to deliver into.
    pub(super) fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// From now on, errors are about the frame with this `ref`.
    pub(super) fn answering(&mut self, reference: Option<String>) {
        self.replying_to = reference;
    }

    /// The `ref` of the frame being answered.
    pub(super) fn reference(&self) -> Option<&str> {
        self.replying_to.as_deref()
    }

    pub(super) fn send(&self, server_frame: &ServerFrame) {
        self.outbox.push(frame(server_frame));
    }

    /// The `error` frame about the frame being handled, to queue elsewhere.
    pub(super) fn error_frame(&self, refusal: Refusal) -> ServerFrame {
        ServerFrame::error(refusal.code, refusal.message, self.replying_to.clone())
    }

    /// An error about the frame being handled.
    pub(super) fn refuse(&self, refusal: Refusal) {
        self.send(&self.error_frame(refusal));
    }

    /// An error about the frame being handled.
    pub(super) fn error(&self, code: ErrorCode, message: impl Into<String>) {
        self.refuse(Refusal::new(code, message));
    }

    /// An error about an earlier frame, which had this `ref`.
    pub(super) fn error_about(&self, reference: Option<String>, code: ErrorCode, message: &str) {
        self.send(&ServerFrame::error(code, message, reference));
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::{ErrorCode, ServerFrame, decode_server};

    use super::*;

    fn sent(outbox: &Outbox) -> ServerFrame {
        let queued = outbox.take_queued();
        assert_eq!(queued.len(), 1, "one frame per reply");
        let (frame, urgent) = &queued[0];
        assert!(urgent, "replies are written at once");
        decode_server(frame.payload()).expect("a server frame")
    }

    #[test]
    fn errors_echo_the_ref_of_the_frame_being_answered() {
        let outbox = Outbox::new(8);
        let mut replies = Replies::new(outbox.clone());
        replies.answering(Some("j1".into()));
        assert_eq!(replies.reference(), Some("j1"));
        replies.error(ErrorCode::NotInRoom, "join lobby first");
        assert_eq!(
            sent(&outbox),
            ServerFrame::error(ErrorCode::NotInRoom, "join lobby first", Some("j1".into()))
        );
        // A receipt failing later is about its own frame, not the current one.
        replies.error_about(None, ErrorCode::Internal, "retry");
        assert_eq!(
            sent(&outbox),
            ServerFrame::error(ErrorCode::Internal, "retry", None)
        );
        replies.answering(None);
        replies.refuse(Refusal::new(ErrorCode::BadFrame, "binary"));
        assert_eq!(
            sent(&outbox),
            ServerFrame::error(ErrorCode::BadFrame, "binary", None)
        );
        let rooms = ServerFrame::Rooms {
            mine: false,
            rooms: Vec::new(),
            more: false,
        };
        replies.send(&rooms);
        assert_eq!(sent(&outbox), rooms);
        assert!(outbox.take_queued().is_empty());
    }
}
