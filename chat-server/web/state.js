// The client's model: rooms, their messages, presence, unread counts and
// the lines waiting for the server's acknowledgement, and the catch-up
// rules that make a reconnect show every message once (docs/client.md).
// It never touches the DOM or the socket: frames to send go out through
// `send`, and `changed` tells the view what to draw again.

import { mentions } from "./text.js";

/** The newest page of a fresh join (the server's default) and the page
 * size of a catch-up (the server's maximum). */
const FRESH_PAGE = 50;
const CATCH_UP_PAGE = 500;
/** Older messages asked for per scroll-back. */
const OLDER_PAGE = 50;
/** The most messages kept per room; older ones are dropped and can be
 * fetched again by scrolling back. */
const MAX_KEPT = 5000;
/** How long a line refused with rate_limited or internal waits before it
 * is sent again. */
const RETRY_MS = 2000;

function newRef() {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return "w" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether a history entry is a message: protocol 1 entries have no
 * `type`, protocol 2 ones say "message". */
function isMessage(entry) {
  return (entry.type === undefined || entry.type === "message") && typeof entry.text === "string";
}

/** Protocol-2 entries about the room itself, drawn as system lines. */
export const ROOM_EVENTS = new Set(["topic", "role", "kick", "ban", "unban", "invite", "settings"]);

/** Protocol-2 entries that change a message already shown: applied to
 * it, not drawn as lines of their own. */
export const FIXES = new Set(["edit", "delete", "react", "unreact"]);

/** Whether a history entry is one of FIXES. */
function isFix(entry) {
  return FIXES.has(entry.type) && typeof entry.target === "number";
}

/** A message as `fix` leaves it. Applying a fix twice changes nothing, so
 * pages and live entries may overlap. */
function fixed(message, fix) {
  const reactions = { ...(message.reactions ?? {}) };
  const users = reactions[fix.emoji] ?? [];
  switch (fix.type) {
    case "edit":
      return message.deleted ? message : { ...message, text: fix.text, edited: fix.ts };
    case "delete":
      return { ...message, text: "", deleted: true, reactions: {} };
    case "react":
      if (message.deleted || users.some((u) => sameName(u, fix.user))) return message;
      return { ...message, reactions: { ...reactions, [fix.emoji]: [...users, fix.user] } };
    case "unreact": {
      const left = users.filter((u) => !sameName(u, fix.user));
      if (left.length === users.length) return message;
      if (left.length === 0) delete reactions[fix.emoji];
      else reactions[fix.emoji] = left;
      return { ...message, reactions };
    }
    default:
      return message;
  }
}

/** Whether a history entry is one of ROOM_EVENTS. */
function isRoomEvent(entry) {
  return ROOM_EVENTS.has(entry.type) && typeof entry.user === "string";
}

/** Server names are unique regardless of case (protocol 2). */
function sameName(a, b) {
  return typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
}

/** The server's refusals of a `/topic`, in words. */
const TOPIC_REFUSALS = {
  forbidden: "only the room's owner and ops may set it",
  not_found: "no such room",
  unchanged: "that is the topic already",
  invalid_text: "a topic is at most 500 bytes",
};

class Room {
  constructor(name, saved) {
    this.name = name;
    /** Messages and presence lines in display order; messages by id. */
    this.items = [];
    this.ids = new Set();
    /** The newest message id this page holds: where a catch-up resumes. */
    this.lastId = saved?.readId ?? 0;
    /** The newest id the user has seen on screen. */
    this.readId = saved?.readId ?? 0;
    /** Whether the server has messages older than the oldest we hold. */
    this.moreBefore = this.readId > 0;
    this.members = new Set();
    /** What `joined` said of the room (protocol 2), kept current by the
     * entries after it; topic null: the server did not say. */
    this.topic = null;
    this.owner = null;
    this.ops = new Set();
    this.private = false;
    this.role = null;
    /** The id whose state topic…role describe: an entry changes them only
     * when newer, so each applies once and in id order. */
    this.stateId = 0;
    /** Why the room was left without the user asking (a kick or a ban), as
     * {by, reason, banned}; such a room is not joined again on reconnect. */
    this.left = saved?.left ?? null;
    this.unread = 0;
    this.mentions = 0;
    this.resetConnection();
  }

  /** Forgets everything tied to one connection. */
  resetConnection() {
    this.joined = false;
    this.catchingUp = false;
    /** `since` of the join in flight, or null for a fresh join. */
    this.since = null;
    /** Live messages that arrived during the catch-up, shown after it. */
    this.held = [];
    /** Kinds ("before" / "after") of the history requests in flight, in
     * the order the server answers them. */
    this.requests = [];
    this.loadingOlder = false;
  }

  oldestId() {
    const first = this.items.find((i) => i.id !== undefined);
    return first ? first.id : this.lastId + 1;
  }

  /** Inserts a message or room event in id order unless it is already
   * here. */
  insert(message) {
    if (this.ids.has(message.id)) return false;
    this.ids.add(message.id);
    const item = { kind: isMessage(message) ? "message" : "event", ...message };
    // Before the first entry with a greater id, so presence lines stay
    // where they happened; scanning from the end makes the usual case, a
    // newest entry, one step.
    let at = this.items.length;
    for (let i = this.items.length - 1; i >= 0; i -= 1) {
      const other = this.items[i];
      if (other.id === undefined) continue;
      if (other.id < message.id) break;
      at = i;
    }
    this.items.splice(at, 0, item);
    if (message.id > this.lastId) this.lastId = message.id;
    return true;
  }

  /** Applies an edit, delete or reaction to the message it targets, when
   * this page holds it (a new object, so the view draws it again). */
  applyFix(fix) {
    if (fix.id > this.lastId) this.lastId = fix.id;
    const at = this.items.findIndex((i) => i.kind === "message" && i.id === fix.target);
    if (at < 0) return false;
    const before = this.items[at];
    const after = fixed(before, fix);
    this.items[at] = after;
    return after !== before;
  }

  /** Drops the oldest messages past MAX_KEPT. Called for new messages
   * only: a page the user scrolled back for is kept whatever its size. */
  trim() {
    let extra = this.ids.size - MAX_KEPT;
    while (extra > 0 && this.items.length > 0) {
      const dropped = this.items.shift();
      if (dropped.id !== undefined) {
        this.ids.delete(dropped.id);
        this.moreBefore = true;
        extra -= 1;
      }
    }
  }
}

export class Chat {
  /**
   * @param {object} options
   * @param {string} options.user the name asked for in hello
   * @param {object} options.saved what storage.loadUser returned
   * @param {(frame: object) => boolean} options.send sends a frame when connected
   * @param {(what: string, room?: string) => void} options.changed
   * @param {(state: object) => void} options.save persists rooms and pending
   */
  constructor({ user, saved, send, changed, save }) {
    this.user = user;
    this.guest = true;
    this.protocol = 1;
    this.welcomed = false;
    this.send = send;
    this.changed = changed;
    this.save = save;
    this.rooms = new Map();
    for (const r of saved.rooms) this.rooms.set(r.name, new Room(r.name, r));
    this.current = saved.current && this.rooms.has(saved.current) ? saved.current : (this.rooms.keys().next().value ?? null);
    this.pending = saved.pending.filter((p) => this.rooms.has(p.room));
    this.notice = "";
    /** Frame handlers by type; a protocol-2 frame type is one more entry.
     * Types not here are skipped, as the protocol asks. */
    this.handlers = {
      joined: (f) => this.onJoined(f),
      history: (f) => this.onHistory(f),
      message: (f) => this.onMessage(f),
      room_deleted: (f) => this.onRoomDeleted(f),
      join: (f) => this.onPresence(f, true),
      leave: (f) => this.onPresence(f, false),
      error: (f) => this.onError(f),
    };
    for (const type of ROOM_EVENTS) this.handlers[type] = (f) => this.onRoomEvent(f);
    for (const type of FIXES) this.handlers[type] = (f) => this.onMessage(f);
  }

  persist() {
    this.save({
      rooms: [...this.rooms.values()].map((r) => ({ name: r.name, lastId: r.lastId, readId: r.readId, left: r.left })),
      current: this.current,
      pending: this.pending.map(({ ref, room, text, topic, sent }) => ({ ref, room, text, topic, sent })),
    });
  }

  // ----- connection ------------------------------------------------------

  onWelcome(frame) {
    this.welcomed = true;
    this.user = frame.user;
    this.guest = frame.guest;
    this.protocol = frame.protocol ?? 1;
    for (const room of this.rooms.values()) if (!room.left) this.sendJoin(room);
    this.changed("all");
  }

  onDisconnect() {
    this.welcomed = false;
    for (const line of this.pending) line.inFlight = false;
    for (const room of this.rooms.values()) {
      room.resetConnection();
      room.members.clear();
    }
    this.changed("all");
  }

  handle(frame) {
    const handler = this.handlers[frame.type];
    if (handler) handler(frame);
  }

  sendJoin(room) {
    room.resetConnection();
    room.catchingUp = true;
    if (room.lastId > 0) {
      room.since = room.lastId;
      this.send({ type: "join", room: room.name, since: room.lastId, limit: CATCH_UP_PAGE });
    } else {
      this.send({ type: "join", room: room.name, limit: FRESH_PAGE });
    }
  }

  // ----- rooms -----------------------------------------------------------

  /** Joins `name` (already folded) and shows it. */
  joinRoom(name) {
    let room = this.rooms.get(name);
    if (!room) {
      room = new Room(name, null);
      this.rooms.set(name, room);
      if (this.welcomed) this.sendJoin(room);
    } else if (room.left) {
      // Joining a room one was put out of is asking to come back.
      room.left = null;
      if (this.welcomed) this.sendJoin(room);
    }
    this.current = name;
    this.persist();
    this.changed("all");
  }

  leaveRoom(name) {
    if (!this.rooms.delete(name)) return;
    if (this.welcomed) this.send({ type: "leave", room: name });
    this.pending = this.pending.filter((p) => p.room !== name);
    if (this.current === name) this.current = this.rooms.keys().next().value ?? null;
    this.persist();
    this.changed("all");
  }

  show(name) {
    if (!this.rooms.has(name)) return;
    this.current = name;
    this.persist();
    this.changed("all");
  }

  /** The room `step` places after (or before) the current one. */
  neighbour(step) {
    const names = [...this.rooms.keys()];
    if (names.length === 0) return null;
    const at = Math.max(0, names.indexOf(this.current));
    return names[(at + step + names.length) % names.length];
  }

  /** The user has seen the newest message of `name`. */
  markRead(name) {
    const room = this.rooms.get(name);
    if (!room || (room.readId >= room.lastId && room.unread === 0)) return;
    room.readId = Math.max(room.readId, room.lastId);
    room.unread = 0;
    room.mentions = 0;
    this.persist();
    this.changed("rooms");
  }

  /** Asks for the page before the oldest message held, once at a time. */
  loadOlder(name) {
    const room = this.rooms.get(name);
    if (!room || !room.joined || room.catchingUp || room.loadingOlder || !room.moreBefore) return;
    room.loadingOlder = true;
    room.requests.push("before");
    this.send({ type: "history", room: name, before: room.oldestId(), limit: OLDER_PAGE });
  }

  // ----- frames ----------------------------------------------------------

  onJoined(frame) {
    const room = this.rooms.get(frame.room);
    if (!room) return;
    room.joined = true;
    room.members = new Set(frame.members);
    if (typeof frame.topic === "string") {
      room.topic = frame.topic;
      room.owner = frame.owner ?? null;
      room.ops = new Set(frame.ops ?? []);
      room.private = Boolean(frame.private);
      room.role = frame.role ?? null;
      room.stateId = frame.last_id;
    }
    const history = frame.history ?? [];
    if (room.since !== null && frame.last_id < room.since) {
      // The server's history was reset under us: start the room afresh.
      this.setNotice(`#${room.name} was reset on the server; showing it afresh`);
      room.items = [];
      room.ids.clear();
      room.lastId = room.readId = 0;
      room.moreBefore = false;
      this.sendJoin(room);
      return;
    }
    if (room.since === null) room.moreBefore = frame.more;
    this.applyCatchUp(room, history);
    if (room.since !== null && frame.more && history.length > 0) {
      this.requestAfter(room, history[history.length - 1].id);
    } else {
      this.finishCatchUp(room);
    }
  }

  requestAfter(room, after) {
    room.requests.push("after");
    this.send({ type: "history", room: room.name, after, limit: CATCH_UP_PAGE });
  }

  onHistory(frame) {
    const room = this.rooms.get(frame.room);
    if (!room) return;
    const kind = room.requests.shift();
    const messages = frame.messages ?? [];
    if (kind === "after") {
      this.applyCatchUp(room, messages);
      if (frame.more && messages.length > 0) this.requestAfter(room, messages[messages.length - 1].id);
      else this.finishCatchUp(room);
      return;
    }
    room.loadingOlder = false;
    // Older entries are drawn only: the room's state is already past them.
    for (const m of messages) if (isMessage(m) || isRoomEvent(m)) room.insert(m);
    room.moreBefore = frame.more && messages.length > 0;
    this.changed("older", room.name);
  }

  applyCatchUp(room, messages) {
    for (const m of messages) {
      if (isRoomEvent(m)) {
        if (room.insert(m)) this.applyRoomEvent(room, m);
        continue;
      }
      if (isFix(m)) {
        room.applyFix(m);
        continue;
      }
      // Protocol 2 pages may hold entries of kinds this client does not
      // know: they move the catch-up position but are not drawn.
      if (!isMessage(m)) {
        room.lastId = Math.max(room.lastId, m.id);
        continue;
      }
      if (!room.insert(m)) continue;
      room.trim();
      // A fresh join shows the newest page for context, not as news.
      if (room.since !== null) this.count(room, m);
    }
  }

  finishCatchUp(room) {
    room.catchingUp = false;
    for (const m of room.held) this.applyLive(room, m);
    room.held = [];
    // Every line still pending goes again with its ref, also one the
    // catch-up just showed (stored, its acknowledgement lost): the server
    // stores a request once and answers the resend with the stored copy,
    // carrying the ref, which settles it in applyLive.
    this.flushPending(room.name);
    this.persist();
    this.changed("room", room.name);
  }

  onMessage(frame) {
    const room = this.rooms.get(frame.room);
    if (!room) return;
    if (room.catchingUp) room.held.push(frame);
    else this.applyLive(room, frame);
  }

  applyLive(room, message) {
    let settled = false;
    if (message.ref) {
      const at = this.pending.findIndex((p) => p.ref === message.ref);
      if (at >= 0) {
        this.pending.splice(at, 1);
        this.persist();
        settled = true;
      }
    }
    if (isFix(message)) {
      if (room.applyFix(message)) this.changed("message", room.name);
      else if (settled) this.changed("message", room.name);
      return;
    }
    if (!room.insert(message)) {
      // The server's answer to a resend: the stored copy, shown already;
      // only the pending line goes.
      if (settled) this.changed("message", room.name);
      return;
    }
    room.trim();
    if (isRoomEvent(message)) this.applyRoomEvent(room, message);
    else this.count(room, message);
    this.changed("message", room.name);
  }

  /** A live topic, role, kick, ban, unban, invite or settings entry. */
  onRoomEvent(frame) {
    const room = this.rooms.get(frame.room);
    if (!room) {
      // An invitation reaches the invitee's connections in the room or not.
      if (frame.type === "invite" && sameName(frame.subject, this.user)) {
        this.setNotice(`${frame.user} invited you to #${frame.room}: join it to go in`);
      }
      return;
    }
    this.onMessage(frame);
  }

  /** What a room event newer than the room's known state changes. */
  applyRoomEvent(room, entry) {
    if (entry.id <= room.stateId) return;
    room.stateId = entry.id;
    const me = sameName(entry.subject, this.user);
    switch (entry.type) {
      case "topic":
        room.topic = entry.topic;
        break;
      case "settings":
        room.private = Boolean(entry.private);
        break;
      case "role":
        this.applyRole(room, entry, me);
        break;
      case "kick":
      case "ban":
        if (!me) break;
        // The server has taken this connection out of the room already.
        room.left = { by: entry.user, reason: entry.reason ?? "", banned: entry.type === "ban" };
        room.resetConnection();
        room.members.clear();
        this.persist();
        this.changed("all");
        break;
      default:
    }
  }

  applyRole(room, entry, me) {
    if (entry.role === "owner") {
      if (room.owner) room.ops.add(room.owner);
      if (sameName(room.owner, this.user)) room.role = "op";
      room.owner = entry.subject;
      room.ops.delete(entry.subject);
    } else if (entry.role === "op") {
      room.ops.add(entry.subject);
    } else {
      room.ops.delete(entry.subject);
    }
    if (me) room.role = entry.role;
  }

  /** The room was deleted: its entries are gone, so it leaves the list. */
  onRoomDeleted(frame) {
    if (!this.rooms.delete(frame.room)) return;
    this.pending = this.pending.filter((p) => p.room !== frame.room);
    if (this.current === frame.room) this.current = this.rooms.keys().next().value ?? null;
    this.persist();
    this.setNotice(`#${frame.room} was deleted by ${frame.user}`);
    this.changed("all");
  }

  /** Counts an unseen message from someone else towards the room's badge. */
  count(room, message) {
    if (message.user === this.user || message.id <= room.readId) return;
    room.unread += 1;
    if (mentions(message.text, this.user)) room.mentions += 1;
  }

  onPresence(frame, joined) {
    const room = this.rooms.get(frame.room);
    if (!room) return;
    if (joined) room.members.add(frame.user);
    else room.members.delete(frame.user);
    room.items.push({ kind: "presence", user: frame.user, joined, ts: frame.ts });
    this.changed("room", room.name);
  }

  onError(frame) {
    const line = frame.ref ? this.pending.find((p) => p.ref === frame.ref) : null;
    if (!line) {
      this.setNotice(frame.message || frame.code);
      return;
    }
    const room = this.rooms.get(line.room);
    switch (frame.code) {
      case "rate_limited":
      case "internal":
        line.sent = false;
        line.inFlight = false;
        setTimeout(() => this.flushPending(line.room), RETRY_MS);
        break;
      case "not_in_room":
        line.sent = false;
        line.inFlight = false;
        // Not back into a room a kick or ban put the user out of.
        if (room && this.welcomed && !room.left) this.sendJoin(room);
        break;
      default:
        this.pending = this.pending.filter((p) => p !== line);
        if (line.topic !== undefined) {
          this.setNotice(`topic not set: ${TOPIC_REFUSALS[frame.code] ?? (frame.message || frame.code)}`);
        } else {
          this.setNotice(`not sent (${frame.message || frame.code}): ${line.text}`);
        }
    }
    this.persist();
    this.changed("room", line.room);
  }

  setNotice(text) {
    this.notice = text;
    this.changed("notice");
  }

  // ----- sending ---------------------------------------------------------

  /** Queues a line for the current room and sends it when it can. */
  say(text) {
    if (!this.current) return;
    this.pending.push({ ref: newRef(), room: this.current, text, sent: false });
    this.persist();
    this.flushPending(this.current);
    this.changed("room", this.current);
  }

  /** Queues `/topic TEXT` (typed as `typed`) for the current room: sent,
   * acknowledged and resent like a line. */
  setTopic(topic, typed) {
    if (!this.current) return;
    if (this.protocol < 2) {
      this.setNotice("This server has no room topics.");
      return;
    }
    this.pending.push({ ref: newRef(), room: this.current, text: typed, topic, sent: false });
    this.persist();
    this.flushPending(this.current);
    this.changed("room", this.current);
  }

  /** Sends, in typing order, every unsent line of a caught-up room. */
  flushPending(name) {
    const room = this.rooms.get(name);
    if (!this.welcomed || !room || !room.joined || room.catchingUp) return;
    let sentAny = false;
    for (const line of this.pending) {
      if (line.room !== name || line.inFlight) continue;
      const frame =
        line.topic !== undefined
          ? { type: "topic", room: name, topic: line.topic, ref: line.ref }
          : { type: "message", room: name, text: line.text, ref: line.ref };
      if (!this.send(frame)) break;
      line.sent = true;
      line.inFlight = true;
      sentAny = true;
    }
    if (sentAny) this.persist();
  }

  pendingIn(name) {
    return this.pending.filter((p) => p.room === name);
  }
}
