//! `search`: the messages matching every word of a query, in one room or
//! in every room the session may read (protocol 2's "Search"). The store
//! does the matching (`store/search.rs`); this file bounds the request.

use chat_proto::limits::clamp_search_limit;
use chat_proto::{ErrorCode, ServerFrame};

use super::Context;
use super::command::room_name;
use super::reply::Refusal;
use crate::store::search::{MAX_SEARCH_QUERY_CHARS, query_words};
use crate::store::{Actor, SearchQuery, SearchScope};

/// A `search` request with its words parsed and its page chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Search {
    /// As the client sent it, for the answer to echo.
    pub(super) text: String,
    pub(super) query: SearchQuery,
}

impl Search {
    pub(super) fn parse(
        text: String,
        room: Option<String>,
        limit: Option<u32>,
        before: Option<u64>,
        before_ts: Option<i64>,
    ) -> Result<Self, Refusal> {
        if text.chars().count() > MAX_SEARCH_QUERY_CHARS {
            return Err(Refusal::new(
                ErrorCode::BadFrame,
                format!("query is longer than {MAX_SEARCH_QUERY_CHARS} characters"),
            ));
        }
        let words = query_words(&text);
        if words.is_empty() {
            return Err(Refusal::new(
                ErrorCode::BadFrame,
                "query has no word to search for",
            ));
        }
        let scope = match (room, before_ts) {
            (Some(_), Some(_)) => {
                return Err(Refusal::new(
                    ErrorCode::BadFrame,
                    "a search of one room pages with `before`, not `before_ts`",
                ));
            }
            (Some(room), None) => SearchScope::Room {
                room: room_name(&room)?,
                before,
            },
            (None, _) if before.is_some() => {
                return Err(Refusal::new(
                    ErrorCode::BadFrame,
                    "a search of every room pages with `before_ts`, not `before`",
                ));
            }
            (None, before_ts) => SearchScope::Everywhere { before_ts },
        };
        Ok(Self {
            text,
            query: SearchQuery {
                words,
                scope,
                limit: clamp_search_limit(limit),
            },
        })
    }

    pub(super) async fn run(self, cx: &mut Context, actor: &Actor) {
        if let SearchScope::Room { room, .. } = &self.query.scope
            && !super::conversation::may_read(cx, room, actor).await
        {
            return;
        }
        match cx.shared.store.search(actor, self.query).await {
            Ok(Ok(page)) => cx.replies.send(&ServerFrame::Search {
                query: self.text,
                messages: page.messages,
                more: page.more,
            }),
            Ok(Err(refusal)) => cx
                .replies
                .refuse(Refusal::new(refusal.code, refusal.reason)),
            Err(e) => {
                tracing::error!(peer = %cx.peer, error = %e, "could not search");
                cx.replies
                    .error(ErrorCode::Internal, "could not search; retry");
            }
        }
    }
}
