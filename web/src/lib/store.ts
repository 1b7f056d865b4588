/**
 * Application state and the reducer that applies REST results and stream events to it.
 *
 * The state is an immutable tree of small objects (rooms, users, presence) plus, per
 * room, a {@link MessageIndex} that is mutated in place and wrapped in a `Timeline`
 * envelope which is replaced (with a new `rev`) whenever the index changes, so views can
 * compare envelopes by identity. See messageIndex.ts for why.
 */
import { MessageIndex } from "./messageIndex";
import type {
  MemberRole,
  MemberView,
  MembershipView,
  MessageView,
  PresenceStatus,
  ReadStateView,
  RoomView,
  StoredEvent,
  UserPublicView,
  UserView,
} from "./types";

export interface RoomEntry {
  room: RoomView;
  role: MemberRole;
  read: ReadStateView;
}

export interface Timeline {
  /** Top-level messages of the room (thread replies live in `threads`). */
  readonly index: MessageIndex;
  readonly rev: number;
  /** The room's first message is loaded. */
  readonly reachedStart: boolean;
  /** The newest message is loaded, so live messages can be appended. */
  readonly reachedEnd: boolean;
  /** Changes when the timeline is dropped and reloaded (views restart scrolling). */
  readonly generation: number;
  /** A page is being fetched at that end. */
  readonly loading: "initial" | "older" | "newer" | null;
}

export interface ThreadState {
  readonly index: MessageIndex;
  readonly rev: number;
}

export interface AppState {
  me: UserView | null;
  /** Rooms the user belongs to, by id; null until the first load. */
  rooms: ReadonlyMap<string, RoomEntry> | null;
  users: ReadonlyMap<string, UserPublicView>;
  timelines: ReadonlyMap<string, Timeline>;
  /** Thread replies by root message id. */
  threads: ReadonlyMap<string, ThreadState>;
  members: ReadonlyMap<string, readonly MemberView[]>;
  presence: ReadonlyMap<string, PresenceStatus>;
  /** roomId → userId → time (ms) the typing indicator expires. */
  typing: ReadonlyMap<string, ReadonlyMap<string, number>>;
  /** Set when the server ended every session of the user. */
  signedOutRemotely: boolean;
}

export const initialState: AppState = {
  me: null,
  rooms: null,
  users: new Map(),
  timelines: new Map(),
  threads: new Map(),
  members: new Map(),
  presence: new Map(),
  typing: new Map(),
  signedOutRemotely: false,
};

export type HistoryKind = "latest" | "older" | "newer" | "around";

export type Action =
  | { type: "signed-in"; me: UserView }
  | { type: "signed-out" }
  | { type: "rooms-loaded"; memberships: MembershipView[] }
  | { type: "room-joined"; membership: MembershipView }
  | { type: "room-left"; roomId: string }
  | {
      type: "history-loaded";
      roomId: string;
      kind: HistoryKind;
      messages: MessageView[];
      limit: number;
      /** The stream's seq when the request was sent (see MessageIndex.upsert). */
      seq: number;
    }
  | { type: "timeline-reset"; roomId: string }
  | { type: "timeline-loading"; roomId: string; loading: Timeline["loading"] }
  | { type: "thread-loaded"; rootId: string; messages: MessageView[]; seq: number }
  | { type: "message-saved"; message: MessageView; seq: number }
  | { type: "room-updated"; room: RoomView }
  | { type: "read-updated"; read: ReadStateView }
  | { type: "users-loaded"; users: UserPublicView[] }
  | { type: "members-loaded"; roomId: string; members: MemberView[] }
  | { type: "presence"; changes: { user_id: string; status: PresenceStatus }[]; reset?: boolean }
  | { type: "typing"; roomId: string; userId: string; until: number }
  | { type: "typing-expired"; now: number }
  | { type: "event"; event: StoredEvent };

// ---- helpers --------------------------------------------------------------------------

function withEntry<K, V>(map: ReadonlyMap<K, V>, key: K, value: V): Map<K, V> {
  const next = new Map(map);
  next.set(key, value);
  return next;
}

