// Drawing: reads the model and writes the DOM. Every piece of network text
// (names, messages, room names) goes in through textContent after inert();
// nothing here ever parses a string as HTML.

import { inert, longTime, mentions, shortTime, userHue } from "./text.js";

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A room event (topic, role, kick, ban, unban, invite, settings) in
 * words; names and reasons still go through inert() and textContent. */
export function eventText(entry) {
  const by = inert(entry.user);
  const subject = inert(entry.subject ?? "");
  const reason = entry.reason ? ": " + inert(entry.reason) : "";
  switch (entry.type) {
    case "topic":
      return entry.topic === "" ? `${by} cleared the topic` : `${by} set the topic: ${inert(entry.topic)}`;
    case "role":
      if (entry.role === "owner") return `${by} handed the room to ${subject}`;
      return `${by} made ${subject} ${entry.role === "op" ? "an op" : "a member"}`;
    case "kick":
      return `${subject} was kicked by ${by}${reason}`;
    case "ban":
      return `${subject} was banned by ${by}${reason}`;
    case "unban":
      return `${subject} was unbanned by ${by}`;
    case "invite":
      return `${by} invited ${subject}`;
    case "settings":
      return `the room is now ${entry.private ? "private" : "public"} (set by ${by})`;
    default:
      return `${by}: ${inert(entry.type)}`;
  }
}

/** Why the user is out of a room, in words. */
function leftText(left) {
  const reason = left.reason ? ": " + inert(left.reason) : "";
  return `You were ${left.banned ? "banned" : "kicked"} by ${inert(left.by)}${reason}. Join it again to go back in.`;
}

/** How close to the bottom (px) still counts as "reading the newest". */
const BOTTOM_SLACK = 40;

export class View {
  constructor() {
    this.login = $("login");
    this.loginError = $("login-error");
    this.chat = $("chat");
    this.state = document.querySelector('[data-test="connection-state"]');
    this.me = $("me");
    this.logout = $("logout");
    this.roomList = document.querySelector('[data-test="room-list"]');
    this.roomName = $("room-name");
    this.membersToggle = $("members-toggle");
    this.members = $("members");
    this.memberList = $("member-list");
    this.leave = $("leave");
    this.topic = $("room-topic");
    this.left = $("room-left");
    this.history = $("history");
    this.older = $("older");
    this.messages = document.querySelector('[data-test="message-list"]');
    this.notice = $("notice");
    this.input = $("message-input");
    this.joinInput = $("join-room");
    /** Which room the message list shows, to know when to jump to its end. */
    this.shownRoom = null;
    /** Elements of drawn items, reused between redraws. */
    this.nodes = new WeakMap();
    this.retryAt = null;
    this.ticker = null;
  }

  showLogin(error, name) {
    this.chat.hidden = true;
    this.logout.hidden = true;
    this.login.hidden = false;
    this.loginError.textContent = error ?? "";
    this.me.textContent = "";
    const nameInput = $("login-name");
    if (name !== undefined) nameInput.value = name;
    (nameInput.value ? $("login-password") : nameInput).focus();
  }

  showChat() {
    this.login.hidden = true;
    this.chat.hidden = false;
    this.logout.hidden = false;
  }

  /** The connection line: "connected", "reconnecting in 3s", … */
  /** The WebSocket URL the state is about: shown on hover, and there for
   * a test to check the page's scheme (ws: or wss:) against. */
  setEndpoint(url) {
    this.state.dataset.endpoint = url;
    this.state.title = url;
  }

  setState(state, retryAt) {
    this.state.dataset.state = state;
    clearInterval(this.ticker);
    this.ticker = null;
    if (state === "reconnecting" && retryAt) {
      const tick = () => {
        const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
        this.state.textContent = `reconnecting in ${seconds}s`;
      };
      tick();
      this.ticker = setInterval(tick, 1000);
    } else {
      this.state.textContent = {
        connecting: "connecting…",
        connected: "connected",
        offline: "not connected",
        login: "not connected",
      }[state] ?? state;
    }
  }

