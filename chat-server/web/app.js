// Entry point: logs in, ties the socket (net.js), the model (state.js)
// and the drawing (view.js) together, and maps keys and clicks to actions.

import { Connection, endpoint } from "./net.js";
import { Chat } from "./state.js";
import * as storage from "./storage.js";
import { roomName, sendable } from "./text.js";
import { View } from "./view.js";

const view = new View();

/** Login refusals, as the protocol names them, in words. */
const REFUSALS = {
  auth_failed: "Wrong password for this name (or it is registered: give its password).",
  auth_required: "This server needs an account: give a password to register or log in.",
  name_taken: "A guest with this name is already here: pick another name.",
  invalid_name: "A name is 1–32 letters, digits, _ . or -, starting with a letter, digit or _.",
};

/** The logged-in session: its model, its socket, and its redraw queue. */
let session = null;

/** Logs in as `user`. `restoring`: this is the session of an earlier
 * visit, whose guest name may still be held by its closing socket. */
function start(user, password, restoring = false) {
  stop();
  const state = { welcomedOnce: restoring, redraw: null, drawRoom: false };
  const chat = new Chat({
    user,
    saved: storage.loadUser(user),
    send: (frame) => connection.send(frame),
    changed: (what, room) => schedule(chat, what, room),
    save: (saved) => storage.saveUser(user, saved),
  });
  const connection = new Connection(endpoint(), {
    open: () => connection.send(password ? { type: "hello", user, password } : { type: "hello", user }),
    frame: (frame) => onFrame(frame),
    closed: () => {
      if (chat.welcomed) chat.onDisconnect();
    },
    state: (name, retryAt) => view.setState(name, retryAt),
  });
  view.setEndpoint(connection.url);
  session = { user, chat, connection, state };
  view.showChat();
  view.draw(chat, "all");
  // Keyboard users start where they can act: a room to join, or a line.
  (chat.current ? view.input : view.joinInput).focus();
  connection.start();
}

function stop() {
  if (!session) return;
  session.connection.stop();
  clearTimeout(session.state.redraw);
  session = null;
}

function onFrame(frame) {
  const { user, chat, connection, state } = session;
  if (chat.welcomed) {
    chat.handle(frame);
    return;
  }
  if (frame.type === "welcome") {
    chat.onWelcome(frame);
    connection.established();
    state.welcomedOnce = true;
    storage.saveLastLogin(user, frame.guest);
    view.setState("connected");
    return;
  }
  if (frame.type !== "error") return;
  // Our guest name may still be held by our own session that just
  // dropped; that clears up on its own, so keep retrying with backoff.
  if (frame.code === "name_taken" && state.welcomedOnce) return;
  stop();
  view.setState("login");
  view.showLogin(REFUSALS[frame.code] ?? frame.message ?? frame.code, user);
}

/** Coalesces the model's change notices into one redraw per task. */
function schedule(chat, what, room) {
  // A retry timer of a session that has logged out may still fire.
  if (!session || session.chat !== chat) return;
  const { state } = session;
  if (what !== "rooms" && what !== "notice" && (what === "all" || room === chat.current)) state.drawRoom = true;
  if (state.redraw !== null) return;
  state.redraw = setTimeout(() => {
    if (!session || session.chat !== chat) return;
    state.redraw = null;
    view.draw(chat, state.drawRoom ? "all" : "rooms");
    state.drawRoom = false;
    afterDraw();
  }, 0);
}

/** What the freshly drawn screen asks for: read markers and more history. */
function afterDraw() {
  const { chat } = session;
  if (!chat.current) {
    document.title = "chat";
    return;
  }
  const room = chat.rooms.get(chat.current);
  if (view.readingNewest()) chat.markRead(chat.current);
  const unread = totalUnread(chat);
  document.title = unread > 0 ? `(${unread}) chat` : "chat";
  // A short history does not fill the screen, so no scroll can ask for
  // older messages: ask now.
  if (room && view.history.scrollHeight <= view.history.clientHeight) chat.loadOlder(chat.current);
}

function totalUnread(chat) {
  let unread = 0;
  for (const room of chat.rooms.values()) unread += room.unread;
  return unread;
}

function sendInput() {
  if (!session) return;
  const text = view.input.value;
  if (!session.chat.current) {
    session.chat.setNotice("Join a room first.");
    return;
  }
  const topic = /^\/topic(?:\s([\s\S]*))?$/.exec(text.trim());
  if (topic) {
    const value = (topic[1] ?? "").trim();
    if (new TextEncoder().encode(value).length > 500) {
      session.chat.setNotice("A topic is at most 500 bytes.");
      return;
    }
    session.chat.setTopic(value, text.trim());
    view.input.value = "";
    view.fitInput();
    return;
  }
  if (!sendable(text)) {
    if (text.trim() !== "") session.chat.setNotice("A message is at most 4000 bytes.");
    return;
  }
  session.chat.say(text);
  view.input.value = "";
  view.fitInput();
}

function joinTyped() {
  const name = roomName(view.joinInput.value);
  if (!name) {
    session.chat.setNotice("A room name is 1–64 of a-z 0-9 _ . -");
    return;
  }
  view.joinInput.value = "";
  session.chat.joinRoom(name);
  view.input.focus();
}

document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const user = document.getElementById("login-name").value.trim();
  const passwordInput = document.getElementById("login-password");
  const password = passwordInput.value;
  passwordInput.value = "";
  if (user) start(user, password === "" ? null : password);
});

view.logout.addEventListener("click", () => {
  stop();
  storage.forgetLastLogin();
  view.setState("login");
  view.showLogin("", "");
});

view.joinInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.isComposing) {
    event.preventDefault();
    joinTyped();
  }
});

view.roomList.addEventListener("click", (event) => {
  const button = event.target.closest("[data-room]");
  if (button && session) {
    session.chat.show(button.dataset.room);
    view.input.focus();
  }
});

view.leave.addEventListener("click", () => {
  if (session?.chat.current) session.chat.leaveRoom(session.chat.current);
});

view.older.addEventListener("click", () => {
  if (session?.chat.current) session.chat.loadOlder(session.chat.current);
});

view.membersToggle.addEventListener("click", () => view.toggleMembers());

document.getElementById("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  sendInput();
});

view.input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendInput();
  } else if (event.key === "PageUp" || event.key === "PageDown") {
    event.preventDefault();
    const page = view.history.clientHeight * 0.9;
    view.history.scrollBy(0, event.key === "PageUp" ? -page : page);
  }
});

view.input.addEventListener("input", () => view.fitInput());

view.history.addEventListener("scroll", () => {
  if (!session?.chat.current) return;
  if (view.nearTop()) session.chat.loadOlder(session.chat.current);
  if (view.readingNewest()) session.chat.markRead(session.chat.current);
});

document.addEventListener("visibilitychange", () => {
  if (session?.chat.current && view.readingNewest()) session.chat.markRead(session.chat.current);
});

document.addEventListener("keydown", (event) => {
  if (!session || view.chat.hidden) return;
  if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
    event.preventDefault();
    const next = session.chat.neighbour(event.key === "ArrowUp" ? -1 : 1);
    if (next) session.chat.show(next);
  } else if (event.key === "Escape") {
    view.closeMembers();
    view.input.focus();
  }
});

const last = storage.lastLogin();
if (last && last.guest) {
  start(last.user, null, true);
} else {
  view.setState("login");
  view.showLogin("", last?.user ?? "");
}
