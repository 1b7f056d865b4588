import { useState } from "preact/hooks";

import { api, fileUrl } from "../lib/api";
import { inlineKeyboard } from "../lib/botMarkup";
import { messagePath } from "../lib/router";
import type { FileView, MessageView } from "../lib/types";
import { InlineKeyboard } from "./BotKeyboards";
import { useConfirm } from "./Confirm";
import { EmojiPicker } from "./EmojiPicker";
import { ErrorAlert } from "./Feedback";
import { errorText, useClient } from "./hooks";
import { MessageAttachments } from "./MessageAttachments";
import { MessageText } from "./MessageText";

export interface MessageProps {
  message: MessageView;
  authorName: string;
  meId: string;
  meUsername: string;
  /** Moderators and owners may delete anyone's message. */
  canModerate: boolean;
  highlighted?: boolean;
  editing: boolean;
  onEditingChange: (editing: boolean) => void;
  /** Absent inside a thread (threads don't nest). */
  onOpenThread?: (rootId: string) => void;
  testId?: "message" | "thread-message" | "thread-root";
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function Message(props: MessageProps) {
  const { message, meId } = props;
  const client = useClient();
  const [picking, setPicking] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [confirmDialog, ask] = useConfirm();
  const mine = message.author_id === meId;
  const created = new Date(message.created_at);
  const keyboardRows = message.deleted || !message.inline_keyboard ? [] : inlineKeyboard(message.inline_keyboard);

  function act(request: () => Promise<MessageView>) {
    setError(null);
    client.saveMessage(request()).catch((err) => setError(errorText(err)));
  }

  function toggleReaction(emoji: string) {
    const reacted = message.reactions.some((r) => r.emoji === emoji && r.user_ids.includes(meId));
    act(() => api.react(message.id, emoji, !reacted));
  }

  function copyLink(e: MouseEvent) {
    const url = new URL(messagePath(message.room_id, message.id), window.location.origin).href;
    // Copying is a convenience; the link also navigates, which is the fallback.
    navigator.clipboard?.writeText(url).catch(() => undefined);
    e.stopPropagation();
  }

  return (
    <article
      class={`message ${props.highlighted ? "highlighted" : ""} ${message.deleted ? "deleted" : ""}`}
      data-testid={props.testId ?? "message"}
      data-message-id={message.id}
      data-highlighted={props.highlighted ? "true" : undefined}
      aria-label={`${props.authorName}, ${dateFormat.format(created)}`}
    >
      <header class="message-header">
        <span class="message-author" data-testid="message-author">
          {props.authorName}
        </span>
        <time class="message-time" dateTime={message.created_at} title={dateFormat.format(created)}>
          {timeFormat.format(created)}
        </time>
        {message.edited_at && !message.deleted && (
          <span class="message-edited" data-testid="message-edited" title={`Edited ${dateFormat.format(new Date(message.edited_at))}`}>
            (edited)
          </span>
        )}
        {message.pinned_at && !message.deleted && (
          <span class="pinned-marker" data-testid="pinned-marker" aria-label="Pinned">
            📌 pinned
          </span>
        )}
      </header>

      {message.deleted ? (
        <p class="tombstone" data-testid="message-deleted">
          This message was deleted.
        </p>
      ) : props.editing ? (
        <EditForm message={message} onDone={() => props.onEditingChange(false)} />
      ) : (
        <MessageText text={message.text} selfName={props.meUsername} />
      )}

      {!message.deleted && message.attachments && message.attachments.length > 0 && (
        <MessageAttachments attachments={message.attachments} />
      )}

      {keyboardRows.length > 0 && (
        <InlineKeyboard messageId={message.id} rows={keyboardRows} authorName={props.authorName} />
      )}

      {!message.deleted && message.files.length > 0 && (
        <ul class="attachments">
          {message.files.map((f) => (
            <Attachment key={f.id} file={f} />
          ))}
        </ul>
      )}

      {!message.deleted && message.reactions.length > 0 && (
        <div class="reactions">
          {message.reactions.map((r) => {
            const mine = r.user_ids.includes(meId);
            return (
              <button
                key={r.emoji}
                type="button"
                class={`reaction ${mine ? "mine" : ""}`}
                data-testid="reaction"
                data-emoji={r.emoji}
                aria-pressed={mine}
                aria-label={`${r.emoji} ${r.user_ids.length}, ${mine ? "remove your reaction" : "react"}`}
                onClick={() => toggleReaction(r.emoji)}
              >
                <span aria-hidden="true">{r.emoji}</span> <span class="reaction-count">{r.user_ids.length}</span>
              </button>
            );
          })}
        </div>
      )}

      {props.onOpenThread && message.reply_count > 0 && (
        <button type="button" class="link-button thread-count" data-testid="thread-count" onClick={() => props.onOpenThread?.(message.id)}>
          {message.reply_count} {message.reply_count === 1 ? "reply" : "replies"}
        </button>
      )}

      <ErrorAlert text={error} class="small" />

      {!message.deleted && !props.editing && (
        <div class="message-actions" role="toolbar" aria-label="Message actions">
          <button type="button" data-testid="message-react" aria-label="Add reaction" aria-expanded={picking} onClick={() => setPicking((p) => !p)}>
            ☺
          </button>
          {props.onOpenThread && (
            <button type="button" data-testid="message-reply" aria-label="Reply in thread" onClick={() => props.onOpenThread?.(message.id)}>
              ↩
            </button>
          )}
          <button
            type="button"
            data-testid="message-pin"
            aria-label={message.pinned_at ? "Unpin" : "Pin"}
            aria-pressed={message.pinned_at !== null}
            onClick={() => act(() => api.pin(message.id, message.pinned_at === null))}
          >
            📌
          </button>
          <a
            href={messagePath(message.room_id, message.id)}
            class="button"
            data-testid="message-link"
            aria-label="Link to this message (copies it)"
            onClick={copyLink}
          >
            🔗
          </a>
          {mine && (
            <button type="button" data-testid="message-edit" aria-label="Edit" onClick={() => props.onEditingChange(true)}>
              ✎
            </button>
          )}
          {(mine || props.canModerate) && (
            <button type="button" data-testid="message-delete" aria-label="Delete" onClick={() =>
                ask({
                  title: "Delete message",
                  text: "Delete this message for everyone in the room?",
                  confirmLabel: "Delete",
                  onConfirm: () => act(() => api.remove(message.id)),
                })
              }>
              🗑
            </button>
          )}
          {picking && (
            <EmojiPicker
              onClose={() => setPicking(false)}
              onPick={(emoji) => {
                setPicking(false);
                toggleReaction(emoji);
              }}
            />
          )}
        </div>
      )}
      {confirmDialog}
    </article>
  );
}

function Attachment({ file }: { file: FileView }) {
  const url = fileUrl(file.id);
  const image = file.content_type.startsWith("image/") && file.content_type !== "image/svg+xml";
  return (
    <li class="attachment-item">
      {image && (
        <img class="attachment-image" data-testid="attachment-image" src={url} alt={file.filename} />
      )}
      <a class="attachment" data-testid="attachment" href={url} download={file.filename}>
        {file.filename}
      </a>
      <span class="muted small"> {formatSize(file.size)}</span>
    </li>
  );
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function EditForm({ message, onDone }: { message: MessageView; onDone: () => void }) {
  const client = useClient();
  const [text, setText] = useState(message.text);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function save(e: Event) {
    e.preventDefault();
    if (!text.trim()) return;
    if (text === message.text) return onDone();
    setBusy(true);
    try {
      await client.saveMessage(api.edit(message.id, text));
      onDone();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }

  return (
    <form class="edit-form" onSubmit={save}>
      <label for={`edit-${message.id}`} class="visually-hidden">
        Edit message
      </label>
      <textarea
        id={`edit-${message.id}`}
        name="edit-text"
        value={text}
        autoFocus
        rows={Math.min(8, text.split("\n").length)}
        maxLength={10000}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            e.preventDefault();
            e.stopPropagation();
            onDone();
          } else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            // As in the composer: Enter saves, Shift+Enter starts a new line.
            e.preventDefault();
            e.currentTarget.form?.requestSubmit();
          }
        }}
      />
      <button type="submit" class="primary" data-testid="edit-save" disabled={busy}>
        Save
      </button>
      <button type="button" onClick={onDone}>
        Cancel
      </button>
      <ErrorAlert text={error} class="small" />
    </form>
  );
}
