/**
 * The chat client: owns the store and the event stream and performs the requests the
 * UI asks for, feeding every answer and event through the store's reducer.
 */
import { ApiError, api, setCsrfToken } from "./api";
import { commandOptions, type CommandOption } from "./botCommands";
import { CallbackTracker, type ShownAnswer } from "./callbacks";
import { Store } from "./store";
import { EventStream, eventsUrl } from "./stream";
import type { MessageView, PresenceFrame, SessionInfo, StoredEvent, TypingFrame } from "./types";

// Messages per history request (the API allows up to 200): a page spans several screens,
// so reading back fetches rarely, while the first page stays quick to parse.
const PAGE = 100;
const TYPING_SEND_INTERVAL_MS = 3_000;
const TYPING_SHOW_MS = 6_000;
/** How long a room's bot commands are reused before asking again. */
const COMMANDS_TTL_MS = 30_000;

/**
 * One page of history, fetched with one message more than it keeps: whether that extra
 * message exists says whether the history goes on in that direction, so the start (or end)
 * of a room is known from the page that reaches it, not from a further request that
 * comes back empty. The store decides "reached the end" from `messages.length < limit`,
 * so `limit` is chosen to tell it exactly that.
 */
async function fetchPage(
  roomId: string,
  query: { before?: number; after?: number },
  towards: "older" | "newer",
): Promise<{ messages: MessageView[]; limit: number }> {
  const messages = await api.history(roomId, { ...query, limit: PAGE + 1 });
  if (messages.length <= PAGE) return { messages, limit: messages.length + 1 };
  // Pages are in position order: the extra message is the one furthest from the query.
  const kept = towards === "older" ? messages.slice(messages.length - PAGE) : messages.slice(0, PAGE);
  return { messages: kept, limit: PAGE };
}

export interface OpenedRoom {
  /** The message to scroll to and highlight (a linked reply's thread root). */
  focusId: string | null;
  /** The thread to open beside it when the link named a reply. */
  threadRootId: string | null;
}

export type SignOutReason = "logout" | "session-ended";

export class ChatClient {
  readonly store = new Store();
  readonly stream: EventStream;
  /** The room on screen, reloaded after a resync. */
  private viewing: { roomId: string; messageId: string | null } | null = null;
  private readonly openThreads = new Set<string>();
  private readonly userRequests = new Set<string>();
  private readonly lastTypingSent = new Map<string, number>();
  private readonly readRequests = new Map<string, number>();
  /** Highest message position seen per room, thread replies included (they count as unread). */
  private readonly latestPosition = new Map<string, number>();
  private typingSweep: ReturnType<typeof setInterval> | null = null;
  private connectionListeners = new Set<() => void>();
  private readonly callbacks = new CallbackTracker();
  private readonly answerListeners = new Set<(answer: ShownAnswer) => void>();
  private readonly commandCache = new Map<string, { at: number; options: Promise<CommandOption[]> }>();

  constructor(private readonly onSignedOut: (reason: SignOutReason) => void) {
    this.stream = new EventStream(
      {
        onReady: ({ resumed }) => {
          // A fresh stream (first connect, or the position was unusable) starts at
          // "now": reload what we show so nothing between then and now is missing.
          if (!resumed) void this.resync();
        },
        onEvent: (event) => this.applyEvent(event),
        onEphemeral: (frame) => this.applyEphemeral(frame),
        onState: () => this.connectionListeners.forEach((l) => l()),
        onUnauthorized: () => this.signOut("session-ended"),
      },
      { url: eventsUrl() },
    );
  }

  get dispatch() {
    return this.store.dispatch;
  }

  onConnectionChange(listener: () => void): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  begin(session: SessionInfo): void {
    setCsrfToken(session.csrf_token);
    this.store.dispatch({ type: "signed-in", me: session.user });
    this.stream.start();
    this.typingSweep = setInterval(() => this.store.dispatch({ type: "typing-expired", now: Date.now() }), 1_000);
  }

