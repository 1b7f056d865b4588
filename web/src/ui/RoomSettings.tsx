import { useState } from "preact/hooks";

import { api } from "../lib/api";
import { navigate } from "../lib/router";
import type { MemberRole, RoomView } from "../lib/types";
import { useConfirm } from "./Confirm";
import { Dialog } from "./Dialog";
import { ErrorAlert } from "./Feedback";
import { useAction, useClient } from "./hooks";

export function RoomSettingsDialog(props: { room: RoomView; role: MemberRole; onClose: () => void }) {
  const { room } = props;
  const client = useClient();
  const [topic, setTopic] = useState(room.topic);
  const { busy, error, run: call } = useAction();
  const [confirmDialog, ask] = useConfirm();

  async function run(action: () => Promise<unknown>, after: () => void) {
    if (await call(action)) after();
  }

  const saveTopic = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const updated = await api.updateRoom(room.id, { topic: topic.trim() });
      // The room.updated event follows; show the change now.
      client.dispatch({ type: "room-updated", room: updated });
    }, props.onClose);
  };

  const setArchived = (archived: boolean) =>
    run(async () => {
      const updated = await api.updateRoom(room.id, { archived });
      client.dispatch({ type: "room-updated", room: updated });
    }, props.onClose);

  const leave = () =>
    run(
      async () => {
        await api.leaveRoom(room.id);
        client.dispatch({ type: "room-left", roomId: room.id });
      },
      () => {
        props.onClose();
        navigate("/");
      },
    );

  return (
    <Dialog title="Room settings" onClose={props.onClose} testId="room-settings-dialog">
      {room.kind !== "dm" && (
        <form class="form" onSubmit={saveTopic}>
          <label for="room-topic-edit">Topic</label>
          <input id="room-topic-edit" name="topic" maxLength={512} value={topic} onInput={(e) => setTopic(e.currentTarget.value)} />
          <button type="submit" class="primary" data-testid="topic-save" disabled={busy}>
            Save topic
          </button>
        </form>
      )}
      <ErrorAlert text={error} />
      {confirmDialog}
      <div class="danger-zone">
        {room.kind !== "dm" && (
          <button type="button" data-testid="room-archive" disabled={busy} onClick={() =>
              room.archived
                ? void setArchived(false)
                : ask({
                    title: "Archive room",
                    text: "Archive this room? It becomes read-only for every member until it is unarchived.",
                    confirmLabel: "Archive",
                    onConfirm: () => void setArchived(true),
                  })
            }>
            {room.archived ? "Unarchive room" : "Archive room"}
          </button>
        )}
        <button type="button" class="danger" data-testid="room-leave" disabled={busy} onClick={() =>
            ask({
              title: "Leave room",
              text:
                room.kind === "channel"
                  ? "Leave this channel? You can join it again from the channel list."
                  : "Leave this private group? Only a member can invite you back.",
              confirmLabel: "Leave",
              onConfirm: () => void leave(),
            })
          }>
          Leave room
        </button>
      </div>
    </Dialog>
  );
}
