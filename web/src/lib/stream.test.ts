import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import {
  CLOSE_BAD_POSITION,
  CLOSE_TOO_SLOW,
  CLOSE_UNAUTHORIZED,
  type ConnectionState,
  EventStream,
  type SocketLike,
  StreamProtocol,
  backoffDelay,
} from "./stream";
import type { StoredEvent } from "./types";

const event = (seq: number, id = String(seq)) =>
  JSON.stringify({ seq, type: "message.created", data: { id, room_id: "1" } });

describe("StreamProtocol", () => {
  it("says hello without a position first, then resumes from the last seq", () => {
    const p = new StreamProtocol();
    expect(JSON.parse(p.hello())).toEqual({ type: "hello", since: null });
    expect(p.receive(JSON.stringify({ type: "ready", seq: 10, user_id: "1" }))).toMatchObject({ kind: "ready", resumed: false });
    expect(p.receive(event(11)).kind).toBe("event");
    expect(p.receive(event(12)).kind).toBe("event");
    expect(JSON.parse(p.hello())).toEqual({ type: "hello", since: 12 });
    expect(p.receive(JSON.stringify({ type: "ready", seq: 20, user_id: "1" }))).toMatchObject({ kind: "ready", resumed: true });
  });

  it("drops events it has already applied (replay overlapping live delivery)", () => {
    const p = new StreamProtocol();
    p.hello();
    p.receive(JSON.stringify({ type: "ready", seq: 10 }));
    expect(p.receive(event(9)).kind).toBe("ignored");
    expect(p.receive(event(10)).kind).toBe("ignored");
    expect(p.receive(event(11)).kind).toBe("event");
    expect(p.receive(event(11)).kind).toBe("ignored");
  });

  it("forgets its position on 4409 and on a position error", () => {
    const p = new StreamProtocol();
    p.hello();
    p.receive(JSON.stringify({ type: "ready", seq: 10 }));
    expect(p.closed(CLOSE_BAD_POSITION)).toBe("reconnect");
    expect(JSON.parse(p.hello()).since).toBeNull();

    p.receive(JSON.stringify({ type: "ready", seq: 3 }));
    expect(p.lastSeq).toBe(3);
    expect(p.receive(JSON.stringify({ type: "error", code: "invalid_since", message: "x" })).kind).toBe("resync");
    expect(p.lastSeq).toBeNull();
  });

  it("keeps its position on other closes and stops on 4401", () => {
    const p = new StreamProtocol();
    p.hello();
    p.receive(JSON.stringify({ type: "ready", seq: 10 }));
    expect(p.closed(CLOSE_TOO_SLOW)).toBe("reconnect");
    expect(p.closed(1006)).toBe("reconnect");
    expect(p.lastSeq).toBe(10);
    expect(p.closed(CLOSE_UNAUTHORIZED)).toBe("unauthorized");
  });

  it("passes ephemeral frames through and ignores junk", () => {
    const p = new StreamProtocol();
    expect(p.receive(JSON.stringify({ type: "typing", data: { room_id: "1", user_id: "2" } })).kind).toBe("ephemeral");
    expect(p.receive(JSON.stringify({ type: "presence", data: { changes: [] } })).kind).toBe("ephemeral");
    expect(p.receive("not json").kind).toBe("ignored");
    expect(p.receive("42").kind).toBe("ignored");
    expect(p.receive(JSON.stringify({ type: "pong" })).kind).toBe("ignored");
  });
});

describe("backoffDelay", () => {
  it("grows exponentially with jitter and is capped at 10 s", () => {
    expect(backoffDelay(0, () => 0)).toBe(250);
    expect(backoffDelay(0, () => 1)).toBe(500);
    expect(backoffDelay(3, () => 1)).toBe(4000);
    expect(backoffDelay(30, () => 1)).toBe(10_000);
    expect(backoffDelay(30, () => 0)).toBe(5000);
  });
});

class FakeSocket implements SocketLike {
  sent: string[] = [];
  readyState = 0;
  closedWith: number | undefined;
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;

  open() {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }
  receive(data: string) {
    this.onmessage?.({ data } as MessageEvent);
  }
  send(data: string) {
    this.sent.push(data);
  }
  close(code?: number) {
    this.closedWith = code;
    this.drop(code ?? 1000);
  }
  drop(code: number) {
    this.readyState = 3;
    this.onclose?.({ code } as CloseEvent);
  }
}

