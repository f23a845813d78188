//! The content half of exactly once: a request that carries a `ref` is
//! stored with that `ref` and a [`Fingerprint`] of its content, and a
//! later request from the same user to the same room with the same `ref`
//! and the same fingerprint is the same request (see `docs/protocol.md`).
//!
//! The fingerprint is BLAKE2b-128 over a versioned, length-prefixed
//! encoding: the entry's kind, then each field the contract defines for
//! that request, in a fixed order, with an absent field kept distinct
//! from an empty one. The room and the user are not in it: they are
//! columns of the key, already folded. A fingerprint is kept where the
//! content may be erased, so it must never let the text be read back;
//! a cryptographic hash is what makes that so.

use blake2::digest::consts::U16;
use blake2::{Blake2b, Digest};

use super::rows::EntryRow;
use super::{Change, NewEntry};

/// BLAKE2b with a 16-byte output.
type Blake2b128 = Blake2b<U16>;

/// Changes whenever the encoding below changes, so an old fingerprint can
/// never equal a new one by accident.
const ENCODING_VERSION: u8 = 1;

// Field tags: each field is tagged, so no two encodings of different
// content run together into the same bytes.
const ABSENT: u8 = 0;
const TEXT: u8 = 1;
const FLAG: u8 = 2;
const ID: u8 = 3;

/// 16 bytes that stand for a request's content.
pub(crate) type Fingerprint = [u8; 16];

struct Encoder(Blake2b128);

impl Encoder {
    fn new(kind: i64) -> Self {
        let mut hash = Blake2b128::new();
        hash.update([ENCODING_VERSION]);
        hash.update(kind.to_le_bytes());
        Self(hash)
    }

    fn text(&mut self, text: &str) -> &mut Self {
        self.0.update([TEXT]);
        // usize is at most 64 bits on every target Rust supports.
        self.0.update((text.len() as u64).to_le_bytes());
        self.0.update(text.as_bytes());
        self
    }

    fn optional_text(&mut self, text: Option<&str>) -> &mut Self {
        match text {
            Some(text) => self.text(text),
            None => {
                self.0.update([ABSENT]);
                self
            }
        }
    }

    fn id(&mut self, id: u64) -> &mut Self {
        self.0.update([ID]);
        self.0.update(id.to_le_bytes());
        self
    }

    fn optional_id(&mut self, id: Option<u64>) -> &mut Self {
        match id {
            Some(id) => self.id(id),
            None => {
                self.0.update([ABSENT]);
                self
            }
        }
    }

    fn flag(&mut self, on: bool) -> &mut Self {
        self.0.update([FLAG, u8::from(on)]);
        self
    }

    fn finish(self) -> Fingerprint {
        self.0.finalize().into()
    }
}

/// The fingerprint of a change's content; `None` for a change that
/// leaves no entry (deleting the room), which has nothing to find again.
///
/// Every field of every kind is listed here: a kind or a field added to
/// [`Change`] must be added below (the match is exhaustive), or two
/// requests that differ in it would read as one.
pub(crate) fn fingerprint(change: &Change) -> Option<Fingerprint> {
    let kind = EntryRow::of(change)?.kind;
    let mut encoder = Encoder::new(kind);
    match change {
        Change::Message {
            text,
            reply_to,
            action,
        } => encoder.text(text).optional_id(*reply_to).flag(*action),
        Change::Edit { target, text } => encoder.id(*target).text(text),
        Change::Delete { target } => encoder.id(*target),
        Change::React { target, emoji } | Change::Unreact { target, emoji } => {
            encoder.id(*target).text(emoji)
        }
        Change::Topic { topic } => encoder.text(topic),
        Change::Role { subject, role } => {
            encoder.text(subject.folded().as_str()).text(role.as_str())
        }
        Change::Kick { subject, reason } | Change::Ban { subject, reason } => encoder
            .text(subject.folded().as_str())
            .optional_text(reason.as_deref()),
        Change::Unban { subject } | Change::Invite { subject } => {
            encoder.text(subject.folded().as_str())
        }
        Change::Settings { private } => encoder.flag(*private),
        Change::DeleteRoom => return None,
    };
    Some(encoder.finish())
}

/// What finds a request sent before: its `ref`, its author's folded name
/// and its content's fingerprint, the key of the `entries_ref` index (the
/// room is the row's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResendKey {
    pub reference: String,
    pub user: String,
    pub fingerprint: Fingerprint,
}

