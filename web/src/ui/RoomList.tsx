import { useState } from "preact/hooks";

import { roomPath } from "../lib/router";
import { roomLabel, sortedRooms } from "../lib/store";
import { DirectoryDialog, NewDmDialog, NewRoomDialog } from "./RoomDialogs";
import { useAppState } from "./hooks";

type Open = "room" | "dm" | "directory" | null;

export function RoomList({ currentRoomId }: { currentRoomId: string | null }) {
  const rooms = useAppState((s) => s.rooms);
  const users = useAppState((s) => s.users);
  const me = useAppState((s) => s.me);
  const presence = useAppState((s) => s.presence);
  const state = { rooms, users, me, presence };
  const [open, setOpen] = useState<Open>(null);
  const entries = sortedRooms(state);
  const channels = entries.filter((e) => e.room.kind !== "dm");
  const dms = entries.filter((e) => e.room.kind === "dm");

  const item = (e: (typeof entries)[number]) => {
    const label = roomLabel(e.room, state);
    const { unread_count: unread, mention_count: mentions } = e.read;
    const other = e.room.kind === "dm" ? e.room.dm_user_ids.find((id) => id !== state.me?.id) : undefined;
    const status = other ? (state.presence.get(other) ?? "offline") : null;
    return (
      <li key={e.room.id}>
        <a
          href={roomPath(e.room.id)}
          class={`room-item ${unread > 0 ? "unread" : ""} ${e.room.archived ? "archived" : ""}`}
          data-testid="room-item"
          data-room-id={e.room.id}
          aria-current={e.room.id === currentRoomId ? "page" : undefined}
        >
          <span class="room-icon" aria-hidden="true">
            {e.room.kind === "channel" ? "#" : e.room.kind === "private" ? "🔒" : status === "online" ? "●" : "○"}
          </span>
          <span class="room-name" data-testid="room-name">
            {label}
          </span>
          {mentions > 0 && (
            <span class="badge mention" data-testid="mention-count" aria-label={`${mentions} mentions`}>
              @{mentions}
            </span>
          )}
          {unread > 0 && (
            <span class="badge" data-testid="unread-count" aria-label={`${unread} unread`}>
              {unread}
            </span>
          )}
        </a>
      </li>
    );
  };

  return (
    <div class="room-list" data-testid="room-list">
      <div class="room-list-actions">
        <button type="button" data-testid="new-room" onClick={() => setOpen("room")}>
          New room
        </button>
        <button type="button" data-testid="new-dm" onClick={() => setOpen("dm")}>
          New message
        </button>
        <button type="button" data-testid="browse-channels" onClick={() => setOpen("directory")}>
          Browse channels
        </button>
      </div>
      {state.rooms === null ? (
        <p class="muted">Loading rooms…</p>
      ) : (
        <>
          <h2 class="room-group" id="rooms-heading">
            Rooms
          </h2>
          <ul aria-labelledby="rooms-heading">{channels.map(item)}</ul>
          <h2 class="room-group" id="dms-heading">
            Direct messages
          </h2>
          <ul aria-labelledby="dms-heading">{dms.map(item)}</ul>
        </>
      )}
      {open === "room" && <NewRoomDialog onClose={() => setOpen(null)} />}
      {open === "dm" && <NewDmDialog onClose={() => setOpen(null)} />}
      {open === "directory" && <DirectoryDialog onClose={() => setOpen(null)} />}
    </div>
  );
}
