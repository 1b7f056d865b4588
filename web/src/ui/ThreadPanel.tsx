import { useEffect, useRef, useState } from "preact/hooks";

import { api } from "../lib/api";
import { userLabel } from "../lib/store";
import type { MessageView } from "../lib/types";
import { Composer } from "./Composer";
import { ErrorAlert } from "./Feedback";
import { errorText, useAppState, useClient, useEscape } from "./hooks";
import { Message } from "./Message";
import { SidePanel } from "./SidePanel";
import { useUploads } from "./uploads";

export function ThreadPanel(props: { roomId: string; rootId: string; canModerate: boolean; onClose: () => void }) {
  const { roomId, rootId } = props;
  const client = useClient();
  const fromTimeline = useAppState((s) => s.timelines.get(roomId)?.index.get(rootId));
  const thread = useAppState((s) => s.threads.get(rootId));
  const users = useAppState((s) => s.users);
  const me = useAppState((s) => s.me);
  const [fetchedRoot, setFetchedRoot] = useState<MessageView | null>(null);
  const [editingId, setEditingId] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const uploads = useUploads(client, roomId, rootId);
  const list = useRef<HTMLOListElement>(null);
  useEscape(true, props.onClose);

  useEffect(() => {
    client.loadThread(rootId).catch((err) => setError(errorText(err)));
    // The root may be outside the loaded part of the timeline (opened from a link).
    if (!client.store.state.timelines.get(roomId)?.index.has(rootId)) {
      api.message(rootId).then(setFetchedRoot, (err) => setError(errorText(err)));
    }
    return () => client.closeThread(rootId);
  }, [client, roomId, rootId]);

  // Follow new replies.
  useEffect(() => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [thread?.rev]);

  const root = fromTimeline ?? fetchedRoot;
  const replies = thread ? thread.index.ids.map((id) => thread.index.get(id)).filter((m): m is MessageView => !!m) : [];

  if (!me) return null;
  return (
    <SidePanel title="Thread" class="thread-panel" testId="thread-panel" onClose={props.onClose}>
      <ErrorAlert text={error} class="small" />
      <ol class="thread-messages" ref={list}>
        {root && (
          <li class="thread-root">
            <Message
              message={root}
              authorName={userLabel(root.author_id, { users })}
              meId={me.id}
              meUsername={me.username}
              canModerate={props.canModerate}
              editing={editingId === root.id}
              onEditingChange={(on) => setEditingId(on ? root.id : null)}
              testId="thread-root"
            />
          </li>
        )}
        {replies.map((m) => (
          <li key={m.id}>
            <Message
              message={m}
              authorName={userLabel(m.author_id, { users })}
              meId={me.id}
              meUsername={me.username}
              canModerate={props.canModerate}
              editing={editingId === m.id}
              onEditingChange={(on) => setEditingId(on ? m.id : null)}
              testId="thread-message"
            />
          </li>
        ))}
      </ol>
      <Composer
        roomId={roomId}
        threadId={rootId}
        name="thread-composer"
        sendTestId="thread-send"
        label="Reply in thread"
        onFiles={uploads.add}
        uploads={uploads.items}
        onDismissUpload={uploads.dismiss}
      />
    </SidePanel>
  );
}
