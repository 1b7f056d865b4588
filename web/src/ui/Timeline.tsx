import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";

import { navigate, roomPath } from "../lib/router";
import { userLabel } from "../lib/store";
import { ErrorAlert } from "./Feedback";
import { errorText, useAppState, useClient } from "./hooks";
import { Message } from "./Message";
import { VirtualList, type ScrollInfo } from "./VirtualList";

const HEADER_KEY = "history-header";
/** Start fetching the next page this far (px) before the reader reaches an end. */
const PREFETCH_PX = 800;
const AT_BOTTOM_PX = 40;

/**
 * The header stays at index 0 while older pages are inserted under it, so it must never
 * be what holds the view still: at the very top that would keep the view at the top and
 * load page after page on its own.
 */
const isMessageRow = (key: string) => key !== HEADER_KEY;

export interface TimelineProps {
  roomId: string;
  focusId: string | null;
  canModerate: boolean;
  editingId: string | null;
  onEditingChange: (id: string | null) => void;
  onOpenThread: (rootId: string) => void;
  onFiles: (files: FileList) => void;
}

export function Timeline(props: TimelineProps) {
  const { roomId } = props;
  const client = useClient();
  const timeline = useAppState((s) => s.timelines.get(roomId));
  const users = useAppState((s) => s.users);
  const me = useAppState((s) => s.me);
  const [atBottom, setAtBottom] = useState(true);
  const [unseen, setUnseen] = useState(0);
  const [dragging, setDragging] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const scroller = useRef<HTMLDivElement | null>(null);
  const lastSeenCount = useRef(0);

  const keys = useMemo(() => (timeline ? [HEADER_KEY, ...timeline.index.ids] : [HEADER_KEY]), [timeline]);

  // Count messages that arrived while the reader was scrolled up (for the jump button
  // and the live region); reading them (being at the bottom) clears the count.
  const size = timeline?.index.size ?? 0;
  useEffect(() => {
    if (atBottom || !timeline?.reachedEnd) {
      lastSeenCount.current = size;
      setUnseen(0);
    } else if (size > lastSeenCount.current) {
      setUnseen(size - lastSeenCount.current);
    }
  }, [size, atBottom, timeline?.reachedEnd]);

  // Being at the bottom of a current timeline in a visible tab is reading it.
  useEffect(() => {
    if (!atBottom || !timeline?.reachedEnd) return;
    const markIfVisible = () => {
      if (document.visibilityState === "visible") client.markRead(roomId);
    };
    markIfVisible();
    document.addEventListener("visibilitychange", markIfVisible);
    return () => document.removeEventListener("visibilitychange", markIfVisible);
  }, [client, roomId, atBottom, timeline?.rev, timeline?.reachedEnd]);

  const onScroll = useCallback(
    (info: ScrollInfo) => {
      setAtBottom(info.fromBottom <= AT_BOTTOM_PX);
      const t = client.store.state.timelines.get(roomId);
      if (!t || t.loading) return;
      const fail = (err: unknown) => setError(errorText(err));
      if (info.fromTop < PREFETCH_PX && !t.reachedStart) client.loadOlder(roomId).catch(fail);
      else if (info.fromBottom < PREFETCH_PX && !t.reachedEnd) client.loadNewer(roomId).catch(fail);
    },
    [client, roomId],
  );

  function jumpToLatest() {
    if (timeline?.reachedEnd) {
      const el = scroller.current;
      if (el) el.scrollTop = el.scrollHeight;
    } else {
      // The window came from a link: drop it and load the newest page.
      navigate(roomPath(roomId), { replace: true });
    }
  }

  const renderRow = (key: string) => {
    if (key === HEADER_KEY) {
      if (timeline?.reachedStart) {
        return (
          <p class="history-start" data-testid="history-start">
            This is the beginning of the room.
          </p>
        );
      }
      return (
        <p class="load-older" data-testid="load-older" role="status">
          {timeline?.loading ? "Loading…" : "Scroll up for older messages"}
        </p>
      );
    }
    const message = timeline?.index.get(key);
    if (!message || !me) return <div />;
    return (
      <Message
        message={message}
        authorName={userLabel(message.author_id, { users })}
        meId={me.id}
        meUsername={me.username}
        canModerate={props.canModerate}
        highlighted={message.id === props.focusId}
        editing={props.editingId === message.id}
        onEditingChange={(on) => props.onEditingChange(on ? message.id : null)}
        onOpenThread={props.onOpenThread}
      />
    );
  };

  function onDrop(e: DragEvent) {
    e.preventDefault();
    setDragging(false);
    const files = e.dataTransfer?.files;
    if (files && files.length > 0) props.onFiles(files);
  }

  const showJump = !atBottom || (timeline !== undefined && !timeline.reachedEnd && timeline.loading === null);

  return (
    <div
      class={`timeline ${dragging ? "dragging" : ""}`}
      onDragOver={(e) => {
        if (e.dataTransfer?.types.includes("Files")) {
          e.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={(e) => {
        if (e.currentTarget === e.target) setDragging(false);
      }}
      onDrop={onDrop}
    >
      {timeline === undefined || (timeline.loading === "initial" && timeline.index.size === 0) ? (
        <div class="timeline-loading vl-scroller" data-testid="timeline" role="status">
          Loading messages…
        </div>
      ) : (
        <VirtualList
          key={`${roomId}:${timeline.generation}`}
          keys={keys}
          renderRow={renderRow}
          focusKey={props.focusId}
          followBottom={timeline.reachedEnd}
          canAnchor={isMessageRow}
          onScroll={onScroll}
          label="Messages"
          testId="timeline"
          className="timeline-scroller"
          scrollerRef={(el) => {
            scroller.current = el;
          }}
        />
      )}
      {dragging && (
        <div class="drop-overlay" aria-hidden="true">
          Drop files to upload
        </div>
      )}
      <ErrorAlert text={error} class="small timeline-error" />
      <div class="visually-hidden" aria-live="polite">
        {unseen > 0 ? `${unseen} new ${unseen === 1 ? "message" : "messages"}` : ""}
      </div>
      {showJump && (
        <button type="button" class="jump-latest" data-testid="jump-latest" onClick={jumpToLatest}>
          {unseen > 0 ? `${unseen} new · Jump to latest ↓` : "Jump to latest ↓"}
        </button>
      )}
    </div>
  );
}