  /** Stop everything local; the server session is handled by the caller. */
  private end(): void {
    this.stream.stop();
    if (this.typingSweep !== null) clearInterval(this.typingSweep);
    this.typingSweep = null;
    this.viewing = null;
    this.openThreads.clear();
    this.userRequests.clear();
    this.commandCache.clear();
    this.store.dispatch({ type: "signed-out" });
    setCsrfToken(null);
  }

  signOut(reason: SignOutReason): void {
    if (!this.store.state.me) return;
    this.end();
    this.onSignedOut(reason);
  }

  async logout(): Promise<void> {
    try {
      await api.logout();
    } catch {
      // The session may already be gone; signing out locally is what matters.
    }
    this.signOut("logout");
  }

  /** Bot answers to this page's button clicks (a toast, or an alert). */
  onCallbackAnswer(listener: (answer: ShownAnswer) => void): () => void {
    this.answerListeners.add(listener);
    return () => this.answerListeners.delete(listener);
  }

  private showAnswer(answer: ShownAnswer | null): void {
    if (answer) this.answerListeners.forEach((l) => l(answer));
  }

  // ---- bots ---------------------------------------------------------------------------

  /** Click a bot's inline button; the bot's answer comes later through the stream. */
  async clickButton(messageId: string, row: number, column: number): Promise<void> {
    const { callback_id } = await api.clickButton(messageId, row, column);
    if (typeof callback_id === "string") this.showAnswer(this.callbacks.clicked(callback_id));
  }

  /** The room's bot commands (checked), cached briefly; [] when they can't be had. */
  botCommands(roomId: string): Promise<CommandOption[]> {
    const cached = this.commandCache.get(roomId);
    if (cached && Date.now() - cached.at < COMMANDS_TTL_MS) return cached.options;
    const options = api.botCommands(roomId).then(commandOptions, () => {
      this.commandCache.delete(roomId);
      return [];
    });
    this.commandCache.set(roomId, { at: Date.now(), options });
    return options;
  }

  // ---- stream -------------------------------------------------------------------------

  private applyEvent(event: StoredEvent): void {
    this.store.dispatch({ type: "event", event });
    switch (event.type) {
      case "message.created":
        this.noteLatest([event.data]);
        this.ensureUsers([event.data.author_id]);
        break;
      case "room.member_added":
        this.ensureUsers([event.data.user_id, ...event.data.room.dm_user_ids]);
        break;
      case "bot.callback_answer":
        this.showAnswer(this.callbacks.answered(event.data));
        break;
      case "user.updated":
      case "session.ended":
        // The reducer cleared the state when this ended our own session.
        if (!this.store.state.me) {
          this.end();
          this.onSignedOut("session-ended");
        }
        break;
      default:
        break;
    }
  }

  private applyEphemeral(frame: TypingFrame | PresenceFrame): void {
    if (frame.type === "typing") {
      this.store.dispatch({
        type: "typing",
        roomId: frame.data.room_id,
        userId: frame.data.user_id,
        until: Date.now() + TYPING_SHOW_MS,
      });
      this.ensureUsers([frame.data.user_id]);
    } else {
      this.store.dispatch({ type: "presence", changes: frame.data.changes });
    }
  }

  /** Reload the room list, presence and what's on screen. */
  async resync(): Promise<void> {
    await this.loadRooms();
    void this.loadPresence();
    const viewing = this.viewing;
    if (viewing && this.store.state.rooms?.has(viewing.roomId)) {
      await this.loadRoom(viewing.roomId, viewing.messageId, true).catch(() => undefined);
    }
    for (const rootId of this.openThreads) void this.loadThread(rootId);
  }

  async loadRooms(): Promise<void> {
    try {
      const memberships = await api.myRooms();
      this.store.dispatch({ type: "rooms-loaded", memberships });
      this.ensureUsers(memberships.flatMap((m) => m.room.dm_user_ids));
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
    }
  }

  private async loadPresence(): Promise<void> {
    try {
      const online = await api.presence();
      this.store.dispatch({
        type: "presence",
        reset: true,
        changes: online.map((user_id) => ({ user_id, status: "online" as const })),
      });
    } catch {
      // Presence is a courtesy.
    }
  }

