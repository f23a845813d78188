// Text rules shared by the model and the view: how network text is made
// inert for display, what counts as a mention, and how times are written.
// Nothing here touches the DOM.

const C0 = /[\u0000-\u0008\u000b-\u001f]/g;
const DEL = /\u007f/g;
const C1 = /[\u0080-\u009f]/g;
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with control characters shown as visible symbols (ESC as ␛, C1
 * controls as \x9b, bidi controls as <U+202E>), so a message cannot hide,
 * reorder or restyle what is around it. Newlines and tabs stay. The result
 * is still only ever set as textContent. */
export function inert(text) {
  return String(text)
    .replace(C0, (c) => String.fromCharCode(0x2400 + c.charCodeAt(0)))
    .replace(DEL, "\u2421")
    .replace(C1, (c) => "\\x" + c.charCodeAt(0).toString(16))
    .replace(BIDI, (c) => "<U+" + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0") + ">");
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Whether `text` mentions `user`: the name as a whole word, any case,
 * with or without a leading @ (the protocol's rule). */
export function mentions(text, user) {
  if (!user) return false;
  const word = new RegExp("(^|[^A-Za-z0-9_.-])@?" + escapeRegExp(user) + "($|[^A-Za-z0-9_-])", "i");
  return word.test(text);
}

/** A protocol room name as the server folds it, or null when it breaks
 * the rules (1–64 of a-z 0-9 _ . -); a leading # is dropped. */
export function roomName(raw) {
  const name = String(raw).trim().replace(/^#/, "").toLowerCase();
  return /^[a-z0-9_.-]{1,64}$/.test(name) ? name : null;
}

/** Whether `text` may be sent: 1–4000 bytes of UTF-8, not all whitespace. */
export function sendable(text) {
  return text.trim() !== "" && new TextEncoder().encode(text).length <= 4000;
}

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

/** Local 24-hour HH:MM of a server timestamp (ms since the epoch). */
export function shortTime(ts) {
  return clock.format(new Date(ts));
}

/** The full local date and time, for a tooltip. */
export function longTime(ts) {
  return full.format(new Date(ts));
}

/** A hue (0–359) of a user's own, the same in every room and every visit. */
export function userHue(user) {
  let h = 0;
  for (const c of user) h = (h * 31 + c.codePointAt(0)) % 360;
  return h;
}