function without<K, V>(map: ReadonlyMap<K, V>, key: K): Map<K, V> {
  const next = new Map(map);
  next.delete(key);
  return next;
}

let generations = 0;

function emptyTimeline(): Timeline {
  generations += 1;
  return {
    index: new MessageIndex(),
    rev: 0,
    generation: generations,
    reachedStart: false,
    reachedEnd: false,
    loading: null,
  };
}

function bump(t: Timeline, patch: Partial<Omit<Timeline, "index" | "rev">> = {}): Timeline {
  return { ...t, ...patch, rev: t.rev + 1 };
}

export function isMentioned(message: MessageView, userId: string): boolean {
  return message.mentions_room || message.mentions.includes(userId);
}

/**
 * Whether an unknown message belongs in the loaded part of a timeline. The loaded part
 * is one contiguous run of history; a message beyond an end that isn't the room's real
 * end would sit next to messages it doesn't follow, so it is left for the page that
 * fills that gap.
 */
function withinLoaded(timeline: Timeline, position: number): boolean {
  const first = timeline.index.first();
  const last = timeline.index.last();
  if (!first || !last) return timeline.reachedStart && timeline.reachedEnd;
  if (position > last.position) return timeline.reachedEnd;
  if (position < first.position) return timeline.reachedStart;
  return true;
}

/** Put a message where it belongs: the room timeline or its thread. */
function placeMessage(state: AppState, message: MessageView, seq: number, fromRest: boolean): AppState {
  if (message.thread_id !== null) {
    const rootId = message.thread_id;
    const thread = state.threads.get(rootId) ?? { index: new MessageIndex(), rev: 0 };
    if (!thread.index.upsert(message, seq, fromRest)) return state;
    return { ...state, threads: withEntry(state.threads, rootId, { ...thread, rev: thread.rev + 1 }) };
  }
  const timeline = state.timelines.get(message.room_id);
  if (!timeline) return state;
  if (!timeline.index.has(message.id) && !withinLoaded(timeline, message.position)) return state;
  if (!timeline.index.upsert(message, seq, fromRest)) return state;
  return { ...state, timelines: withEntry(state.timelines, message.room_id, bump(timeline)) };
}

function countNewMessage(state: AppState, message: MessageView): AppState {
  const entry = state.rooms?.get(message.room_id);
  const me = state.me;
  if (!entry || !me || !state.rooms) return state;
  if (message.author_id === me.id || message.deleted) return state;
  if (message.position <= entry.read.last_read_position) return state;
  const read: ReadStateView = {
    ...entry.read,
    unread_count: entry.read.unread_count + 1,
    mention_count: entry.read.mention_count + (isMentioned(message, me.id) ? 1 : 0),
  };
  return { ...state, rooms: withEntry(state.rooms, message.room_id, { ...entry, read }) };
}

function updateRoomView(state: AppState, room: RoomView): AppState {
  const entry = state.rooms?.get(room.id);
  if (!entry || !state.rooms) return state;
  return { ...state, rooms: withEntry(state.rooms, room.id, { ...entry, room }) };
}

function applyRead(state: AppState, read: ReadStateView): AppState {
  const entry = state.rooms?.get(read.room_id);
  if (!entry || !state.rooms) return state;
  // Answers to our own requests and the events they cause may arrive in either order.
  if (read.last_read_position < entry.read.last_read_position) return state;
  return { ...state, rooms: withEntry(state.rooms, read.room_id, { ...entry, read }) };
}

function removeRoom(state: AppState, roomId: string): AppState {
  return {
    ...state,
    rooms: state.rooms ? without(state.rooms, roomId) : state.rooms,
    timelines: without(state.timelines, roomId),
    members: without(state.members, roomId),
    typing: without(state.typing, roomId),
  };
}

// ---- the reducer ----------------------------------------------------------------------

