/**
 * The WebSocket event stream client (protocol: src/redoubt/realtime/gateway.py).
 *
 * {@link StreamProtocol} is the pure part: what to say on connect, what each frame
 * means, what a close code asks for. It tracks the last seen `seq` so a reconnect
 * resumes where it left off (`since`) and drops frames it has already applied.
 * {@link EventStream} drives a real socket with it: backoff, heartbeat, reconnects.
 */
import type { PresenceFrame, StoredEvent, TypingFrame } from "./types";

export type ConnectionState = "connecting" | "live" | "offline";

export const CLOSE_TOO_SLOW = 4008;
export const CLOSE_DEACTIVATED = 4003;
export const CLOSE_BAD_HELLO = 4400;
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_BAD_POSITION = 4409;
export const CLOSE_RATE_LIMITED = 4429;

/** Error codes with which the server says our position can't be resumed from. */
const POSITION_ERRORS = new Set(["invalid_since", "position_too_old", "since_too_old", "resync_required"]);

export type Incoming =
  | { kind: "ready"; seq: number; userId: string; resumed: boolean }
  | { kind: "event"; event: StoredEvent }
  | { kind: "ephemeral"; frame: TypingFrame | PresenceFrame }
  | { kind: "resync" }
  | { kind: "error"; code: string; message: string }
  | { kind: "ignored" };

export type CloseDecision = "reconnect" | "unauthorized";

export class StreamProtocol {
  /** The seq of the last event applied; null before the first `ready`. */
  lastSeq: number | null = null;
  private resuming = false;

  /** The first frame on a new socket. */
  hello(): string {
    this.resuming = this.lastSeq !== null;
    return JSON.stringify({ type: "hello", since: this.lastSeq });
  }

  receive(raw: string): Incoming {
    let frame: unknown;
    try {
      frame = JSON.parse(raw);
    } catch {
      return { kind: "ignored" };
    }
    if (typeof frame !== "object" || frame === null) return { kind: "ignored" };
    const f = frame as Record<string, unknown>;
    switch (f.type) {
      case "ready": {
        if (typeof f.seq !== "number") return { kind: "ignored" };
        const resumed = this.resuming;
        // Fresh start: the app loads state as of now, so the stream starts at `seq`.
        if (!resumed) this.lastSeq = f.seq;
        return { kind: "ready", seq: f.seq, userId: String(f.user_id ?? ""), resumed };
      }
      case "typing":
      case "presence":
        return { kind: "ephemeral", frame: frame as TypingFrame | PresenceFrame };
      case "pong":
        return { kind: "ignored" };
      case "error": {
        const code = typeof f.code === "string" ? f.code : "error";
        if (POSITION_ERRORS.has(code)) {
          this.lastSeq = null;
          return { kind: "resync" };
        }
        return { kind: "error", code, message: typeof f.message === "string" ? f.message : "" };
      }
    }
    if (typeof f.seq === "number" && typeof f.type === "string") {
      // Replays overlap live delivery around a reconnect: apply each seq once.
      if (this.lastSeq !== null && f.seq <= this.lastSeq) return { kind: "ignored" };
      this.lastSeq = f.seq;
      return { kind: "event", event: frame as StoredEvent };
    }
    return { kind: "ignored" };
  }

  /** What a socket close means for the next connection. */
  closed(code: number): CloseDecision {
    if (code === CLOSE_UNAUTHORIZED || code === CLOSE_DEACTIVATED) return "unauthorized";
    if (code === CLOSE_BAD_POSITION) {
      // Our position is unusable (e.g. ahead of a restored server): start afresh and
      // let the app reload what it shows.
      this.lastSeq = null;
    }
    return "reconnect";
  }

  /** Forget everything (logout). */
  reset(): void {
    this.lastSeq = null;
    this.resuming = false;
  }
}

/** Exponential backoff with jitter, capped: 0.5 s, 1 s, 2 s ... up to 10 s, each ±50%. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(10_000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(base / 2 + random() * (base / 2));
}

// ---- the socket driver ----------------------------------------------------------------

export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  readonly readyState: number;
}

export interface StreamHandlers {
  onReady(info: { resumed: boolean; seq: number }): void;
  onEvent(event: StoredEvent): void;
  onEphemeral(frame: TypingFrame | PresenceFrame): void;
  onState(state: ConnectionState): void;
  onUnauthorized(): void;
}

export interface StreamOptions {
  url: string;
  createSocket?: (url: string) => SocketLike;
  random?: () => number;
  /** Send a ping this often; a socket silent for twice as long is presumed dead. */
  heartbeatMs?: number;
  /** Give up on a socket that hasn't said `ready` this long after being created. */
  readyTimeoutMs?: number;
}