  /** Redraws what `what` touched; "all" redraws everything. */
  draw(chat, what) {
    this.me.textContent = inert(chat.user) + (chat.guest ? " (guest)" : "");
    this.notice.textContent = inert(chat.notice);
    this.drawRooms(chat);
    if (what !== "rooms" && what !== "notice") this.drawRoom(chat);
  }

  drawRooms(chat) {
    const items = [];
    for (const room of chat.rooms.values()) {
      const button = el("button", "room-button");
      button.type = "button";
      button.dataset.room = room.name;
      button.dataset.unread = String(room.unread);
      if (room.name === chat.current) button.setAttribute("aria-current", "page");
      button.dataset.left = String(Boolean(room.left));
      button.append(el("span", "room-name", "#" + room.name));
      if (room.left) button.title = "you are out of this room";
      if (room.mentions > 0) {
        const mark = el("span", "mention", "@" + room.mentions);
        mark.title = `${room.mentions} mentioning you`;
        button.append(mark);
      }
      if (room.unread > 0) {
        const badge = el("span", "unread", String(room.unread));
        badge.title = `${room.unread} unread`;
        button.append(badge);
      }
      const li = el("li");
      li.append(button);
      items.push(li);
    }
    this.roomList.replaceChildren(...items);
  }

  drawRoom(chat) {
    const room = chat.current ? chat.rooms.get(chat.current) : null;
    this.leave.hidden = !room;
    this.roomName.textContent = room ? "#" + room.name : "no room: join one";
    const members = room ? [...room.members].sort() : [];
    this.membersToggle.textContent = room ? `${members.length} here` : "";
    this.membersToggle.hidden = !room;
    this.memberList.replaceChildren(...members.map((m) => this.userLine(m)));
    this.drawRoomHead(room);
    this.older.hidden = !(room && room.moreBefore && room.joined);
    this.older.textContent = room && room.loadingOlder ? "Loading…" : "Load older messages";

    const list = this.history;
    const switched = this.shownRoom !== (room ? room.name : null);
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < BOTTOM_SLACK;
    const firstBefore = this.messages.firstElementChild;
    const topBefore = firstBefore ? firstBefore.getBoundingClientRect().top : 0;

    const nodes = [];
    if (room) {
      for (const item of room.items) nodes.push(this.itemNode(chat, item));
      for (const line of chat.pendingIn(room.name)) nodes.push(this.pendingNode(chat, line));
    }
    this.messages.replaceChildren(...nodes);
    this.shownRoom = room ? room.name : null;
    // For tests and assistive tools: which room the list shows, and
    // whether it has caught up with the server.
    this.messages.dataset.shownRoom = room ? room.name : "";
    this.messages.dataset.caughtUp = String(Boolean(room && room.joined && !room.catchingUp));

    if (switched || atBottom) {
      list.scrollTop = list.scrollHeight;
    } else if (firstBefore && firstBefore.isConnected) {
      // Older messages went in above: keep what was on screen in place.
      list.scrollTop += firstBefore.getBoundingClientRect().top - topBefore;
    }
  }

  /** The title bar (topic, privacy, the user's role) and why the user is
   * out of the room, when a kick or ban put them out. */
  drawRoomHead(room) {
    this.topic.hidden = !room || room.topic === null;
    if (!this.topic.hidden) {
      const topic = el("span", "topic", room.topic === "" ? "no topic" : inert(room.topic));
      const facts = [room.private ? "private" : "public"];
      if (room.role) facts.push(`you: ${room.role}`);
      this.topic.replaceChildren(topic, el("span", "facts", facts.join(" · ")));
    }
    this.left.hidden = !(room && room.left);
    this.left.textContent = room && room.left ? leftText(room.left) : "";
  }

  userLine(user) {
    const li = el("li", "member", inert(user));
    li.style.setProperty("--hue", String(userHue(user)));
    return li;
  }