describe("EventStream", () => {
  let sockets: FakeSocket[];
  let events: StoredEvent[];
  let readies: { resumed: boolean; seq: number }[];
  let states: ConnectionState[];
  let unauthorized: number;
  let stream: EventStream;

  beforeEach(() => {
    vi.useFakeTimers();
    sockets = [];
    events = [];
    readies = [];
    states = [];
    unauthorized = 0;
    stream = new EventStream(
      {
        onReady: (r) => readies.push(r),
        onEvent: (e) => events.push(e),
        onEphemeral: () => undefined,
        onState: (s) => states.push(s),
        onUnauthorized: () => unauthorized++,
      },
      {
        url: "ws://test/api/v1/events",
        random: () => 0.5,
        createSocket: () => {
          const s = new FakeSocket();
          sockets.push(s);
          return s;
        },
      },
    );
  });

  afterEach(() => {
    stream.stop();
    vi.useRealTimers();
  });

  const last = () => sockets[sockets.length - 1] as FakeSocket;

  it("reconnects after a drop with its last position and fills the gap without duplicates", () => {
    stream.start();
    last().open();
    expect(JSON.parse(last().sent[0] as string)).toEqual({ type: "hello", since: null });
    last().receive(JSON.stringify({ type: "ready", seq: 100, user_id: "1" }));
    expect(states).toEqual(["connecting", "live"]);
    last().receive(event(101));
    last().receive(event(102));

    last().drop(1006);
    expect(states[states.length - 1]).toBe("offline");
    vi.advanceTimersByTime(backoffDelay(0, () => 0.5));
    expect(sockets).toHaveLength(2);
    last().open();
    expect(JSON.parse(last().sent[0] as string)).toEqual({ type: "hello", since: 102 });
    last().receive(JSON.stringify({ type: "ready", seq: 105, user_id: "1" }));
    // The replay of (102, 105], with an event that was already delivered.
    last().receive(event(102));
    last().receive(event(103));
    last().receive(event(104));
    last().receive(event(105));
    expect(events.map((e) => e.seq)).toEqual([101, 102, 103, 104, 105]);
    expect(readies).toEqual([
      { resumed: false, seq: 100 },
      { resumed: true, seq: 105 },
    ]);
  });

  it("drops a silent socket when the browser goes offline and resumes when it is back", () => {
    stream.start();
    last().open();
    last().receive(JSON.stringify({ type: "ready", seq: 7, user_id: "1" }));
    const silent = last();

    // The browser's offline event: no close ever arrives from the socket itself.
    stream.networkLost();
    expect(states[states.length - 1]).toBe("offline");
    expect(silent.closedWith).toBe(4000);
    silent.receive(event(8)); // a late frame from the abandoned socket is ignored
    expect(events).toHaveLength(0);

    // Back online: reconnect at once, not after the backoff, from the last position.
    stream.retryNow();
    expect(sockets).toHaveLength(2);
    last().open();
    expect(JSON.parse(last().sent[0] as string)).toEqual({ type: "hello", since: 7 });
    // A second online event while connecting doesn't open another socket.
    stream.retryNow();
    expect(sockets).toHaveLength(2);
  });

  it("backs off longer after repeated failures, and resets once connected", () => {
    stream.start();
    last().drop(1006);
    vi.advanceTimersByTime(backoffDelay(0, () => 0.5));
    expect(sockets).toHaveLength(2);
    last().drop(1006);
    vi.advanceTimersByTime(backoffDelay(0, () => 0.5));
    expect(sockets).toHaveLength(2);
    vi.advanceTimersByTime(backoffDelay(1, () => 0.5));
    expect(sockets).toHaveLength(3);
  });

  it("starts afresh after 4409 so the app reloads", () => {
    stream.start();
    last().open();
    last().receive(JSON.stringify({ type: "ready", seq: 100 }));
    last().receive(event(101));
    last().drop(CLOSE_BAD_POSITION);
    vi.advanceTimersByTime(10_000);
    last().open();
    expect(JSON.parse(last().sent[0] as string).since).toBeNull();
    last().receive(JSON.stringify({ type: "ready", seq: 50 }));
    expect(readies[readies.length - 1]).toEqual({ resumed: false, seq: 50 });
    last().receive(event(51));
    expect(events.map((e) => e.seq)).toEqual([101, 51]);
  });

  it("reconnects without a position when the server says ours is too old", () => {
    stream.start();
    last().open();
    last().receive(JSON.stringify({ type: "ready", seq: 100 }));
    last().receive(JSON.stringify({ type: "error", code: "position_too_old", message: "" }));
    vi.advanceTimersByTime(10_000);
    last().open();
    expect(JSON.parse(last().sent[0] as string).since).toBeNull();
  });

  it("goes to login on 4401 and does not reconnect", () => {
    stream.start();
    last().open();
    last().receive(JSON.stringify({ type: "ready", seq: 1 }));
    last().drop(CLOSE_UNAUTHORIZED);
    vi.advanceTimersByTime(60_000);
    expect(unauthorized).toBe(1);
    expect(sockets).toHaveLength(1);
    expect(stream.connectionState).toBe("offline");
  });

  it("sends typing only when live, and pings to detect a dead link", () => {
    stream.start();
    last().open();
    stream.sendTyping("5");
    expect(last().sent).toHaveLength(1);
    last().receive(JSON.stringify({ type: "ready", seq: 1 }));
    stream.sendTyping("5");
    expect(JSON.parse(last().sent[1] as string)).toEqual({ type: "typing", room_id: "5" });
    vi.advanceTimersByTime(25_000);
    expect(last().sent[2]).toBe('{"type":"ping"}');
    // Silence for two heartbeats: the socket is given up and a new one opened.
    vi.advanceTimersByTime(50_000);
    vi.advanceTimersByTime(10_000);
    expect(sockets.length).toBeGreaterThan(1);
  });

  it("gives up on a socket that never says ready", () => {
    stream.start();
    last().open();
    vi.advanceTimersByTime(15_000);
    expect(last().closedWith).toBe(4000);
    vi.advanceTimersByTime(10_000);
    expect(sockets).toHaveLength(2);
  });
});
