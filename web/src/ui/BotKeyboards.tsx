import { useEffect, useState } from "preact/hooks";

import type { InlineButton, ReplyKeyboard } from "../lib/botMarkup";
import type { ShownAnswer } from "../lib/callbacks";
import { Dialog } from "./Dialog";
import { ErrorAlert } from "./Feedback";
import { errorText, useClient } from "./hooks";

/** How long a bot's answer toast stays. */
const TOAST_MS = 6_000;

/**
 * A bot's inline keyboard under its message (rows from lib/botMarkup.ts `inlineKeyboard`):
 * callback buttons tell the server which button (by position) was clicked; URL buttons
 * are plain http(s) links opening a new tab without an opener or referrer; anything else
 * (a `javascript:` URL, say) is a disabled button that does nothing. Labels are text.
 */
export function InlineKeyboard(props: { messageId: string; rows: InlineButton[][]; authorName: string }) {
  const client = useClient();
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function click(button: InlineButton) {
    const key = `${button.row}:${button.column}`;
    if (busy) return;
    setBusy(key);
    setError(null);
    try {
      await client.clickButton(props.messageId, button.row, button.column);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(null);
    }
  }

  return (
    <div class="inline-keyboard" role="group" aria-label={`Buttons from ${props.authorName}`} data-testid="inline-keyboard">
      {props.rows.map((row) => (
        <div class="keyboard-row" key={row[0]?.row}>
          {row.map((b) => {
            const key = `${b.row}:${b.column}`;
            if (b.kind === "url" && b.url) {
              return (
                <a
                  key={key}
                  class="button keyboard-button"
                  data-testid="inline-button-link"
                  data-row={b.row}
                  data-column={b.column}
                  href={b.url}
                  target="_blank"
                  rel="noopener noreferrer"
                  title={`${b.fullText} (${b.url})`}
                >
                  {b.text} <span aria-hidden="true">↗</span>
                </a>
              );
            }
            if (b.kind === "callback") {
              return (
                <button
                  key={key}
                  type="button"
                  class="keyboard-button"
                  data-testid="inline-button"
                  data-row={b.row}
                  data-column={b.column}
                  title={b.fullText}
                  aria-busy={busy === key}
                  disabled={busy !== null}
                  onClick={() => void click(b)}
                >
                  {b.text}
                </button>
              );
            }
            return (
              <button
                key={key}
                type="button"
                class="keyboard-button inert"
                data-testid="inline-button-inert"
                data-row={b.row}
                data-column={b.column}
                title="This button's link is not a web address and was disabled."
                disabled
              >
                {b.text}
              </button>
            );
          })}
        </div>
      ))}
      <ErrorAlert text={error} class="small" testId="inline-button-error" />
    </div>
  );
}

/**
 * The reply keyboard a bot sent the user, above the composer: a tap sends the label as
 * an ordinary message. Arrow keys move between the buttons (one tab stop, a toolbar).
 */
export function ReplyKeyboardBar(props: {
  keyboard: ReplyKeyboard;
  botName: string;
  disabled: boolean;
  onPick: (label: string) => void;
}) {
  function onKeyDown(e: KeyboardEvent) {
    if (!["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End"].includes(e.key)) return;
    const buttons = Array.from((e.currentTarget as HTMLElement).querySelectorAll<HTMLButtonElement>("button"));
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (buttons.length === 0) return;
    e.preventDefault();
    const next =
      e.key === "Home"
        ? 0
        : e.key === "End"
          ? buttons.length - 1
          : (at + (e.key === "ArrowLeft" || e.key === "ArrowUp" ? -1 : 1) + buttons.length) % buttons.length;
    buttons[next]?.focus();
  }

  let index = 0;
  return (
    <div
      class="reply-keyboard"
      role="toolbar"
      aria-label={`Replies suggested by ${props.botName}`}
      data-testid="reply-keyboard"
      onKeyDown={onKeyDown}
    >
      {props.keyboard.keyboard.map((row, r) => (
        <div class="keyboard-row" key={r}>
          {row.map((text, c) => {
            const first = index++ === 0;
            return (
              <button
                key={c}
                type="button"
                class="keyboard-button"
                data-testid="reply-button"
                tabIndex={first ? 0 : -1}
                disabled={props.disabled}
                onClick={() => props.onPick(text)}
              >
                {text}
              </button>
            );
          })}
        </div>
      ))}
    </div>
  );
}

/**
 * Bot answers to the user's button clicks: a short toast (polite, text only), or, when
 * the bot asked for an alert, a modal dialog the user dismisses.
 */
export function BotAnswers() {
  const client = useClient();
  const [toast, setToast] = useState<ShownAnswer | null>(null);
  const [alert, setAlert] = useState<ShownAnswer | null>(null);

  useEffect(
    () =>
      client.onCallbackAnswer((answer) => {
        if (answer.alert) setAlert(answer);
        else setToast(answer);
      }),
    [client],
  );

  useEffect(() => {
    if (!toast) return;
    const timer = setTimeout(() => setToast(null), TOAST_MS);
    return () => clearTimeout(timer);
  }, [toast]);

  return (
    <>
      <div class="toast-region" role="status" aria-live="polite">
        {toast && (
          <div class="toast" data-testid="bot-toast" key={toast.callbackId}>
            <span>{toast.text}</span>
            <button type="button" class="icon-button" aria-label="Dismiss" onClick={() => setToast(null)}>
              ×
            </button>
          </div>
        )}
      </div>
      {alert && (
        <Dialog title="Message from a bot" onClose={() => setAlert(null)} testId="bot-alert">
          <p class="bot-alert-text" data-testid="bot-alert-text">
            {alert.text}
          </p>
          <div class="dialog-actions">
            <button type="button" class="primary" data-testid="bot-alert-ok" onClick={() => setAlert(null)}>
              OK
            </button>
          </div>
        </Dialog>
      )}
    </>
  );
}
