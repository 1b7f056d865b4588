import { useEffect, useMemo, useRef, useState } from "preact/hooks";

import { api } from "../lib/api";
import { activeReplyKeyboard, REPLY_KEYBOARD_LOOKBACK } from "../lib/botMarkup";
import type { MessageView } from "../lib/types";
import { roomLabel, userLabel } from "../lib/store";
import { Composer, type ComposerProps } from "./Composer";
import { ErrorAlert } from "./Feedback";
import { errorText, useAppState, useClient, useConnectionState } from "./hooks";
import { MembersPanel } from "./Members";
import { RoomSettingsDialog } from "./RoomSettings";
import { ThreadPanel } from "./ThreadPanel";
import { Timeline } from "./Timeline";
import { useUploads } from "./uploads";

type Panel = { kind: "thread"; rootId: string } | { kind: "members" } | null;

/** How far back the Up arrow looks for the user's last message. */
const EDIT_LAST_LOOKBACK = 200;

export function RoomView({ roomId, messageId }: { roomId: string; messageId: string | null }) {
  const client = useClient();
  const entry = useAppState((s) => s.rooms?.get(roomId));
  const roomsLoaded = useAppState((s) => s.rooms !== null);
  const users = useAppState((s) => s.users);
  const me = useAppState((s) => s.me);
  const typing = useAppState((s) => s.typing.get(roomId));
  const presence = useAppState((s) => s.presence);
  const [panel, setPanel] = useState<Panel>(null);
  const [settingsOpen, setSettingsOpen] = useState(false);
  const [focusId, setFocusId] = useState<string | null>(null);
  const [editingId, setEditingId] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const uploads = useUploads(client, roomId);
  const member = entry !== undefined;
  const connection = useConnectionState();
  // Bumped to load the room again after a failed load, once the server is back.
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    if (!member) return;
    setError(null);
    client.openRoom(roomId, messageId).then(
      (opened) => {
        setFocusId(opened.focusId);
        if (opened.threadRootId) setPanel({ kind: "thread", rootId: opened.threadRootId });
      },
      (err) => setError(errorText(err)),
    );
  }, [client, roomId, messageId, member, attempt]);

  const wasLive = useRef(connection === "live");
  useEffect(() => {
    // The stream came back and resumed (so nothing else reloads), but this room's
    // load had failed while the server was away: try once more now that it answers.
    // Only on that transition, so a load that keeps failing doesn't loop.
    const cameBack = connection === "live" && !wasLive.current;
    wasLive.current = connection === "live";
    if (cameBack && error !== null) setAttempt((n) => n + 1);
  }, [connection]);

  useEffect(() => () => client.leaveView(roomId), [client, roomId]);

  if (!roomsLoaded) return <p class="muted pad">Loading…</p>;
  if (!entry || !me) return <RoomUnavailable roomId={roomId} />;

  const { room, role } = entry;
  const label = roomLabel(room, { me, users });
  const canModerate = role === "owner" || role === "moderator";
  const typers = typing ? [...typing.keys()].map((id) => userLabel(id, { users })) : [];
  const dmOther = room.kind === "dm" ? room.dm_user_ids.find((id) => id !== me.id) : undefined;

  function editLast() {
    const index = client.store.state.timelines.get(roomId)?.index;
    if (!index) return;
    const ids = index.ids;
    for (let i = ids.length - 1; i >= Math.max(0, ids.length - EDIT_LAST_LOOKBACK); i--) {
      const m = index.get(ids[i] as string);
      if (m && m.author_id === me?.id && !m.deleted) {
        setEditingId(m.id);
        return;
      }
    }
  }

  return (
    <div class={`room ${panel ? "with-panel" : ""}`}>
      <section class="room-main" aria-labelledby="room-title">
        <header class="room-header">
          <div class="room-heading">
            <h1 id="room-title" data-testid="room-title">
              {room.kind === "channel" ? "# " : ""}
              {label}
              {room.archived && <span class="tag">archived</span>}
            </h1>
            {dmOther && (
              <span class="presence" data-testid="presence" data-status={presence.get(dmOther) ?? "offline"}>
                {presence.get(dmOther) === "online" ? "online" : "offline"}
              </span>
            )}
            <p class="room-topic" data-testid="room-topic">
              {room.topic}
            </p>
          </div>
          <div class="room-tools">
            <button
              type="button"
              data-testid="members-button"
              aria-pressed={panel?.kind === "members"}
              onClick={() => setPanel(panel?.kind === "members" ? null : { kind: "members" })}
            >
              Members ({room.member_count})
            </button>
            <button type="button" data-testid="room-settings" aria-label="Room settings" onClick={() => setSettingsOpen(true)}>
              ⚙
            </button>
          </div>
        </header>
        <ErrorAlert text={error} class="pad" />
        <Timeline
          roomId={roomId}
          focusId={messageId ? focusId : null}
          canModerate={canModerate}
          editingId={editingId}
          onEditingChange={setEditingId}
          onOpenThread={(rootId) => setPanel({ kind: "thread", rootId })}
          onFiles={room.archived ? () => undefined : uploads.add}
        />
        <div class="typing" data-testid="typing" aria-live="polite">
          {typers.length === 1
            ? `${typers[0]} is typing…`
            : typers.length > 1
              ? `${typers.join(", ")} are typing…`
              : ""}
        </div>
        <RoomComposer
          roomId={roomId}
          name="composer"
          sendTestId="send"
          label={`Message ${room.kind === "channel" ? "#" : ""}${label}`}
          disabled={room.archived ? "This room is archived." : null}
          onFiles={uploads.add}
          uploads={uploads.items}
          onDismissUpload={uploads.dismiss}
          onEditLast={editLast}
        />
      </section>
      {panel?.kind === "thread" && (
        <ThreadPanel key={panel.rootId} roomId={roomId} rootId={panel.rootId} canModerate={canModerate} onClose={() => setPanel(null)} />
      )}
      {panel?.kind === "members" && <MembersPanel room={room} role={role} onClose={() => setPanel(null)} />}
      {settingsOpen && <RoomSettingsDialog room={room} role={role} onClose={() => setSettingsOpen(false)} />}
    </div>
  );
}

