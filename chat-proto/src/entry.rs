//! The room stream: every kind of entry a room's one id sequence holds
//! ([`Message`] and the protocol-2 kinds), and [`Entry`], the typed union
//! that `joined.history` and `history.messages` carry.
//!
//! Every entry has `room`, `id`, `user` (who did it, from the session),
//! `ts` and, on the actor's own copy, `ref`. Live, each kind is its own
//! [`crate::ServerFrame`] variant; inside a page it is an [`Entry`].

use std::collections::BTreeMap;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::role::Role;

/// `skip_serializing_if` for flags that protocol 1 did not have: leaving
/// them out when false keeps protocol-1 encodings unchanged.
pub(crate) fn is_false(flag: &bool) -> bool {
    !*flag
}

/// A chat message as it travels to clients. Inside `joined`, `history` and
/// `search` it shows the message as it is when the page was built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub room: String,
    pub id: u64,
    pub user: String,
    /// The latest text; `""` once deleted.
    pub text: String,
    /// Milliseconds since the Unix epoch (UTC), stamped by the server.
    pub ts: i64,
    /// The sender's `ref`, present only on the sender's own copy.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The message of the same room this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
    /// An action (`/me waves`), shown as `* alice waves`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub action: bool,
    /// Page state: the `ts` of the latest edit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited: Option<i64>,
    /// Page state: the message was deleted and its text erased.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// Page state: emoji → the users who reacted with it, in order.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reactions: BTreeMap<String, Vec<String>>,
}

/// An `edit` entry: the author replaced the text of message `target`. In a
/// page, the edits of a deleted message have `"text":""`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    pub room: String,
    pub id: u64,
    pub user: String,
    pub ts: i64,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub target: u64,
    pub text: String,
}

/// A `delete` entry: message `target` was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delete {
    pub room: String,
    pub id: u64,
    pub user: String,
    pub ts: i64,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub target: u64,
}

/// A `react` or `unreact` entry: `user` added or took back `emoji` on
/// message `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub room: String,
    pub id: u64,
    pub user: String,
    pub ts: i64,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub target: u64,
    pub emoji: String,
}

/// A `topic` entry: the room's topic is now `topic` (`""`: none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicChange {
    pub room: String,
    pub id: u64,
    pub user: String,
    pub ts: i64,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub topic: String,
}

/// A `role` entry: `subject` now has `role` (`owner`: the room was handed
/// over, and the old owner is an op).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleChange {
    pub room: String,
    pub id: u64,
    pub user: String,
    pub ts: i64,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub subject: String,
    pub role: Role,
}

/// A `kick` or `ban` entry: `subject` was put out of the room (and, for a
/// ban, kept out), maybe with a `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    pub room: String,
    pub id: u64,
    pub user: String,
    pub ts: i64,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An `unban` or `invite` entry: `subject` may join again, or is on the
/// private room's access list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admittance {
    pub room: String,
    pub id: u64,
    pub user: String,
    pub ts: i64,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub subject: String,
}

/// A `settings` entry: the room is now private, or public.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsChange {
    pub room: String,
    pub id: u64,
    pub user: String,
    pub ts: i64,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub private: bool,
}

/// One entry of a room's stream, as `joined.history` and `history.messages`
/// carry it.
///
/// On the wire every kind but `message` has its `type`. A message has none,
/// as in protocol 1, so that protocol-1 pages encode exactly as before; the
/// decoder takes an object without `type`, or with `"type":"message"`, as a
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Message(Message),
    Edit(Edit),
    Delete(Delete),
    React(Reaction),
    Unreact(Reaction),
    Topic(TopicChange),
    Role(RoleChange),
    Kick(Removal),
    Ban(Removal),
    Unban(Admittance),
    Invite(Admittance),
    Settings(SettingsChange),
}

/// The entry kinds as named by `type` on the wire.
pub const ENTRY_TYPES: [&str; 12] = [
    "message", "edit", "delete", "react", "unreact", "topic", "role", "kick", "ban", "unban",
    "invite", "settings",
];