const OPEN = 1;

export class EventStream {
  readonly protocol = new StreamProtocol();
  private socket: SocketLike | null = null;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private lastFrameAt = 0;
  private stopped = true;
  private state: ConnectionState = "offline";
  private readonly createSocket: (url: string) => SocketLike;
  private readonly random: () => number;
  private readonly heartbeatMs: number;

  constructor(
    private readonly handlers: StreamHandlers,
    private readonly options: StreamOptions,
  ) {
    this.createSocket = options.createSocket ?? ((url) => new WebSocket(url));
    this.random = options.random ?? Math.random;
    this.heartbeatMs = options.heartbeatMs ?? 25_000;
  }

  get connectionState(): ConnectionState {
    return this.state;
  }

  get lastSeq(): number {
    return this.protocol.lastSeq ?? 0;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Close for good (logout); the next start() begins from scratch. */
  stop(): void {
    this.stopped = true;
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.close(1000, "bye");
    }
    this.protocol.reset();
    this.setState("offline");
  }

  /**
   * The browser says the network is gone. Chromium then stops delivering frames but
   * may never close the socket (the heartbeat would notice only after a minute), so
   * drop it now: the state shows offline at once and the reconnect, with `since`,
   * starts when the network returns (or at the next backoff step).
   */
  networkLost(): void {
    if (this.stopped || !this.socket) return;
    this.abandon(this.socket);
  }

  /** The network is back: don't wait out the backoff. */
  retryNow(): void {
    if (this.stopped || (this.socket && this.state !== "offline")) return;
    this.attempt = 0;
    this.connect();
  }

  sendTyping(roomId: string): void {
    this.send(JSON.stringify({ type: "typing", room_id: roomId }));
  }

  private send(data: string): void {
    if (this.socket && this.socket.readyState === OPEN && this.state === "live") this.socket.send(data);
  }

  private setState(state: ConnectionState): void {
    if (state === this.state) return;
    this.state = state;
    this.handlers.onState(state);
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.retryTimer = null;
    this.heartbeatTimer = null;
  }

  private connect(): void {
    this.clearTimers();
    this.setState("connecting");
    let socket: SocketLike;
    try {
      socket = this.createSocket(this.options.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    // A connection can hang half-open (proxy, captive portal): don't wait forever.
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.socket === socket && this.state !== "live") this.abandon(socket);
    }, this.options.readyTimeoutMs ?? 15_000);
    socket.onopen = () => {
      this.lastFrameAt = Date.now();
      socket.send(this.protocol.hello());
    };
    socket.onmessage = (ev) => {
      if (this.socket !== socket) return;
      this.lastFrameAt = Date.now();
      if (typeof ev.data === "string") this.handleFrame(ev.data);
    };
    socket.onerror = () => {
      // A close event always follows; that is where we react.
    };
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.clearTimers();
      if (this.stopped) return;
      if (this.protocol.closed(ev.code) === "unauthorized") {
        this.stopped = true;
        this.setState("offline");
        this.handlers.onUnauthorized();
        return;
      }
      this.scheduleReconnect();
    };
  }

  private handleFrame(raw: string): void {
    const incoming = this.protocol.receive(raw);
    switch (incoming.kind) {
      case "ready":
        this.attempt = 0;
        if (this.retryTimer !== null) clearTimeout(this.retryTimer);
        this.retryTimer = null;
        this.setState("live");
        this.startHeartbeat();
        this.handlers.onReady({ resumed: incoming.resumed, seq: incoming.seq });
        break;
      case "event":
        this.handlers.onEvent(incoming.event);
        break;
      case "ephemeral":
        this.handlers.onEphemeral(incoming.frame);
        break;
      case "resync":
        // Reconnect without a position; onReady(resumed: false) makes the app reload.
        this.socket?.close(4000, "resync");
        break;
      case "error":
      case "ignored":
        break;
    }
  }

  private startHeartbeat(): void {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => {
      const socket = this.socket;
      if (!socket) return;
      if (Date.now() - this.lastFrameAt > this.heartbeatMs * 2) {
        // A dead link (sleeping laptop, dropped Wi-Fi) may never deliver a close:
        // give up on this socket ourselves.
        this.abandon(socket);
        return;
      }
      if (socket.readyState === OPEN) socket.send('{"type":"ping"}');
    }, this.heartbeatMs);
  }

  private abandon(socket: SocketLike): void {
    this.socket = null;
    socket.onclose = null;
    socket.close(4000, "timeout");
    this.clearTimers();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.setState("offline");
    const delay = backoffDelay(this.attempt, this.random);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.connect();
    }, delay);
  }
}

export function eventsUrl(location: Location = window.location): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/api/v1/events`;
}