export function reduce(state: AppState, action: Action): AppState {
  switch (action.type) {
    case "signed-in":
      return { ...initialState, me: action.me, users: withEntry(new Map(), action.me.id, action.me) };
    case "signed-out":
      return { ...initialState, signedOutRemotely: state.signedOutRemotely };
    case "rooms-loaded": {
      const rooms = new Map<string, RoomEntry>();
      for (const m of action.memberships) rooms.set(m.room.id, { room: m.room, role: m.role, read: m.read });
      // Timelines of rooms we no longer belong to go with them.
      const timelines = new Map([...state.timelines].filter(([id]) => rooms.has(id)));
      return { ...state, rooms, timelines };
    }
    case "room-joined": {
      const m = action.membership;
      const rooms = withEntry(state.rooms ?? new Map(), m.room.id, { room: m.room, role: m.role, read: m.read });
      return { ...state, rooms };
    }
    case "room-left":
      return removeRoom(state, action.roomId);
    case "timeline-reset":
      return { ...state, timelines: withEntry(state.timelines, action.roomId, emptyTimeline()) };
    case "history-loaded":
      return applyHistory(state, action);
    case "timeline-loading": {
      const timeline = state.timelines.get(action.roomId) ?? emptyTimeline();
      if (timeline.loading === action.loading) return state;
      return { ...state, timelines: withEntry(state.timelines, action.roomId, { ...timeline, loading: action.loading }) };
    }
    case "thread-loaded": {
      const thread = state.threads.get(action.rootId) ?? { index: new MessageIndex(), rev: 0 };
      thread.index.merge(action.messages, action.seq);
      return { ...state, threads: withEntry(state.threads, action.rootId, { ...thread, rev: thread.rev + 1 }) };
    }
    case "message-saved":
      return placeMessage(state, action.message, action.seq, true);
    case "room-updated":
      return updateRoomView(state, action.room);
    case "read-updated":
      return applyRead(state, action.read);
    case "users-loaded": {
      const users = new Map(state.users);
      for (const u of action.users) users.set(u.id, u);
      return { ...state, users };
    }
    case "members-loaded":
      return { ...state, members: withEntry(state.members, action.roomId, action.members) };
    case "presence": {
      const presence = action.reset ? new Map<string, PresenceStatus>() : new Map(state.presence);
      for (const c of action.changes) presence.set(c.user_id, c.status);
      return { ...state, presence };
    }
    case "typing": {
      if (action.userId === state.me?.id) return state;
      const room = new Map(state.typing.get(action.roomId) ?? []);
      room.set(action.userId, action.until);
      return { ...state, typing: withEntry(state.typing, action.roomId, room) };
    }
    case "typing-expired": {
      let changed = false;
      const typing = new Map<string, ReadonlyMap<string, number>>();
      for (const [roomId, users] of state.typing) {
        const live = new Map([...users].filter(([, until]) => until > action.now));
        if (live.size !== users.size) changed = true;
        if (live.size > 0) typing.set(roomId, live);
      }
      return changed ? { ...state, typing } : state;
    }
    case "event":
      return applyEvent(state, action.event);
  }
}

function applyHistory(state: AppState, action: Extract<Action, { type: "history-loaded" }>): AppState {
  const timeline = state.timelines.get(action.roomId) ?? emptyTimeline();
  const topLevel = action.messages.filter((m) => m.thread_id === null);
  // Replies come along in history pages; file them under their threads.
  let next = state;
  for (const m of action.messages) if (m.thread_id !== null) next = placeMessage(next, m, action.seq, true);
  const short = action.messages.length < action.limit;
  let { reachedStart, reachedEnd } = timeline;
  switch (action.kind) {
    case "latest":
      reachedEnd = true;
      reachedStart = short;
      break;
    case "older":
      reachedStart = short;
      break;
    case "newer":
      reachedEnd = short;
      break;
    case "around":
      // A centred page: each half being short is a hint we can't read reliably from
      // the total, so ask again in each direction when the user scrolls there.
      reachedStart = false;
      reachedEnd = false;
      break;
  }
  timeline.index.merge(topLevel, action.seq);
  return { ...next, timelines: withEntry(next.timelines, action.roomId, bump(timeline, { reachedStart, reachedEnd, loading: null })) };
}