  itemNode(chat, item) {
    let node = this.nodes.get(item);
    if (node) return node;
    if (item.kind === "presence") {
      node = el("li", "presence");
      node.append(el("time", "time", shortTime(item.ts)));
      node.append(el("span", "text", `${inert(item.user)} ${item.joined ? "joined" : "left"}`));
    } else if (item.kind === "event") {
      node = el("li", "event");
      node.dataset.id = String(item.id);
      node.dataset.type = item.type;
      const time = el("time", "time", shortTime(item.ts));
      time.title = longTime(item.ts);
      // The actor's cell stays empty: the sentence names everyone.
      const text = el("span", "text", eventText(item));
      text.dataset.test = "text";
      node.append(time, el("span", "user", ""), text);
    } else {
      node = this.messageNode(chat, item);
      node.dataset.id = String(item.id);
    }
    this.nodes.set(item, node);
    return node;
  }

  messageNode(chat, message) {
    const node = el("li", "msg");
    const time = el("time", "time", shortTime(message.ts));
    time.dateTime = new Date(message.ts).toISOString();
    time.title = longTime(message.ts);
    const user = el("span", "user", inert(message.user));
    user.style.setProperty("--hue", String(userHue(message.user)));
    // The text cell holds the text itself (what tests and copy-paste
    // read) and, beside it, the marks a fix leaves: edited, reactions.
    const cell = el("span", "text");
    const text = el("span", "body", message.deleted ? "message deleted" : inert(message.text));
    text.dataset.test = "text";
    cell.append(text);
    if (message.deleted) node.classList.add("deleted");
    if (message.edited && !message.deleted) {
      const edited = el("span", "edited", "(edited)");
      edited.title = `edited ${longTime(message.edited)}`;
      edited.dataset.test = "edited";
      cell.append(edited);
    }
    const reactions = Object.entries(message.reactions ?? {}).filter(([, users]) => users.length > 0);
    if (reactions.length > 0) {
      const list = el("span", "reactions");
      list.dataset.test = "reactions";
      for (const [emoji, users] of reactions) {
        const one = el("span", "reaction", `${inert(emoji)} ${users.length}`);
        one.title = users.map(inert).join(", ");
        list.append(one);
      }
      cell.append(list);
    }
    node.append(time, user, cell);
    if (message.user === chat.user) node.classList.add("mine");
    else if (!message.deleted && mentions(message.text, chat.user)) node.classList.add("mentions-me");
    return node;
  }

  pendingNode(chat, line) {
    const drawn = this.nodes.get(line);
    if (drawn) return drawn;
    const node = this.messageNode(chat, { user: chat.user, text: line.text, ts: Date.now() });
    this.nodes.set(line, node);
    node.classList.add("pending");
    node.dataset.ref = line.ref;
    node.title = "not yet stored by the server";
    return node;
  }

  /** Whether the newest message of the shown room is on screen. */
  readingNewest() {
    const list = this.history;
    return (
      document.visibilityState === "visible" &&
      list.scrollHeight - list.scrollTop - list.clientHeight < BOTTOM_SLACK
    );
  }

  /** Whether the oldest loaded message is (nearly) in view. */
  nearTop() {
    return this.history.scrollTop < BOTTOM_SLACK;
  }

  /** On a narrow screen the members list drops down under its button. */
  toggleMembers() {
    const open = this.members.classList.toggle("open");
    this.membersToggle.setAttribute("aria-expanded", String(open));
    if (open) this.members.style.top = this.membersToggle.getBoundingClientRect().bottom + 6 + "px";
  }

  closeMembers() {
    this.members.classList.remove("open");
    this.membersToggle.setAttribute("aria-expanded", "false");
  }

  /** Grows the input with its lines, up to a few. */
  fitInput() {
    const input = this.input;
    input.style.height = "auto";
    const full = input.scrollHeight + (input.offsetHeight - input.clientHeight);
    input.style.height = Math.min(full, 160) + "px";
    input.style.overflowY = full > 160 ? "auto" : "hidden";
  }
}
