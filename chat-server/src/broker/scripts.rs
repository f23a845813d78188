//! The Lua scripts the Redis broker runs and the key layout they share.
//! Each script is one atomic step on the cluster's shared state, and the
//! presence events it causes are published from inside it, so every node
//! hears them in the order the counts changed.
//!
//! Keys, under [`PREFIX`] (one Redis server per cluster: pub/sub channels
//! are not scoped by database number):
//! - `room:<room>:users`: hash, user -> how many nodes have that user in
//!   the room. `members` is its keys.
//! - `node:<node>:presence`: set of `"<room> <user>"` this node holds; a
//!   node counts once per (room, user) however many connections it has.
//! - `node:<node>:guests`: set of guest keys this node holds.
//! - `node:<node>:alive`: expires unless the node's heartbeat renews it.
//! - `node:<node>:reaped`: left by the janitor so a node that was cut off,
//!   not dead, knows to announce its users again.
//! - `nodes`: set of node ids, for the janitor to check.
//! - `guest:<folded user>`: `"<node>/<claim>"` while a guest session holds
//!   the name in any spelling (the key is lower case).
//!
//! Channels: `messages` (committed batches), `presence` (join/leave
//! events), `notices` (heartbeats and reaped nodes). Room and user names are
//! limited to `A-Z a-z 0-9 _ . -`, so they are safe inside keys and inside
//! the JSON the scripts write.

use std::sync::LazyLock;

use chat_proto::FoldedName;
use redis::Script;

pub const PREFIX: &str = "chat:";
pub const MESSAGES_CHANNEL: &str = "chat:messages";
pub const PRESENCE_CHANNEL: &str = "chat:presence";
pub const NOTICES_CHANNEL: &str = "chat:notices";
/// `typing` relayed between nodes: fire and forget, never stored.
pub const TYPING_CHANNEL: &str = "chat:typing";
/// A read marker that moved, for the user's connections on other nodes:
/// fire and forget (the marker is stored; `rooms mine` and `joined` carry
/// it to a connection that missed the frame).
pub const READ_CHANNEL: &str = "chat:read";

pub fn room_users_key(room: &str) -> String {
    format!("{PREFIX}room:{room}:users")
}

pub fn node_presence_key(node: &str) -> String {
    format!("{PREFIX}node:{node}:presence")
}

/// The key of a guest name, folded: `Dav` and `dav` are one guest name.
pub fn guest_key(user: &FoldedName) -> String {
    format!("{PREFIX}guest:{}", user.as_str())
}

/// What a guest key holds while this node's claim number `claim` has it.
pub fn guest_value(node: &str, claim: u64) -> String {
    format!("{node}/{claim}")
}

/// Applies one presence change of one node.
/// ARGV: prefix, node, room, user, entered ("1"/"0"), loud ("1"/"0"),
/// event JSON. Idempotent: entering twice or leaving twice changes nothing,
/// so a batch that failed half-way can simply be sent again.
pub static PRESENCE: LazyLock<Script> = LazyLock::new(|| Script::new(PRESENCE_CODE));

/// The source of [`PRESENCE`], for pipelines that load it before use.
pub const PRESENCE_CODE: &str = r#"
local prefix, node, room, user = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local mine = prefix .. 'node:' .. node .. ':presence'
local users = prefix .. 'room:' .. room .. ':users'
local entry = room .. ' ' .. user
if ARGV[5] == '1' then
  if redis.call('SADD', mine, entry) == 1 and redis.call('HINCRBY', users, user, 1) == 1
      and ARGV[6] == '1' then
    redis.call('PUBLISH', prefix .. 'presence', ARGV[7])
  end
elseif redis.call('SREM', mine, entry) == 1 then
  if redis.call('HINCRBY', users, user, -1) <= 0 then
    redis.call('HDEL', users, user)
    if ARGV[6] == '1' then
      redis.call('PUBLISH', prefix .. 'presence', ARGV[7])
    end
  end
end
return 1
"#;

