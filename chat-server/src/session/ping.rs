//! A WebSocket ping from the client. The library answers it; it still
//! takes a rate-limit token, so a ping flood is slowed like any other: the
//! session stops reading until the token is due.

use super::Session;
use super::socket::Ending;
use crate::limits::Verdict;

impl Session {
    pub(super) fn on_ping(&mut self) -> Result<(), Ending> {
        self.count_frame_in();
        if let Verdict::WaitUntil(until) = self.take_token() {
            self.hold(None, until);
        }
        Ok(())
    }
}
