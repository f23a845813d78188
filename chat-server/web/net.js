// The WebSocket to the server: one JSON object per text frame, and
// reconnection with exponential backoff and jitter (half a second doubling
// to 30 s, each wait a random point between half and all of the step, so
// clients do not all return at once after a restart).

const FIRST_STEP_MS = 500;
const MAX_STEP_MS = 30000;

/** The chat endpoint of the server that served this page. */
export function endpoint() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

export class Connection {
  /**
   * @param {object} handlers
   * @param {() => void} handlers.open the socket is open (say hello now)
   * @param {(frame: object) => void} handlers.frame a decoded frame
   * @param {(info: {code: number}) => void} handlers.closed the socket is gone
   * @param {(state: string, retryAt?: number) => void} handlers.state
   */
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.socket = null;
    this.step = FIRST_STEP_MS;
    this.timer = null;
    this.stopped = true;
    this.wake = () => {
      if (!this.stopped && this.timer !== null) this.connectNow();
    };
    addEventListener("online", this.wake);
  }

  start() {
    this.stopped = false;
    this.connectNow();
  }

  /** Closes the socket and stays closed (log out, refused login). */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close(1000, "bye");
    }
    this.handlers.state("offline");
  }

  /** The session is up: the next drop starts the backoff from the start. */
  established() {
    this.step = FIRST_STEP_MS;
  }

  connectNow() {
    clearTimeout(this.timer);
    this.timer = null;
    this.handlers.state("connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket === socket) this.handlers.open();
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket || typeof event.data !== "string") return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && typeof frame.type === "string") this.handlers.frame(frame);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.handlers.closed({ code: event.code });
      if (!this.stopped) this.retryLater();
    };
  }

  retryLater() {
    const wait = this.step / 2 + Math.random() * (this.step / 2);
    this.step = Math.min(this.step * 2, MAX_STEP_MS);
    this.timer = setTimeout(() => this.connectNow(), wait);
    this.handlers.state("reconnecting", Date.now() + wait);
  }

  /** Sends a frame; false when there is no open socket to take it. */
  send(frame) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }
}
