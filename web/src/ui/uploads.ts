import { useCallback, useEffect, useRef, useState } from "preact/hooks";

import { uploadFile, type Upload } from "../lib/api";
import type { ChatClient } from "../lib/client";
import { errorText } from "./hooks";

export interface UploadItem {
  id: number;
  name: string;
  progress: number;
  error: string | null;
}

const MAX_FILES_PER_DROP = 10;
let nextUploadId = 1;

/**
 * Files dropped or picked for a room: each is uploaded with progress, then posted as a
 * message of its own (the API attaches files by posting a message with their ids).
 */
export function useUploads(client: ChatClient, roomId: string, threadId?: string) {
  const [items, setItems] = useState<UploadItem[]>([]);
  const running = useRef(new Map<number, Upload>());

  useEffect(
    () => () => {
      for (const u of running.current.values()) u.abort();
    },
    [],
  );

  const patch = (id: number, change: Partial<UploadItem>) =>
    setItems((list) => list.map((it) => (it.id === id ? { ...it, ...change } : it)));

  const dismiss = useCallback((id: number) => {
    running.current.get(id)?.abort();
    running.current.delete(id);
    setItems((list) => list.filter((it) => it.id !== id));
  }, []);

  const add = useCallback(
    (files: Iterable<File>) => {
      for (const file of Array.from(files).slice(0, MAX_FILES_PER_DROP)) {
        const id = nextUploadId++;
        setItems((list) => [...list, { id, name: file.name, progress: 0, error: null }]);
        const upload = uploadFile(roomId, file, (progress) => patch(id, { progress }));
        running.current.set(id, upload);
        upload.promise
          .then((view) => client.send(roomId, "", threadId ? { threadId, fileIds: [view.id] } : { fileIds: [view.id] }))
          .then(
            () => {
              running.current.delete(id);
              setItems((list) => list.filter((it) => it.id !== id));
            },
            (err) => {
              running.current.delete(id);
              patch(id, { error: errorText(err) });
            },
          );
      }
    },
    [client, roomId, threadId],
  );

  return { items, add, dismiss };
}
