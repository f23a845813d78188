//! `hello`: admits a session as a guest or an account holder, or refuses it.

use std::fmt;

use chat_proto::{ErrorCode, ServerFrame, UserName};

use super::Context;
use super::reply::Refusal;
use super::socket::Ending;
use crate::accounts::{AccountSeat, Admission, GuestClaim, HelloError};
use crate::metrics::SessionKind;
use crate::store::Actor;

/// A `hello` with a valid user name.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Hello {
    pub(super) user: UserName,
    pub(super) password: Option<String>,
}

// By hand, so that a password never reaches a log.
impl fmt::Debug for Hello {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hello")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A logged-in session.
pub(super) struct Login {
    pub(super) user: UserName,
    /// Who the session acts as in rooms: its name, account, admin.
    pub(super) actor: Actor,
    pub(super) kind: SessionKind,
    /// Keeps a guest's name reserved while the session lives.
    _guest: Option<GuestClaim>,
    /// Counts the session against its account's cap while it lives.
    _seat: Option<AccountSeat>,
    /// Keeps the connection findable by its user (for invitations).
    _online: Online,
}

/// A connection listed under its user in the registry while it lives.
struct Online {
    registry: std::sync::Arc<crate::registry::RoomRegistry>,
    user: UserName,
    conn: crate::store::ConnId,
}

impl Drop for Online {
    fn drop(&mut self) {
        self.registry.offline(&self.user, self.conn);
    }
}

impl Hello {
    pub(super) fn parse(user: &str, password: Option<String>) -> Result<Self, Refusal> {
        let user = UserName::parse(user)
            .map_err(|e| Refusal::new(ErrorCode::InvalidName, format!("user name: {e}")))?;
        Ok(Self { user, password })
    }

    /// Welcomes the session and returns its login; `None` when the server
    /// could not decide (the client may retry), an ending when refused.
    pub(super) async fn run(self, cx: &mut Context) -> Result<Option<Login>, Ending> {
        let Hello { user, password } = self;
        if cx.shared.config.admins.contains(&user) {
            let store = cx.shared.store.clone();
            match admin_name_refusal(store, &user, password.is_some()).await {
                Ok(None) => {}
                Ok(Some(refusal)) => {
                    cx.replies.refuse(refusal);
                    return Err(Ending::Refused);
                }
                Err(e) => {
                    tracing::error!(peer = %cx.peer, error = %e, "hello failed");
                    cx.replies.error(
                        ErrorCode::Internal,
                        "the server could not check this hello; retry",
                    );
                    return Ok(None);
                }
            }
        }
        let admission = cx.shared.accounts.admit(&user, password, cx.peer);
        let refusal = match admission.await {
            Ok(admission) => return Ok(Some(welcome(cx, user, admission))),
            Err(
                e @ (HelloError::AuthFailed
                | HelloError::PasswordRequired
                | HelloError::EmptyPassword),
            ) => Refusal::new(ErrorCode::AuthFailed, e.to_string()),
            Err(e @ HelloError::AuthRequired) => {
                Refusal::new(ErrorCode::AuthRequired, e.to_string())
            }
            Err(e @ (HelloError::NameTaken | HelloError::RegisteredAs(_))) => {
                Refusal::new(ErrorCode::NameTaken, e.to_string())
            }
            Err(HelloError::Refused(limit)) => {
                // A login limit: the connection stays open for a later hello.
                let reference = cx.replies.reference().map(str::to_owned);
                cx.replies.send(&limit.to_frame(reference));
                return Ok(None);
            }
            Err(e @ (HelloError::Store(_) | HelloError::Broker(_) | HelloError::Hashing(_))) => {
                tracing::error!(peer = %cx.peer, error = %e, "hello failed");
                cx.replies.error(
                    ErrorCode::Internal,
                    "the server could not check this hello; retry",
                );
                return Ok(None);
            }
        };
        cx.replies.refuse(refusal);
        Err(Ending::Refused)
    }
}

/// An admin's name is never a guest's (`name_taken`), and its account is
/// made only by the operator (`chat-server user add`), never by a hello.
async fn admin_name_refusal(
    store: std::sync::Arc<dyn crate::store::MessageStore>,
    user: &UserName,
    has_password: bool,
) -> Result<Option<Refusal>, crate::store::StoreError> {
    if !has_password {
        return Ok(Some(Refusal::new(
            ErrorCode::NameTaken,
            "this name belongs to a server admin",
        )));
    }
    let registered = store.password_hash(user).await?.is_some();
    Ok((!registered).then(|| {
        Refusal::new(
            ErrorCode::AuthFailed,
            "a server admin's account is made by the operator, not by hello",
        )
    }))
}

/// Welcomes the session under its name: a guest's as its hello spelled
/// it, an account's as it was first registered.
fn welcome(cx: &Context, hello_user: UserName, admission: Admission) -> Login {
    let (user, kind, guest, registered, seat) = match admission {
        Admission::Guest(claim) => (hello_user, SessionKind::Guest, Some(claim), false, None),
        Admission::Account {
            user,
            registered,
            seat,
        } => (user, SessionKind::Account, None, registered, Some(seat)),
    };
    cx.shared.metrics.session_started(kind);
    let admin = guest.is_none() && cx.shared.config.admins.contains(&user);
    let actor = Actor {
        name: user.clone(),
        registered: guest.is_none(),
        admin,
    };
    let welcome = ServerFrame::Welcome {
        user: user.to_string(),
        guest: guest.is_some(),
        registered,
        protocol: chat_proto::limits::PROTOCOL_2,
        server: crate::SERVER_NAME.to_owned(),
        admin,
    };
    // With the welcome, so a conversation entry committed once the client
    // has it reaches this connection too.
    cx.shared
        .registry
        .online(&user, cx.conn, cx.replies.outbox(), || {
            cx.replies.send(&welcome)
        });
    tracing::debug!(peer = %cx.peer, user = %user, ?kind, "session started");
    let online = Online {
        registry: cx.shared.registry.clone(),
        user: user.clone(),
        conn: cx.conn,
    };
    Login {
        _online: online,
        user,
        actor,
        kind,
        _guest: guest,
        _seat: seat,
    }
}