/// Applies `$body` to the struct inside any [`Entry`] variant.
macro_rules! each_kind {
    ($entry:expr, $inner:ident => $body:expr) => {
        match $entry {
            Entry::Message($inner) => $body,
            Entry::Edit($inner) => $body,
            Entry::Delete($inner) => $body,
            Entry::React($inner) | Entry::Unreact($inner) => $body,
            Entry::Topic($inner) => $body,
            Entry::Role($inner) => $body,
            Entry::Kick($inner) | Entry::Ban($inner) => $body,
            Entry::Unban($inner) | Entry::Invite($inner) => $body,
            Entry::Settings($inner) => $body,
        }
    };
}

impl Entry {
    /// The entry's id in its room's sequence.
    pub fn id(&self) -> u64 {
        each_kind!(self, e => e.id)
    }

    pub fn room(&self) -> &str {
        each_kind!(self, e => &e.room)
    }

    /// Who did it: the session's name, never one from a frame.
    pub fn user(&self) -> &str {
        each_kind!(self, e => &e.user)
    }

    pub fn ts(&self) -> i64 {
        each_kind!(self, e => e.ts)
    }

    /// The actor's `ref`, on the actor's own copy only.
    pub fn reference(&self) -> Option<&str> {
        each_kind!(self, e => e.reference.as_deref())
    }

    /// A copy without the actor's `ref`: what everyone but the actor gets.
    pub fn without_reference(&self) -> Entry {
        let mut copy = self.clone();
        each_kind!(&mut copy, e => e.reference = None);
        copy
    }

    /// The same entry carrying `reference`: the actor's own copy of an
    /// entry read back from storage (which keeps the `ref` apart).
    pub fn with_reference(mut self, reference: Option<String>) -> Entry {
        each_kind!(&mut self, e => e.reference = reference);
        self
    }

    /// The kind as named by `type` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::Message(_) => "message",
            Entry::Edit(_) => "edit",
            Entry::Delete(_) => "delete",
            Entry::React(_) => "react",
            Entry::Unreact(_) => "unreact",
            Entry::Topic(_) => "topic",
            Entry::Role(_) => "role",
            Entry::Kick(_) => "kick",
            Entry::Ban(_) => "ban",
            Entry::Unban(_) => "unban",
            Entry::Invite(_) => "invite",
            Entry::Settings(_) => "settings",
        }
    }

    /// The message an `edit`, `delete`, `react` or `unreact` acts on.
    pub fn target(&self) -> Option<u64> {
        match self {
            Entry::Edit(e) => Some(e.target),
            Entry::Delete(e) => Some(e.target),
            Entry::React(e) | Entry::Unreact(e) => Some(e.target),
            _ => None,
        }
    }

    /// The user a `role`, `kick`, `ban`, `unban` or `invite` acts on.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Entry::Role(e) => Some(&e.subject),
            Entry::Kick(e) | Entry::Ban(e) => Some(&e.subject),
            Entry::Unban(e) | Entry::Invite(e) => Some(&e.subject),
            _ => None,
        }
    }

    /// The message, when the entry is one.
    pub fn as_message(&self) -> Option<&Message> {
        match self {
            Entry::Message(message) => Some(message),
            _ => None,
        }
    }

    /// The message, when the entry is one: what a protocol-1 reader keeps.
    pub fn into_message(self) -> Option<Message> {
        match self {
            Entry::Message(message) => Some(message),
            _ => None,
        }
    }
}

impl From<Message> for Entry {
    fn from(message: Message) -> Self {
        Entry::Message(message)
    }
}