/// Removes everything a node holds: its presence (publishing a `leave`
/// for each user whose last node it was), its guest names and its
/// registration. Shared by [`REAP_DEAD`] and [`REAP_SELF`].
const REAP_FUNCTION: &str = r#"
local function reap(prefix, node, now)
  local mine = prefix .. 'node:' .. node .. ':presence'
  for _, entry in ipairs(redis.call('SMEMBERS', mine)) do
    local cut = string.find(entry, ' ', 1, true)
    if cut then
      local room, user = string.sub(entry, 1, cut - 1), string.sub(entry, cut + 1)
      local users = prefix .. 'room:' .. room .. ':users'
      if redis.call('HINCRBY', users, user, -1) <= 0 then
        redis.call('HDEL', users, user)
        redis.call('PUBLISH', prefix .. 'presence', '{"room":"' .. room .. '","user":"' ..
          user .. '","entered":false,"ts":' .. now .. '}')
      end
    end
  end
  redis.call('DEL', mine)
  local guests = prefix .. 'node:' .. node .. ':guests'
  local owner = node .. '/'
  for _, key in ipairs(redis.call('SMEMBERS', guests)) do
    local holder = redis.call('GET', key)
    if holder and string.sub(holder, 1, #owner) == owner then
      redis.call('DEL', key)
    end
  end
  redis.call('DEL', guests, prefix .. 'node:' .. node .. ':alive')
  redis.call('SREM', prefix .. 'nodes', node)
end
"#;

/// The janitor: reaps every registered node whose `alive` key expired,
/// except the caller (a node that stalled must not reap itself: its next
/// heartbeat renews it, and others reap it if it is really gone).
/// ARGV: prefix, now (ms), how long the `reaped` mark lasts (ms), caller.
/// Returns the reaped node ids. Atomic, so janitors on several nodes never
/// reap one node twice.
pub static REAP_DEAD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{REAP_FUNCTION}
local prefix, now, mark_ttl, caller = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local reaped = {{}}
for _, node in ipairs(redis.call('SMEMBERS', prefix .. 'nodes')) do
  if node ~= caller and redis.call('EXISTS', prefix .. 'node:' .. node .. ':alive') == 0 then
    reap(prefix, node, now)
    redis.call('SET', prefix .. 'node:' .. node .. ':reaped', '1', 'PX', mark_ttl)
    redis.call('PUBLISH', prefix .. 'notices', '{{"node":"' .. node .. '","kind":"reaped"}}')
    table.insert(reaped, node)
  end
end
return reaped
"#
    ))
});

/// A node leaving the cluster on purpose. ARGV: prefix, node, now (ms).
pub static REAP_SELF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{REAP_FUNCTION}\nreap(ARGV[1], ARGV[2], ARGV[3])\nreturn 1\n"
    ))
});

/// A node's heartbeat: renews its `alive` key and registration, renews (or
/// takes back) the guest names it holds, and tells the node what it must
/// repair. ARGV: prefix, node, node ttl (ms), guest ttl (ms), then one
/// `key, value` pair per guest name the node holds.
/// Returns `{alive existed, was reaped, presence entries, [guest keys
/// another node took]}` and publishes a `beat` notice, which the node's
/// own subscriber uses to know its subscription still works.
pub static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local prefix, node = ARGV[1], ARGV[2]
local base = prefix .. 'node:' .. node
local existed = redis.call('EXISTS', base .. ':alive')
redis.call('SET', base .. ':alive', '1', 'PX', ARGV[3])
redis.call('SADD', prefix .. 'nodes', node)
local reaped = redis.call('DEL', base .. ':reaped')
local present = redis.call('SCARD', base .. ':presence')
local owner = node .. '/'
local conflicts = {}
for i = 5, #ARGV - 1, 2 do
  local key, value = ARGV[i], ARGV[i + 1]
  local holder = redis.call('GET', key)
  if (not holder) or holder == value or string.sub(holder, 1, #owner) == owner then
    redis.call('SET', key, value, 'PX', ARGV[4])
    redis.call('SADD', base .. ':guests', key)
  else
    table.insert(conflicts, key)
  end
end
redis.call('PUBLISH', prefix .. 'notices', '{"node":"' .. node .. '","kind":"beat"}')
return {existed, reaped, present, conflicts}
"#,
    )
});

/// Claims a guest name. ARGV: prefix, node, key, value, ttl (ms).
/// Returns 1 when the name is now this claim's: it was free, or held by an
/// earlier claim of this node whose release is still on its way.
pub static GUEST_CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local holder = redis.call('GET', ARGV[3])
local owner = ARGV[2] .. '/'
if (not holder) or string.sub(holder, 1, #owner) == owner then
  redis.call('SET', ARGV[3], ARGV[4], 'PX', ARGV[5])
  redis.call('SADD', ARGV[1] .. 'node:' .. ARGV[2] .. ':guests', ARGV[3])
  return 1
end
return 0
"#,
    )
});

/// Releases a guest name if this exact claim still holds it.
/// ARGV: prefix, node, key, value.
pub static GUEST_RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', ARGV[3]) == ARGV[4] then
  redis.call('DEL', ARGV[3])
  redis.call('SREM', ARGV[1] .. 'node:' .. ARGV[2] .. ':guests', ARGV[3])
end
return 1
"#,
    )
});
