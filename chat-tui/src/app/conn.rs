//! Where the connection stands, as the user sees it in the status line.

use std::time::Instant;

/// Where the connection stands, as the user sees it in the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// Opening the socket.
    Connecting,
    /// Socket open, `hello` sent, no `welcome` yet. The epoch numbers the
    /// socket so frames meant for an older one are never sent on a newer one.
    Handshaking {
        epoch: u64,
    },
    Online {
        epoch: u64,
        guest: bool,
    },
    /// Disconnected; the network task retries at `retry_at`.
    Waiting {
        retry_at: Instant,
        reason: String,
    },
    /// The server refused the login; nothing happens until the user gives a
    /// password.
    NeedPassword {
        reason: String,
    },
}

impl ConnState {
    /// The socket epoch frames may be sent on, if any.
    pub fn epoch(&self) -> Option<u64> {
        match self {
            ConnState::Handshaking { epoch } | ConnState::Online { epoch, .. } => Some(*epoch),
            _ => None,
        }
    }

    pub fn is_online(&self) -> bool {
        matches!(self, ConnState::Online { .. })
    }

    /// Online as a guest (no account: no conversations, no read markers
    /// kept by the server).
    pub fn is_guest(&self) -> bool {
        matches!(self, ConnState::Online { guest: true, .. })
    }
}