function applyEvent(state: AppState, event: StoredEvent): AppState {
  switch (event.type) {
    case "message.created": {
      const placed = placeMessage(state, event.data, event.seq, false);
      return countNewMessage(placed, event.data);
    }
    case "message.updated":
    case "message.deleted":
      return placeMessage(state, event.data, event.seq, false);
    case "reaction.added":
    case "reaction.removed":
      return placeMessage(state, event.data.message, event.seq, false);
    case "room.updated":
      return updateRoomView(state, event.data.room);
    case "room.member_added": {
      const { room, user_id, role, read } = event.data;
      if (user_id === state.me?.id) {
        return reduce(state, { type: "room-joined", membership: { room, role, read } });
      }
      let next = updateRoomView(state, room);
      const members = next.members.get(room.id);
      if (members && !members.some((m) => m.user_id === user_id)) {
        next = { ...next, members: withEntry(next.members, room.id, [...members, { user_id, role }]) };
      }
      return next;
    }
    case "room.member_removed": {
      const { room, user_id } = event.data;
      if (user_id === state.me?.id) return removeRoom(state, room.id);
      let next = updateRoomView(state, room);
      const members = next.members.get(room.id);
      if (members) {
        next = { ...next, members: withEntry(next.members, room.id, members.filter((m) => m.user_id !== user_id)) };
      }
      return next;
    }
    case "room.member_updated": {
      const { room_id, user_id, role } = event.data;
      let next = state;
      const entry = state.rooms?.get(room_id);
      if (user_id === state.me?.id && entry && state.rooms) {
        next = { ...next, rooms: withEntry(state.rooms, room_id, { ...entry, role }) };
      }
      const members = next.members.get(room_id);
      if (members) {
        next = {
          ...next,
          members: withEntry(next.members, room_id, members.map((m) => (m.user_id === user_id ? { ...m, role } : m))),
        };
      }
      return next;
    }
    case "read.updated":
      return applyRead(state, event.data);
    case "user.updated": {
      const user = event.data;
      const users = withEntry(state.users, user.id, {
        id: user.id,
        username: user.username,
        display_name: user.display_name,
        role: user.role,
      });
      if (user.id === state.me?.id) {
        if (!user.is_active) return { ...initialState, signedOutRemotely: true };
        return { ...state, users, me: user };
      }
      return { ...state, users };
    }
    case "session.ended":
      // Every session ended (session_id null): this one too. A single other session
      // ending is none of our business; our own ends with a 4401 close of the stream.
      if (event.data.session_id === null) return { ...initialState, signedOutRemotely: true };
      return state;
    case "bot.callback_answer":
      // For the page that clicked (ChatClient hands it to its listeners), not state.
      return state;
    default:
      // An event type this client doesn't know (a newer server): nothing to change.
      return state;
  }
}

// ---- selectors ------------------------------------------------------------------------

/** The name to show for a room: DMs are named after the other participants. */
export function roomLabel(room: RoomView, state: Pick<AppState, "me" | "users">): string {
  if (room.kind !== "dm") return room.name ?? "(unnamed)";
  const others = room.dm_user_ids.filter((id) => id !== state.me?.id);
  if (others.length === 0) return state.me?.display_name ?? "You";
  return others.map((id) => state.users.get(id)?.display_name ?? "…").join(", ");
}

export function userLabel(userId: string, state: Pick<AppState, "users">): string {
  return state.users.get(userId)?.display_name ?? "…";
}

/** Rooms sorted for the sidebar: channels and groups by name, then DMs. */
export function sortedRooms(state: Pick<AppState, "rooms" | "me" | "users">): RoomEntry[] {
  const entries = state.rooms ? [...state.rooms.values()] : [];
  const rank = (e: RoomEntry) => (e.room.kind === "dm" ? 1 : 0);
  return entries.sort(
    (a, b) => rank(a) - rank(b) || roomLabel(a.room, state).localeCompare(roomLabel(b.room, state)),
  );
}

// ---- the observable store -------------------------------------------------------------

type Listener = () => void;

export class Store {
  private current: AppState;
  private readonly listeners = new Set<Listener>();

  constructor(state: AppState = initialState) {
    this.current = state;
  }

  get state(): AppState {
    return this.current;
  }

  dispatch = (action: Action): void => {
    const next = reduce(this.current, action);
    if (next === this.current) return;
    this.current = next;
    for (const l of this.listeners) l();
  };

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
