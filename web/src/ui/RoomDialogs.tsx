import { useEffect, useState } from "preact/hooks";

import { api } from "../lib/api";
import type { ChatClient } from "../lib/client";
import { navigate, roomPath } from "../lib/router";
import type { MemberRole, RoomView } from "../lib/types";
import { Dialog } from "./Dialog";
import { ErrorAlert } from "./Feedback";
import { errorText, useAction, useAppState, useClient } from "./hooks";

/**
 * Show a room we just created or opened and go there: the member_added event will
 * follow, but the room shouldn't wait for it.
 */
function enterNewRoom(client: ChatClient, room: RoomView, role: MemberRole): void {
  if (!client.store.state.rooms?.has(room.id)) {
    client.dispatch({
      type: "room-joined",
      membership: {
        room,
        role,
        read: { room_id: room.id, last_read_position: 0, unread_count: 0, mention_count: 0 },
      },
    });
  }
  navigate(roomPath(room.id));
}

export function NewRoomDialog({ onClose }: { onClose: () => void }) {
  const client = useClient();
  const [name, setName] = useState("");
  const [kind, setKind] = useState<"channel" | "private">("channel");
  const [topic, setTopic] = useState("");
  const { busy, error, run } = useAction();

  async function submit(e: Event) {
    e.preventDefault();
    await run(async () => {
      const room = await api.createRoom(name.trim(), kind, topic.trim() || undefined);
      onClose();
      enterNewRoom(client, room, "owner");
    });
  }

  return (
    <Dialog title="New room" onClose={onClose}>
      <form class="form" onSubmit={submit}>
        <label for="room-name">Name</label>
        <input id="room-name" name="room-name" maxLength={64} required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <label for="room-kind">Kind</label>
        <select id="room-kind" name="room-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as "channel" | "private")}>
          <option value="channel">Public channel</option>
          <option value="private">Private group</option>
        </select>
        <label for="room-topic">Topic (optional)</label>
        <input id="room-topic" name="room-topic" maxLength={512} value={topic} onInput={(e) => setTopic(e.currentTarget.value)} />
        <ErrorAlert text={error} />
        <button type="submit" class="primary" data-testid="create-room-submit" disabled={busy}>
          Create
        </button>
      </form>
    </Dialog>
  );
}

export function NewDmDialog({ onClose }: { onClose: () => void }) {
  const client = useClient();
  const [names, setNames] = useState("");
  const { busy, error, run } = useAction();

  async function submit(e: Event) {
    e.preventDefault();
    const usernames = names
      .split(",")
      .map((n) => n.trim().replace(/^@/, ""))
      .filter(Boolean);
    if (usernames.length === 0) return;
    await run(async () => {
      const ids = await client.findUserIds(usernames);
      const { created: _created, ...room } = await api.openDm(ids);
      onClose();
      enterNewRoom(client, room, "member");
    });
  }

  return (
    <Dialog title="New direct message" onClose={onClose}>
      <form class="form" onSubmit={submit}>
        <label for="dm-usernames">Usernames, separated by commas</label>
        <input
          id="dm-usernames"
          name="dm-usernames"
          required
          placeholder="alice, bob"
          value={names}
          onInput={(e) => setNames(e.currentTarget.value)}
        />
        <ErrorAlert text={error} />
        <button type="submit" class="primary" data-testid="create-dm-submit" disabled={busy}>
          Start conversation
        </button>
      </form>
    </Dialog>
  );
}

export function DirectoryDialog({ onClose }: { onClose: () => void }) {
  const client = useClient();
  const rooms = useAppState((s) => s.rooms);
  const [query, setQuery] = useState("");
  const [results, setResults] = useState<RoomView[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    const timer = setTimeout(() => {
      api.directory(query.trim()).then(
        (found) => !cancelled && setResults(found),
        (err) => !cancelled && setError(errorText(err)),
      );
    }, 200);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [query]);

  async function join(room: RoomView) {
    try {
      const joined = await api.joinRoom(room.id);
      onClose();
      enterNewRoom(client, joined, "member");
      // Counts as of joining come with the member_added event or the next room list.
      void client.loadRooms();
    } catch (err) {
      setError(errorText(err));
    }
  }

  return (
    <Dialog title="Browse channels" onClose={onClose}>
      <label for="directory-query" class="visually-hidden">
        Find a channel
      </label>
      <input
        id="directory-query"
        name="directory-query"
        type="search"
        placeholder="Find a channel"
        value={query}
        onInput={(e) => setQuery(e.currentTarget.value)}
      />
      <ErrorAlert text={error} />
      {results === null ? (
        <p class="muted">Loading…</p>
      ) : results.length === 0 ? (
        <p class="muted">No channels found.</p>
      ) : (
        <ul class="directory">
          {results.map((room) => {
            const joined = rooms?.has(room.id) ?? false;
            return (
              <li key={room.id} class="directory-item" data-testid="directory-item" data-room-id={room.id}>
                <div>
                  <strong># {room.name}</strong>
                  {room.topic && <p class="muted">{room.topic}</p>}
                  <p class="muted small">{room.member_count} members</p>
                </div>
                {joined ? (
                  <a href={roomPath(room.id)} onClick={onClose}>
                    Open
                  </a>
                ) : (
                  <button type="button" data-testid="directory-join" aria-label={`Join ${room.name ?? "channel"}`} onClick={() => void join(room)}>
                    Join
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </Dialog>
  );
}
