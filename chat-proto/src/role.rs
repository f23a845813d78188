//! A user's role in a room: `owner`, `op` or `member`, as the wire and the
//! stores spell it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A role in a room, ordered by rank: `Member < Op < Owner`. Server admins
/// are not a role: they are named by the operator and rank above all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Op,
    Owner,
}

/// A role name outside `owner`, `op` and `member`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be owner, op or member, not {0:?}")]
pub struct RoleError(pub String);

impl Role {
    /// The role as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Op => "op",
            Role::Owner => "owner",
        }
    }

    /// Parses a role exactly as spelled on the wire (lower case).
    pub fn parse(raw: &str) -> Result<Self, RoleError> {
        match raw {
            "member" => Ok(Role::Member),
            "op" => Ok(Role::Op),
            "owner" => Ok(Role::Owner),
            other => Err(RoleError(other.to_owned())),
        }
    }
}

impl FromStr for Role {
    type Err = RoleError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Role::parse(raw)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_as_spelled_on_the_wire() {
        for role in [Role::Member, Role::Op, Role::Owner] {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{role}\""));
        }
        for bad in ["admin", "Op", "OWNER", "", " op"] {
            assert_eq!(Role::parse(bad), Err(RoleError(bad.to_owned())));
        }
    }

    #[test]
    fn roles_rank_member_op_owner() {
        assert!(Role::Member < Role::Op);
        assert!(Role::Op < Role::Owner);
    }
}
