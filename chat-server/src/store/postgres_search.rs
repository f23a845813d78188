//! PostgreSQL's side of search: reading the `entries_search` GIN index
//! (schema 7, `schema/postgres_07_search.sql`). The limit is taken before
//! reactions are gathered, so only the page's messages pay for them.

use chat_proto::Entry;
use tokio_postgres::{GenericClient, Row, Statement};

use super::JoinState;
use super::page::{from_sql_id, to_sql_id};
use super::postgres_rooms::{db, join_state, text};
use super::rows::{EntryRow, attach_reactions};
use super::search::{SearchPage, SearchQuery, SearchScope};
use super::sqlite_rooms::folded;
use super::{Actor, Refusal, StoreError};

/// A match's columns: `id, user_name, text, ts, kind, subject, arg,
/// flags, target, edited_ts, deleted, room name`, then its reactions.
const REACTIONS: &str = "LEFT JOIN LATERAL (SELECT array_agg(emoji ORDER BY emoji, id) AS emoji,
         array_agg(user_name ORDER BY emoji, id) AS users FROM reactions
         WHERE room_id = m.room_id AND target = m.id) x ON TRUE";

/// One room's matches with ids below `$2`, newest first.
fn room_matches_sql() -> String {
    format!(
        "SELECT m.*, x.emoji, x.users FROM (
             SELECT e.id, e.user_name, e.text, e.ts, e.kind, e.subject, e.arg, e.flags,
                 e.target, e.edited_ts, e.deleted, $5::TEXT AS room, e.room_id
             FROM entries e
             WHERE e.room_id = $1 AND e.id < $2 AND e.kind = 0 AND NOT e.deleted
               AND search_vector(e.text) @@ to_tsquery('simple', $3)
             ORDER BY e.id DESC LIMIT $4) m
         {REACTIONS} ORDER BY m.id DESC"
    )
}

/// Every readable room's matches with `ts` below `$2`, newest first: rooms
/// not deleted, not banned from, public or listing `$4` as owner, op or on
/// the access list (all of them when `$3`, an admin); of conversations
/// (`@a+b`, names sorted) only `$4`'s own, admin or not.
fn everywhere_matches_sql() -> String {
    format!(
        "SELECT m.*, x.emoji, x.users FROM (
             SELECT e.id, e.user_name, e.text, e.ts, e.kind, e.subject, e.arg, e.flags,
                 e.target, e.edited_ts, e.deleted, r.name AS room, e.room_id
             FROM entries e JOIN rooms r ON r.id = e.room_id
             WHERE e.kind = 0 AND NOT e.deleted
               AND search_vector(e.text) @@ to_tsquery('simple', $1)
               AND e.ts < $2 AND r.deleted_at IS NULL
               AND ($3 OR NOT EXISTS (SELECT 1 FROM bans
                   WHERE room_id = r.id AND name_folded = $4))
               AND ($3 OR NOT r.private OR lower(r.owner) = $4
                 OR EXISTS (SELECT 1 FROM ops WHERE room_id = r.id AND name_folded = $4)
                 OR EXISTS (SELECT 1 FROM access WHERE room_id = r.id AND name_folded = $4))
               AND (left(r.name, 1) <> '@'
                 OR left(r.name, length($4) + 2) = '@' || $4 || '+'
                 OR right(r.name, length($4) + 1) = '+' || $4)
             ORDER BY e.ts DESC, e.room_id DESC, e.id DESC LIMIT $5) m
         {REACTIONS} ORDER BY m.ts DESC, m.room_id DESC, m.id DESC"
    )
}

/// Runs `query` for `viewer`: the page, or why the viewer may not read
/// the room it names. A room that does not exist has no matches.
pub(super) async fn search(
    client: &impl GenericClient,
    state: &Statement,
    viewer: &Actor,
    query: &SearchQuery,
) -> Result<Result<SearchPage, Refusal>, StoreError> {
    if query.words.is_empty() {
        return Ok(Ok(SearchPage::default()));
    }
    let tsquery = query.tsquery();
    let rows = match &query.scope {
        SearchScope::Room { room, before } => {
            // A room missing or deleted has no matches.
            let room_id = match join_state(client, state, room, viewer).await? {
                None => return Ok(Ok(SearchPage::default())),
                Some(JoinState {
                    state: Err(refusal),
                    ..
                }) => return Ok(Err(refusal)),
                Some(JoinState { room_id, .. }) => room_id,
            };
            let before = before.map_or(i64::MAX, to_sql_id);
            let sql = room_matches_sql();
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
                [&room_id, &before, &tsquery, &query.fetch(), &room.as_str()];
            client.query(&sql, &params).await.map_err(db)?
        }
        SearchScope::Everywhere { before_ts } => {
            let me = folded(viewer.name.as_str());
            let before_ts = before_ts.unwrap_or(i64::MAX);
            let sql = everywhere_matches_sql();
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
                [&tsquery, &before_ts, &viewer.admin, &me, &query.fetch()];
            client.query(&sql, &params).await.map_err(db)?
        }
    };
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        entries.extend(matched(row).map_err(db)?);
    }
    Ok(Ok(query.finish(entries)))
}

/// The message in a match's row, with its reactions.
fn matched(row: &Row) -> Result<Option<Entry>, tokio_postgres::Error> {
    let stored = EntryRow {
        text: text(row.try_get(2)?),
        kind: row.try_get(4)?,
        subject: row.try_get(5)?,
        arg: row.try_get(6)?,
        flags: row.try_get(7)?,
        target: row.try_get::<_, Option<i64>>(8)?.map(from_sql_id),
        edited: row.try_get(9)?,
        deleted: row.try_get(10)?,
    };
    let room: String = row.try_get(11)?;
    let id = from_sql_id(row.try_get(0)?);
    let Some(mut entry) = stored.entry(&room, id, row.try_get(1)?, row.try_get(3)?) else {
        return Ok(None);
    };
    let emoji: Option<Vec<String>> = row.try_get(13)?;
    let users: Option<Vec<String>> = row.try_get(14)?;
    let reactions: Vec<_> = emoji
        .unwrap_or_default()
        .into_iter()
        .zip(users.unwrap_or_default())
        .map(|(emoji, user)| (id, emoji, user))
        .collect();
    attach_reactions(std::slice::from_mut(&mut entry), reactions);
    Ok(Some(entry))
}
