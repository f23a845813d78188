//! Who is typing in a room, and until when that is shown.

use std::time::{Duration, Instant};

use chat_proto::limits::{TYPING_RELAY_INTERVAL_MS, TYPING_SHOWN_MS};

/// How long "is typing" stays up unless the user's next `typing` renews it.
pub const TYPING_SHOWN: Duration = Duration::from_millis(TYPING_SHOWN_MS);
/// At most one `typing` of ours per room this often: the server relays no
/// more than that anyway.
pub const TYPING_SEND_INTERVAL: Duration = Duration::from_millis(TYPING_RELAY_INTERVAL_MS);

/// One user typing, shown until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typist {
    pub user: String,
    pub until: Instant,
}

/// The users typing in one room, in the order they started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Typing {
    pub typists: Vec<Typist>,
}

impl Typing {
    /// `user` typed at `now`: shown (again) for [`TYPING_SHOWN`].
    pub fn renew(&mut self, user: &str, now: Instant) {
        let until = now + TYPING_SHOWN;
        match self.typists.iter_mut().find(|t| t.user == user) {
            Some(typist) => typist.until = until,
            None => self.typists.push(Typist {
                user: user.to_owned(),
                until,
            }),
        }
    }

    /// `user`'s message arrived: what they typed is there now.
    pub fn stop(&mut self, user: &str) -> bool {
        let before = self.typists.len();
        self.typists.retain(|t| t.user != user);
        before != self.typists.len()
    }

    /// Forgets who has not typed for [`TYPING_SHOWN`]; returns whether
    /// anyone was forgotten.
    pub fn expire(&mut self, now: Instant) -> bool {
        let before = self.typists.len();
        self.typists.retain(|t| t.until > now);
        before != self.typists.len()
    }

    /// The line above the input: "bob is typing…", "bob and carol are
    /// typing…", "bob, carol and dave are typing…"; `None` when nobody is
    /// (still) typing at `now`.
    pub fn line(&self, now: Instant) -> Option<String> {
        let names: Vec<String> = self
            .typists
            .iter()
            .filter(|t| t.until > now)
            .map(|t| crate::sanitize::inert(&t.user))
            .collect();
        match names.as_slice() {
            [] => None,
            [one] => Some(format!("{one} is typing…")),
            [rest @ .., last] => Some(format!("{} and {last} are typing…", rest.join(", "))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_is_shown_renewed_and_expires() {
        let t0 = Instant::now();
        let mut typing = Typing::default();
        assert_eq!(typing.line(t0), None);
        typing.renew("bob", t0);
        assert_eq!(typing.line(t0).as_deref(), Some("bob is typing…"));
        typing.renew("carol", t0 + Duration::from_secs(1));
        typing.renew("dave", t0 + Duration::from_secs(1));
        assert_eq!(
            typing.line(t0 + Duration::from_secs(2)).as_deref(),
            Some("bob, carol and dave are typing…")
        );
        typing.renew("bob", t0 + Duration::from_secs(5));
        let later = t0 + Duration::from_millis(6_500);
        assert_eq!(
            typing.line(later).as_deref(),
            Some("bob, carol and dave are typing…")
        );
        assert!(typing.stop("dave"));
        assert!(!typing.stop("dave"));
        let later = t0 + Duration::from_millis(7_000);
        assert!(typing.expire(later));
        assert_eq!(typing.line(later).as_deref(), Some("bob is typing…"));
        assert!(typing.expire(t0 + Duration::from_secs(11)));
        assert_eq!(typing.line(t0 + Duration::from_secs(11)), None);
    }
}
