//! A WebSocket ping from the client. The library answers it; it still
//! takes a rate-limit token, so a ping flood ends like any other flood.

use super::Session;
use super::socket::Ending;
use crate::limits::Verdict;

impl Session {
    pub(super) fn on_ping(&mut self) -> Result<(), Ending> {
        self.count_frame_in();
        match self.take_token() {
            Verdict::Flooding => Err(Ending::Flooding),
            Verdict::Allowed | Verdict::Dropped => Ok(()),
        }
    }
}
