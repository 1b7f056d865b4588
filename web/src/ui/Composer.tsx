import { useEffect, useRef, useState } from "preact/hooks";

import { commandQuery, matchCommands, moveSelection, type CommandOption } from "../lib/botCommands";
import type { ActiveReplyKeyboard } from "../lib/botMarkup";
import { ReplyKeyboardBar } from "./BotKeyboards";
import { ErrorAlert } from "./Feedback";
import { errorText, useClient } from "./hooks";
import type { UploadItem } from "./uploads";

export interface ComposerProps {
  roomId: string;
  /** Posting into a thread (the thread panel's composer). */
  threadId?: string;
  name: "composer" | "thread-composer";
  sendTestId: "send" | "thread-send";
  label: string;
  disabled?: string | null;
  onFiles?: (files: FileList) => void;
  uploads?: UploadItem[];
  onDismissUpload?: (id: number) => void;
  /** Up arrow in an empty composer: edit the user's last message. */
  onEditLast?: () => void;
  /** The reply keyboard (or force-reply) a bot sent the user in this room (main composer only). */
  replyKeyboard?: ActiveReplyKeyboard | null;
  /** The name of the bot that sent it. */
  replyKeyboardFrom?: string;
  /** Offer `/command` completion from the room's bots. */
  commands?: boolean;
}

