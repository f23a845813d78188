// What the client keeps in localStorage: the last login name, and per user
// the joined rooms (with the newest id received and read in each) and the
// lines typed but not yet acknowledged. Never a password.

const LAST_LOGIN = "chat.lastLogin";
const VERSION = 1;

function read(key) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? null : JSON.parse(raw);
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the session still works, it only forgets
    // more on a reload.
  }
}

/** The name last logged in with, and whether it was a guest. */
export function lastLogin() {
  const saved = read(LAST_LOGIN);
  return saved && typeof saved.user === "string" ? saved : null;
}

export function saveLastLogin(user, guest) {
  write(LAST_LOGIN, { user, guest });
}

export function forgetLastLogin() {
  try {
    localStorage.removeItem(LAST_LOGIN);
  } catch {
    // Nothing to forget.
  }
}

function userKey(user) {
  return "chat.user." + user;
}

/** A user's saved state: rooms [{name, lastId, readId}] in list order,
 * the room on screen, pending lines [{ref, room, text, sent}] in typing
 * order. */
export function loadUser(user) {
  const saved = read(userKey(user));
  if (!saved || saved.version !== VERSION) return { rooms: [], current: null, pending: [] };
  return {
    rooms: Array.isArray(saved.rooms) ? saved.rooms.filter((r) => typeof r.name === "string") : [],
    current: typeof saved.current === "string" ? saved.current : null,
    pending: Array.isArray(saved.pending) ? saved.pending.filter((p) => typeof p.ref === "string") : [],
  };
}

export function saveUser(user, state) {
  write(userKey(user), { version: VERSION, ...state });
}