impl ResendKey {
    /// `None` for a request without a `ref`, or one that leaves no entry.
    pub(crate) fn of(entry: &NewEntry) -> Option<Self> {
        let reference = entry.reference.clone()?;
        Some(Self {
            fingerprint: fingerprint(&entry.change)?,
            user: entry.actor.name.folded().as_str().to_owned(),
            reference,
        })
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::{Role, UserName};

    use super::*;

    fn name(raw: &str) -> UserName {
        UserName::parse(raw).unwrap()
    }

    fn message(text: &str) -> Change {
        Change::message(text)
    }

    /// Fingerprints are stored: a resend after an upgrade is found only
    /// if the same content still gives the same 16 bytes. The first value
    /// is also what Python's `hashlib.blake2b(digest_size=16)` gives for
    /// the encoding written out by hand (version 1, kind 0, text "hi",
    /// no reply, no action).
    #[test]
    fn stored_fingerprints_keep_their_value() {
        let hex = |change: &Change| -> String {
            fingerprint(change)
                .unwrap()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        let ban = Change::Ban {
            subject: name("Bob"),
            reason: Some("spam".into()),
        };
        assert_eq!(hex(&message("hi")), "b2ad334efafc4e0ca9f4d37e5db77481");
        assert_eq!(hex(&ban), "e2d0da1bdaa7722a7061c02556e231a6");
    }

    #[test]
    fn the_same_content_has_one_fingerprint_and_any_difference_another() {
        assert_eq!(fingerprint(&message("hi")), fingerprint(&message("hi")));
        assert_ne!(fingerprint(&message("hi")), fingerprint(&message("hi ")));
        // The kind counts: a topic "hi" is not a message "hi".
        let topic = Change::Topic { topic: "hi".into() };
        assert_ne!(fingerprint(&message("hi")), fingerprint(&topic));
        // A subject counts regardless of case, as names do.
        let kick = |subject: &str, reason: Option<&str>| Change::Kick {
            subject: name(subject),
            reason: reason.map(str::to_owned),
        };
        assert_eq!(
            fingerprint(&kick("Bob", None)),
            fingerprint(&kick("bob", None))
        );
        // No reason is not an empty reason.
        assert_ne!(
            fingerprint(&kick("bob", None)),
            fingerprint(&kick("bob", Some("")))
        );
        let ban = Change::Ban {
            subject: name("bob"),
            reason: None,
        };
        assert_ne!(fingerprint(&kick("bob", None)), fingerprint(&ban));
        let role = |role| Change::Role {
            subject: name("bob"),
            role,
        };
        assert_ne!(
            fingerprint(&role(Role::Op)),
            fingerprint(&role(Role::Member))
        );
        let settings = |private| Change::Settings { private };
        assert_ne!(fingerprint(&settings(true)), fingerprint(&settings(false)));
        assert_eq!(fingerprint(&Change::DeleteRoom), None);
    }

    #[test]
    fn fixing_a_message_counts_its_target_and_each_field() {
        let reply = |reply_to, action| Change::Message {
            text: "hi".into(),
            reply_to,
            action,
        };
        assert_ne!(
            fingerprint(&message("hi")),
            fingerprint(&reply(Some(1), false))
        );
        assert_ne!(
            fingerprint(&reply(Some(1), false)),
            fingerprint(&reply(Some(2), false))
        );
        assert_ne!(fingerprint(&message("hi")), fingerprint(&reply(None, true)));
        let edit = |target| Change::Edit {
            target,
            text: "hi".into(),
        };
        assert_ne!(fingerprint(&edit(1)), fingerprint(&edit(2)));
        assert_ne!(fingerprint(&edit(1)), fingerprint(&message("hi")));
        let react = Change::React {
            target: 1,
            emoji: "👍".into(),
        };
        let unreact = Change::Unreact {
            target: 1,
            emoji: "👍".into(),
        };
        assert_ne!(fingerprint(&react), fingerprint(&unreact));
        assert_ne!(
            fingerprint(&Change::Delete { target: 1 }),
            fingerprint(&Change::Delete { target: 2 })
        );
    }

    #[test]
    fn fields_do_not_run_together() {
        // Length prefixes: ("ab", None) and ("a", Some("b")) differ.
        let kick = |subject: &str, reason: Option<&str>| Change::Kick {
            subject: name(subject),
            reason: reason.map(str::to_owned),
        };
        assert_ne!(
            fingerprint(&kick("ab", None)),
            fingerprint(&kick("a", Some("b")))
        );
    }
}