export function Composer(props: ComposerProps) {
  const client = useClient();
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const textarea = useRef<HTMLTextAreaElement>(null);
  const completion = useCommandCompletion(props.roomId, text, !!props.commands);
  const [keyboardHidden, setKeyboardHidden] = useState(false);
  const keyboard = props.replyKeyboard ?? null;

  // A force-reply asks the user to answer: put the cursor in the composer, once per message.
  const focusedFor = useRef<string | null>(null);
  useEffect(() => {
    if (!keyboard?.keyboard.force_reply || focusedFor.current === keyboard.messageId) return;
    focusedFor.current = keyboard.messageId;
    textarea.current?.focus();
  }, [keyboard?.messageId, keyboard?.keyboard.force_reply]);
  // A new keyboard shows even if the user hid the previous one.
  useEffect(() => setKeyboardHidden(false), [keyboard?.messageId]);

  async function send(body: string = text, fromKeyboard = false) {
    if (!body.trim() || busy) return;
    setBusy(true);
    setError(null);
    try {
      await client.send(props.roomId, body, props.threadId ? { threadId: props.threadId } : {});
      if (!fromKeyboard) setText("");
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
      textarea.current?.focus();
    }
  }

  function complete(option: CommandOption) {
    setText(option.insert);
    completion.close();
    const el = textarea.current;
    if (el) {
      el.value = option.insert;
      el.focus();
      el.setSelectionRange(option.insert.length, option.insert.length);
    }
  }

  function onKeyDown(e: KeyboardEvent) {
    if (completion.open) {
      const chosen = completion.matches[completion.selected];
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        completion.move(e.key === "ArrowDown" ? 1 : -1);
        return;
      }
      if ((e.key === "Enter" || e.key === "Tab") && !e.shiftKey && !e.isComposing && chosen) {
        e.preventDefault();
        complete(chosen);
        return;
      }
      if (e.key === "Escape") {
        // Close the list only (not a dialog or panel behind the composer).
        e.preventDefault();
        e.stopPropagation();
        completion.close();
        return;
      }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      void send();
    } else if (e.key === "ArrowUp" && text === "" && props.onEditLast) {
      e.preventDefault();
      props.onEditLast();
    }
  }

  const inputId = `${props.name}-${props.threadId ?? props.roomId}`;
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      {props.uploads && props.uploads.length > 0 && (
        <ul class="uploads" aria-label="Uploads">
          {props.uploads.map((u) => (
            <li key={u.id} class="upload">
              <span class="upload-name">{u.name}</span>
              {u.error ? (
                <span class="error small" role="alert">
                  {u.error}
                </span>
              ) : (
                <progress data-testid="upload-progress" max={1} value={u.progress} aria-label={`Uploading ${u.name}`} />
              )}
              <button type="button" class="icon-button" aria-label={`Cancel ${u.name}`} onClick={() => props.onDismissUpload?.(u.id)}>
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <ErrorAlert text={error} class="small" />
      {keyboard && (
        <div class="bot-reply">
          {keyboard.keyboard.force_reply && (
            <p class="reply-mode small" data-testid="force-reply">
              Replying to {props.replyKeyboardFrom ?? "a bot"}
            </p>
          )}
          {keyboard.keyboard.keyboard.length > 0 && (
            <>
              <button
                type="button"
                class="link-button small"
                data-testid="reply-keyboard-toggle"
                aria-expanded={!keyboardHidden}
                aria-controls={`${props.name}-reply-keyboard`}
                onClick={() => setKeyboardHidden((h) => !h)}
              >
                {keyboardHidden ? "Show suggested replies" : "Hide suggested replies"}
              </button>
              <div id={`${props.name}-reply-keyboard`} hidden={keyboardHidden}>
                <ReplyKeyboardBar
                  keyboard={keyboard.keyboard}
                  botName={props.replyKeyboardFrom ?? "a bot"}
                  disabled={busy || !!props.disabled}
                  onPick={(label) => void send(label, true)}
                />
              </div>
            </>
          )}
        </div>
      )}
      {completion.open && (
        <ul class="command-list" role="listbox" id={`${inputId}-commands`} aria-label="Bot commands" data-testid="command-list">
          {completion.matches.map((o, i) => (
            <li
              key={o.key}
              id={`${inputId}-command-${o.key}`}
              role="option"
              aria-selected={i === completion.selected}
              class={i === completion.selected ? "selected" : ""}
              data-testid="command-option"
              data-command={o.command}
              // Keep the focus in the composer (a click would otherwise blur it first).
              onMouseDown={(e) => e.preventDefault()}
              onClick={() => complete(o)}
            >
              <span class="command-name">/{o.command}</span>
              {o.description && <span class="command-description"> {o.description}</span>}
              <span class="muted small"> @{o.botUsername}</span>
            </li>
          ))}
        </ul>
      )}
      <span class="visually-hidden" role="status">
        {completion.open
          ? `${completion.matches.length} ${completion.matches.length === 1 ? "command" : "commands"}: up and down to choose, Enter to insert.`
          : ""}
      </span>
      <div class="composer-row">
        {props.onFiles && (
          <>
            <input
              ref={fileInput}
              id={`${inputId}-file`}
              type="file"
              multiple
              class="visually-hidden"
              data-testid="file-input"
              aria-label="Attach files"
              disabled={!!props.disabled}
              onChange={(e) => {
                const files = e.currentTarget.files;
                if (files && files.length > 0) props.onFiles?.(files);
                e.currentTarget.value = "";
              }}
            />
            <button
              type="button"
              class="icon-button"
              aria-label="Attach files"
              disabled={!!props.disabled}
              onClick={() => fileInput.current?.click()}
            >
              📎
            </button>
          </>
        )}
        <label for={inputId} class="visually-hidden">
          {props.label}
        </label>
        <textarea
          ref={textarea}
          id={inputId}
          name={props.name}
          rows={1}
          maxLength={10000}
          placeholder={props.disabled ?? keyboard?.keyboard.placeholder ?? props.label}
          disabled={!!props.disabled}
          value={text}
          aria-autocomplete={props.commands ? "list" : undefined}
          aria-controls={completion.open ? `${inputId}-commands` : undefined}
          aria-activedescendant={
            completion.open && completion.matches[completion.selected]
              ? `${inputId}-command-${completion.matches[completion.selected]?.key}`
              : undefined
          }
          onBlur={() => completion.close()}
          onInput={(e) => {
            setText(e.currentTarget.value);
            if (e.currentTarget.value) client.typing(props.roomId);
          }}
          onKeyDown={onKeyDown}
        />
        <button type="submit" class="primary" data-testid={props.sendTestId} disabled={busy || !!props.disabled}>
          Send
        </button>
      </div>
    </form>
  );
}

interface CommandCompletion {
  /** The list is showing (a "/" query with matches, not dismissed). */
  open: boolean;
  matches: CommandOption[];
  selected: number;
  move: (delta: number) => void;
  close: () => void;
}

/**
 * `/command` completion: the room's bot commands (fetched the first time "/" is typed),
 * matching what follows the "/"; Escape (or a blur) closes the list until the text changes.
 */
function useCommandCompletion(roomId: string, text: string, enabled: boolean): CommandCompletion {
  const client = useClient();
  const [options, setOptions] = useState<{ roomId: string; list: CommandOption[] } | null>(null);
  const [selected, setSelected] = useState(0);
  const [closedAt, setClosedAt] = useState<string | null>(null);
  const query = enabled ? commandQuery(text) : null;

  useEffect(() => {
    if (query === null) return;
    let live = true;
    void client.botCommands(roomId).then((list) => live && setOptions({ roomId, list }));
    return () => {
      live = false;
    };
  }, [client, roomId, query !== null]);

  // A new query starts at the first match.
  useEffect(() => setSelected(0), [query]);

  const list = options?.roomId === roomId ? options.list : [];
  const matches = query === null ? [] : matchCommands(list, query);
  const open = matches.length > 0 && closedAt !== text;
  return {
    open,
    matches,
    selected: Math.min(selected, matches.length - 1),
    move: (delta) => setSelected((s) => moveSelection(s, delta, matches.length)),
    close: () => setClosedAt(text),
  };
}
