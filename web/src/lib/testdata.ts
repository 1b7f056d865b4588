// Builders for unit tests.
import type { MessageView, RoomView, UserView } from "./types";

export function message(id: number, position: number, patch: Partial<MessageView> = {}): MessageView {
  return {
    id: String(id),
    room_id: "10",
    author_id: "2",
    position,
    content_type: "text/markdown",
    text: `message ${id}`,
    thread_id: null,
    reply_count: 0,
    mentions: [],
    mentions_room: false,
    client_id: null,
    created_at: "2025-01-01T00:00:00Z",
    edited_at: null,
    deleted: false,
    pinned_at: null,
    pinned_by: null,
    reactions: [],
    files: [],
    ...patch,
  };
}

export function room(id: string, patch: Partial<RoomView> = {}): RoomView {
  return {
    id,
    kind: "channel",
    name: `room-${id}`,
    topic: "",
    archived: false,
    created_by: "1",
    created_at: "2025-01-01T00:00:00Z",
    member_count: 2,
    dm_user_ids: [],
    ...patch,
  };
}

export const alice: UserView = { id: "1", username: "alice", display_name: "Alice", role: "user", is_active: true };