/**
 * The room's composer with what bots left the user: the reply keyboard (or force-reply)
 * of the newest messages, and `/command` completion. Its own component, so only it
 * renders again when the timeline changes.
 */
function RoomComposer(props: Omit<ComposerProps, "replyKeyboard" | "replyKeyboardFrom" | "commands">) {
  const timeline = useAppState((s) => s.timelines.get(props.roomId));
  const meId = useAppState((s) => s.me?.id);
  const users = useAppState((s) => s.users);
  // Only when the newest page is loaded: an older page says nothing about what is current.
  const replyKeyboard = useMemo(() => {
    if (!timeline?.reachedEnd || !meId) return null;
    const { index } = timeline;
    const recent = index.ids
      .slice(-REPLY_KEYBOARD_LOOKBACK)
      .map((id) => index.get(id))
      .filter((m): m is MessageView => m !== undefined);
    return activeReplyKeyboard(recent, meId);
  }, [timeline, meId]);
  return (
    <Composer
      {...props}
      replyKeyboard={replyKeyboard}
      replyKeyboardFrom={replyKeyboard ? userLabel(replyKeyboard.authorId, { users }) : undefined}
      commands
    />
  );
}

function RoomUnavailable({ roomId }: { roomId: string }) {
  const client = useClient();
  const [error, setError] = useState<string | null>(null);

  async function join() {
    try {
      await api.joinRoom(roomId);
      await client.loadRooms();
    } catch (err) {
      setError(errorText(err));
    }
  }

  return (
    <div class="empty-state" data-testid="room-unavailable">
      <h1>Room not available</h1>
      <p>This room doesn't exist, or you are not a member of it.</p>
      <button type="button" onClick={() => void join()}>
        Try to join
      </button>
      <ErrorAlert text={error} />
    </div>
  );
}