/// The tagged wire form of every kind, for encoding (borrowed).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TaggedRef<'a> {
    Edit(&'a Edit),
    Delete(&'a Delete),
    React(&'a Reaction),
    Unreact(&'a Reaction),
    Topic(&'a TopicChange),
    Role(&'a RoleChange),
    Kick(&'a Removal),
    Ban(&'a Removal),
    Unban(&'a Admittance),
    Invite(&'a Admittance),
    Settings(&'a SettingsChange),
}

/// The tagged wire form of every kind, for decoding.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Tagged {
    Message(Message),
    Edit(Edit),
    Delete(Delete),
    React(Reaction),
    Unreact(Reaction),
    Topic(TopicChange),
    Role(RoleChange),
    Kick(Removal),
    Ban(Removal),
    Unban(Admittance),
    Invite(Admittance),
    Settings(SettingsChange),
}

impl From<Tagged> for Entry {
    fn from(tagged: Tagged) -> Self {
        match tagged {
            Tagged::Message(e) => Entry::Message(e),
            Tagged::Edit(e) => Entry::Edit(e),
            Tagged::Delete(e) => Entry::Delete(e),
            Tagged::React(e) => Entry::React(e),
            Tagged::Unreact(e) => Entry::Unreact(e),
            Tagged::Topic(e) => Entry::Topic(e),
            Tagged::Role(e) => Entry::Role(e),
            Tagged::Kick(e) => Entry::Kick(e),
            Tagged::Ban(e) => Entry::Ban(e),
            Tagged::Unban(e) => Entry::Unban(e),
            Tagged::Invite(e) => Entry::Invite(e),
            Tagged::Settings(e) => Entry::Settings(e),
        }
    }
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let tagged = match self {
            Entry::Message(message) => return message.serialize(serializer),
            Entry::Edit(e) => TaggedRef::Edit(e),
            Entry::Delete(e) => TaggedRef::Delete(e),
            Entry::React(e) => TaggedRef::React(e),
            Entry::Unreact(e) => TaggedRef::Unreact(e),
            Entry::Topic(e) => TaggedRef::Topic(e),
            Entry::Role(e) => TaggedRef::Role(e),
            Entry::Kick(e) => TaggedRef::Kick(e),
            Entry::Ban(e) => TaggedRef::Ban(e),
            Entry::Unban(e) => TaggedRef::Unban(e),
            Entry::Invite(e) => TaggedRef::Invite(e),
            Entry::Settings(e) => TaggedRef::Settings(e),
        };
        tagged.serialize(serializer)
    }
}

/// An entry as read from a page: known, or of a kind from a newer protocol.
enum PageItem {
    Known(Entry),
    /// A `type` this version does not know. Skipped, as a reader skips
    /// frame types it does not know.
    Newer,
}

fn page_item<E: de::Error>(object: Map<String, Value>) -> Result<PageItem, E> {
    let value = match object.get("type") {
        None => {
            return Message::deserialize(Value::Object(object))
                .map(|m| PageItem::Known(Entry::Message(m)))
                .map_err(E::custom);
        }
        Some(Value::String(kind)) if !ENTRY_TYPES.contains(&kind.as_str()) => {
            return Ok(PageItem::Newer);
        }
        Some(_) => Value::Object(object),
    };
    Tagged::deserialize(value)
        .map(|tagged| PageItem::Known(tagged.into()))
        .map_err(E::custom)
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = Map::deserialize(deserializer)?;
        let kind = object
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match page_item(object)? {
            PageItem::Known(entry) => Ok(entry),
            PageItem::Newer => Err(de::Error::custom(format!(
                "unknown entry type {:?}",
                kind.unwrap_or_default()
            ))),
        }
    }
}

/// `deserialize_with` for a page of entries: decodes every entry it knows
/// and leaves out those of kinds from a newer protocol.
pub(crate) fn known_entries<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Entry>, D::Error> {
    struct Page;

    impl<'de> Visitor<'de> for Page {
        type Value = Vec<Entry>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of entries")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Entry>, A::Error> {
            let mut entries = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(512));
            while let Some(object) = seq.next_element::<Map<String, Value>>()? {
                if let PageItem::Known(entry) = page_item(object)? {
                    entries.push(entry);
                }
            }
            Ok(entries)
        }
    }

    deserializer.deserialize_seq(Page)
}