  // ---- users --------------------------------------------------------------------------

  /** Fetch the names of users we haven't seen yet (each id once). */
  ensureUsers(ids: Iterable<string>): void {
    const known = this.store.state.users;
    for (const id of new Set(ids)) {
      if (known.has(id) || this.userRequests.has(id)) continue;
      this.userRequests.add(id);
      api.user(id).then(
        (user) => this.store.dispatch({ type: "users-loaded", users: [user] }),
        () => {
          // Leave it to a later attempt (e.g. after a resync).
          this.userRequests.delete(id);
        },
      );
    }
  }

  async findUserIds(usernames: string[]): Promise<string[]> {
    const ids: string[] = [];
    for (const name of usernames) {
      const found = await api.findUser(name);
      const user = found[0];
      if (!user) throw new ApiError(404, "not_found", `No user named "${name}".`);
      this.store.dispatch({ type: "users-loaded", users: [user] });
      ids.push(user.id);
    }
    return ids;
  }

  // ---- history --------------------------------------------------------------------------

  /** Show a room: its newest page, or the page around a linked message. */
  async openRoom(roomId: string, messageId: string | null): Promise<OpenedRoom> {
    this.viewing = { roomId, messageId };
    const timeline = this.store.state.timelines.get(roomId);
    // The newest page is already here (events kept it current): nothing to fetch.
    if (messageId === null && timeline?.reachedEnd) return { focusId: null, threadRootId: null };
    return this.loadRoom(roomId, messageId, true);
  }

  private async loadRoom(roomId: string, messageId: string | null, reset: boolean): Promise<OpenedRoom> {
    const seq = this.stream.lastSeq;
    if (reset || !this.store.state.timelines.get(roomId)) this.store.dispatch({ type: "timeline-reset", roomId });
    this.store.dispatch({ type: "timeline-loading", roomId, loading: "initial" });
    let opened: OpenedRoom = { focusId: null, threadRootId: null };
    try {
      let messages: MessageView[];
      if (messageId !== null) {
        const target = await api.message(messageId);
        // A linked thread reply is shown in its thread, next to its root.
        const root = target.thread_id ? await api.message(target.thread_id) : target;
        opened = { focusId: root.id, threadRootId: target.thread_id };
        messages = await api.history(roomId, { around: root.position, limit: PAGE });
        this.store.dispatch({ type: "history-loaded", roomId, kind: "around", messages, limit: PAGE, seq });
      } else {
        const page = await fetchPage(roomId, {}, "older");
        messages = page.messages;
        this.store.dispatch({ type: "history-loaded", roomId, kind: "latest", messages, limit: page.limit, seq });
        await this.catchUp(roomId, seq);
      }
      this.noteLatest(messages);
      this.ensureUsers(messages.map((m) => m.author_id));
    } catch (err) {
      this.store.dispatch({ type: "timeline-loading", roomId, loading: null });
      throw err;
    }
    return opened;
  }

  /**
   * After a page that reached the newest message: fetch what came after it if the
   * stream moved while the page was in flight. A new message beyond the loaded range
   * isn't placed while the end isn't reached (the page in flight is expected to hold
   * it), but the server may have read that page just before the message was written.
   */
  private async catchUp(roomId: string, seqAtRequest: number): Promise<void> {
    let seq = seqAtRequest;
    for (let round = 0; round < 5 && this.stream.lastSeq > seq; round++) {
      const timeline = this.store.state.timelines.get(roomId);
      const last = timeline?.index.last();
      if (!timeline?.reachedEnd || !last) return;
      seq = this.stream.lastSeq;
      const { messages, limit } = await fetchPage(roomId, { after: last.position }, "newer");
      this.store.dispatch({ type: "history-loaded", roomId, kind: "newer", messages, limit, seq });
      this.noteLatest(messages);
      this.ensureUsers(messages.map((m) => m.author_id));
    }
  }

