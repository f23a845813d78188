//! Who may use a conversation, checked by the session before it joins,
//! pages or queues anything there: only its two users, both registered,
//! while the partner's account exists. The store's rules check entries
//! again in the transaction that stores them (`store/rules.rs`).

use chat_proto::{ErrorCode, RoomName};

use super::Context;
use super::reply::Refusal;
use crate::store::Actor;

/// Whether `actor` may read the room: true for every room but a
/// conversation, which only its two users may, and only while the
/// partner's account exists. Else the refusal has been answered:
/// `forbidden`, `not_found` for a partner with no account.
pub(super) async fn may_read(cx: &mut Context, room: &RoomName, actor: &Actor) -> bool {
    let Some(conversation) = room.conversation() else {
        return true;
    };
    let partner = conversation
        .partner(&actor.name)
        .filter(|_| actor.registered);
    let Some(partner) = partner.and_then(|partner| chat_proto::UserName::parse(partner).ok())
    else {
        cx.replies.refuse(Refusal::new(
            ErrorCode::Forbidden,
            "only its two users may use a conversation",
        ));
        return false;
    };
    match cx.shared.store.account(&partner).await {
        Ok(Some(_)) => true,
        Ok(None) => {
            cx.replies
                .refuse(Refusal::new(ErrorCode::NotFound, "no such user"));
            false
        }
        Err(e) => {
            tracing::error!(peer = %cx.peer, room = %room, error = %e, "could not read an account");
            cx.replies.refuse(Refusal::new(
                ErrorCode::Internal,
                "could not open the conversation; retry",
            ));
            false
        }
    }
}
