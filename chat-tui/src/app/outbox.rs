//! The outbox: requests the user made (lines typed, and any other frame
//! that makes a room entry) that the server has not acknowledged yet, each
//! with a `ref` unique to this installation across runs, kept in the saved
//! state until acknowledged.

use std::time::Instant;

use chat_proto::ClientFrame;

use crate::state::SavedPending;

/// A request the server has not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub reference: String,
    /// The room it goes to: sent only while that room is caught up.
    pub room: String,
    /// The frame exactly as sent, every time, with `reference` as its `ref`.
    pub frame: ClientFrame,
    /// For a request other than a chat line: what it asks, in words
    /// ("kicking bob"), for the line that says it was refused.
    pub what: Option<String>,
    /// When it was made (ms since the epoch), for the screen.
    pub typed_ms: i64,
    /// Sent on the current socket and not answered yet.
    pub in_flight: bool,
    /// Not to be sent again before this (after `rate_limited`).
    pub retry_at: Option<Instant>,
}

impl Pending {
    /// The text of a pending chat line; `None` for other requests.
    pub fn text(&self) -> Option<&str> {
        match &self.frame {
            ClientFrame::Message { text, .. } => Some(text),
            _ => None,
        }
    }

    /// A few words for the user about what it was: the start of the line,
    /// or what the request asks.
    pub fn describe(&self) -> String {
        match (self.text(), &self.what) {
            (Some(text), _) => crate::text::truncate(&crate::sanitize::inert(text), 40),
            (None, Some(what)) => what.clone(),
            (None, None) => format!("a {} request", self.frame.kind()),
        }
    }
}

/// Requests not acknowledged yet, in the order made, each with a unique `ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    pub entries: Vec<Pending>,
    next_ref: u64,
    /// This installation's random prefix (kept in the saved state), so no
    /// two installations, and no two runs of one, ever use the same `ref`:
    /// the counter after it is saved with every request before it is sent.
    ref_prefix: String,
}

impl Outbox {
    pub fn new(ref_prefix: impl Into<String>) -> Self {
        Self {
            entries: Vec::new(),
            next_ref: 1,
            ref_prefix: ref_prefix.into(),
        }
    }

    /// Queues the frame `make` builds around a new `ref` (it must carry
    /// that `ref`) and returns the `ref`.
    pub fn push(
        &mut self,
        room: &str,
        typed_ms: i64,
        what: Option<String>,
        make: impl FnOnce(String) -> ClientFrame,
    ) -> String {
        let reference = format!("{}{}", self.ref_prefix, self.next_ref);
        self.next_ref += 1;
        let frame = make(reference.clone());
        debug_assert_eq!(frame.reference(), Some(reference.as_str()));
        self.entries.push(Pending {
            reference: reference.clone(),
            room: room.to_owned(),
            frame,
            what,
            typed_ms,
            in_flight: false,
            retry_at: None,
        });
        reference
    }

    /// Removes and returns the entry with this `ref` (its acknowledgement).
    pub fn take_by_ref(&mut self, reference: &str) -> Option<Pending> {
        let index = self.entries.iter().position(|p| p.reference == reference)?;
        Some(self.entries.remove(index))
    }

    pub fn by_ref_mut(&mut self, reference: &str) -> Option<&mut Pending> {
        self.entries.iter_mut().find(|p| p.reference == reference)
    }

    pub fn in_room<'a>(&'a self, room: &'a str) -> impl Iterator<Item = &'a Pending> + 'a {
        self.entries.iter().filter(move |p| p.room == room)
    }

    /// The pending chat lines of a room, as the screen shows them.
    pub fn lines_in<'a>(&'a self, room: &'a str) -> impl Iterator<Item = &'a Pending> + 'a {
        self.in_room(room).filter(|p| p.text().is_some())
    }

    /// The socket is gone: nothing is in flight any more.
    pub fn connection_lost(&mut self) {
        for p in &mut self.entries {
            p.in_flight = false;
        }
    }

    /// What is saved: the prefix, the next counter and every entry.
    pub fn saved(&self) -> (String, u64, Vec<SavedPending>) {
        let entries = self
            .entries
            .iter()
            .map(|p| SavedPending {
                room: p.room.clone(),
                typed_ms: p.typed_ms,
                frame: p.frame.clone(),
                what: p.what.clone(),
            })
            .collect();
        (self.ref_prefix.clone(), self.next_ref, entries)
    }

    /// Takes back what an earlier run saved (after that run's prefix was
    /// given to [`Outbox::new`]): the counter goes on from where it was,
    /// and every saved request is pending again, not in flight. A saved
    /// frame without a `ref` could never be acknowledged and is dropped.
    pub fn restore(&mut self, next_ref: u64, saved: &[SavedPending]) {
        self.next_ref = self.next_ref.max(next_ref);
        for s in saved {
            let Some(reference) = s.frame.reference() else {
                continue;
            };
            if self.entries.iter().any(|p| p.reference == reference) {
                continue;
            }
            self.entries.push(Pending {
                reference: reference.to_owned(),
                room: s.room.clone(),
                frame: s.frame.clone(),
                what: s.what.clone(),
                typed_ms: s.typed_ms,
                in_flight: false,
                retry_at: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(room: &str, text: &str) -> impl FnOnce(String) -> ClientFrame {
        let (room, text) = (room.to_owned(), text.to_owned());
        move |r| ClientFrame::message(&room, &text, Some(r))
    }

    #[test]
    fn refs_go_on_from_the_saved_counter_with_the_saved_prefix() {
        let mut outbox = Outbox::new("t-");
        let r1 = outbox.push("lobby", 0, None, line("lobby", "hi"));
        let r2 = outbox.push("lobby", 0, None, line("lobby", "hi"));
        assert_eq!((r1.as_str(), r2.as_str()), ("t-1", "t-2"));
        assert_eq!(outbox.take_by_ref(&r1).map(|p| p.reference), Some(r1));
        let (prefix, next, saved) = outbox.saved();

        let mut again = Outbox::new(prefix);
        again.restore(next, &saved);
        assert_eq!(again.entries.len(), 1);
        assert_eq!(again.entries[0].reference, r2);
        assert_eq!(again.entries[0].text(), Some("hi"));
        assert_eq!(again.push("lobby", 0, None, line("lobby", "x")), "t-3");
    }

    #[test]
    fn any_frame_with_a_ref_can_wait_but_only_lines_are_drawn() {
        let mut outbox = Outbox::new("t-");
        outbox.push("lobby", 0, None, |r| ClientFrame::Topic {
            room: "lobby".into(),
            topic: "release day".into(),
            reference: Some(r),
        });
        outbox.push("lobby", 0, None, line("lobby", "hello"));
        assert_eq!(outbox.in_room("lobby").count(), 2);
        let drawn: Vec<_> = outbox.lines_in("lobby").filter_map(Pending::text).collect();
        assert_eq!(drawn, ["hello"]);
        assert_eq!(outbox.entries[0].describe(), "a topic request");
    }
}