  async loadOlder(roomId: string): Promise<void> {
    const timeline = this.store.state.timelines.get(roomId);
    if (!timeline || timeline.loading || timeline.reachedStart) return;
    const first = timeline.index.first();
    if (!first) return;
    await this.page(roomId, "older", { before: first.position });
  }

  async loadNewer(roomId: string): Promise<void> {
    const timeline = this.store.state.timelines.get(roomId);
    if (!timeline || timeline.loading || timeline.reachedEnd) return;
    const last = timeline.index.last();
    if (!last) return;
    await this.page(roomId, "newer", { after: last.position });
  }

  private async page(
    roomId: string,
    kind: "older" | "newer",
    query: { before?: number; after?: number },
  ): Promise<void> {
    const seq = this.stream.lastSeq;
    this.store.dispatch({ type: "timeline-loading", roomId, loading: kind });
    try {
      const { messages, limit } = await fetchPage(roomId, query, kind);
      this.store.dispatch({ type: "history-loaded", roomId, kind, messages, limit, seq });
      this.noteLatest(messages);
      this.ensureUsers(messages.map((m) => m.author_id));
      if (kind === "newer") await this.catchUp(roomId, seq);
    } catch (err) {
      this.store.dispatch({ type: "timeline-loading", roomId, loading: null });
      throw err;
    }
  }

  leaveView(roomId: string): void {
    if (this.viewing?.roomId === roomId) this.viewing = null;
  }

  async loadThread(rootId: string): Promise<void> {
    this.openThreads.add(rootId);
    const seq = this.stream.lastSeq;
    const messages = await api.thread(rootId);
    this.store.dispatch({ type: "thread-loaded", rootId, messages, seq });
    this.ensureUsers(messages.map((m) => m.author_id));
  }

  closeThread(rootId: string): void {
    this.openThreads.delete(rootId);
  }

  // ---- writing ------------------------------------------------------------------------

  async send(roomId: string, text: string, opts: { threadId?: string; fileIds?: string[] } = {}): Promise<void> {
    const seq = this.stream.lastSeq;
    const body: { text: string; client_id: string; thread_id?: string; file_ids?: string[] } = {
      text,
      // The server returns the first message for a repeated client_id, so a retried
      // request can't post twice.
      client_id: crypto.randomUUID(),
    };
    if (opts.threadId) body.thread_id = opts.threadId;
    if (opts.fileIds?.length) body.file_ids = opts.fileIds;
    const message = await api.post(roomId, body);
    this.store.dispatch({ type: "message-saved", message, seq });
    this.noteLatest([message]);
    this.lastTypingSent.delete(roomId);
  }

  async saveMessage(request: Promise<MessageView>): Promise<void> {
    const seq = this.stream.lastSeq;
    const message = await request;
    this.store.dispatch({ type: "message-saved", message, seq });
  }

  /** Tell the room we're typing, at most every few seconds. */
  typing(roomId: string): void {
    const now = Date.now();
    if (now - (this.lastTypingSent.get(roomId) ?? 0) < TYPING_SEND_INTERVAL_MS) return;
    this.lastTypingSent.set(roomId, now);
    this.stream.sendTyping(roomId);
  }

  /** Move the read position to the newest message we know of in the room. */
  markRead(roomId: string): void {
    const state = this.store.state;
    const entry = state.rooms?.get(roomId);
    const timeline = state.timelines.get(roomId);
    if (!entry || !timeline?.reachedEnd) return;
    const latest = Math.max(this.latestPosition.get(roomId) ?? 0, timeline.index.last()?.position ?? 0);
    if (latest <= entry.read.last_read_position || latest <= (this.readRequests.get(roomId) ?? 0)) return;
    this.readRequests.set(roomId, latest);
    api.markRead(roomId, latest).then(
      (read) => this.store.dispatch({ type: "read-updated", read }),
      () => this.readRequests.delete(roomId),
    );
  }

  private noteLatest(messages: readonly MessageView[]): void {
    for (const m of messages) {
      if (m.position > (this.latestPosition.get(m.room_id) ?? 0)) this.latestPosition.set(m.room_id, m.position);
    }
  }
}
