import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import type { CommandOption } from "../lib/botCommands";
import { commandOptions } from "../lib/botCommands";
import { inlineKeyboard, replyKeyboard, type ActiveReplyKeyboard } from "../lib/botMarkup";
import type { ShownAnswer } from "../lib/callbacks";
import type { ChatClient } from "../lib/client";
import { BotAnswers, InlineKeyboard } from "./BotKeyboards";
import { Composer } from "./Composer";
import { ClientContext } from "./hooks";

let root: HTMLDivElement;
let answerListener: ((a: ShownAnswer) => void) | null;
const fake = {
  clickButton: vi.fn(async (_m: string, _r: number, _c: number) => undefined),
  botCommands: vi.fn(async (_room: string): Promise<CommandOption[]> => []),
  send: vi.fn(async (_room: string, _text: string) => undefined),
  typing: vi.fn(),
  onCallbackAnswer: (l: (a: ShownAnswer) => void) => {
    answerListener = l;
    return () => (answerListener = null);
  },
};
const client = fake as unknown as ChatClient;

beforeEach(() => {
  vi.clearAllMocks();
  answerListener = null;
  root = document.createElement("div");
  document.body.append(root);
});

afterEach(() => {
  act(() => render(null, root));
  root.remove();
  document.body.replaceChildren();
});

const settle = () => act(async () => void (await new Promise((r) => setTimeout(r, 0))));

function show(node: preact.ComponentChild) {
  act(() => render(<ClientContext.Provider value={client}>{node}</ClientContext.Provider>, root));
}

const HOSTILE = [
  [
    { text: "<img src=x onerror=alert(1)>", kind: "callback", url: null },
    { text: "Docs", kind: "url", url: "https://example.org/docs" },
  ],
  [
    { text: "Evil", kind: "url", url: "javascript:alert(1)" },
    { text: "Data", kind: "url", url: "data:text/html,<script>alert(1)</script>" },
  ],
];

describe("InlineKeyboard", () => {
  it("renders labels as text and only http(s) links", () => {
    show(<InlineKeyboard messageId="5" rows={inlineKeyboard(HOSTILE)} authorName="Bot" />);
    expect(root.querySelector("img, script, iframe")).toBeNull();
    const callback = root.querySelector<HTMLButtonElement>('[data-testid="inline-button"]');
    expect(callback?.textContent).toBe("<img src=x onerror=alert(1)>");
    const links = root.querySelectorAll<HTMLAnchorElement>("a");
    expect(links).toHaveLength(1);
    expect(links[0]?.getAttribute("href")).toBe("https://example.org/docs");
    expect(links[0]?.getAttribute("rel")).toBe("noopener noreferrer");
    expect(links[0]?.getAttribute("target")).toBe("_blank");
    const inert = root.querySelectorAll<HTMLButtonElement>('[data-testid="inline-button-inert"]');
    expect([...inert].map((b) => b.disabled)).toEqual([true, true]);
    expect(root.innerHTML).not.toContain("javascript:");
    expect(root.innerHTML).not.toContain("data:text");
  });

  it("names the clicked button by its position", async () => {
    show(<InlineKeyboard messageId="5" rows={inlineKeyboard(HOSTILE)} authorName="Bot" />);
    act(() => root.querySelector<HTMLButtonElement>('[data-testid="inline-button"]')?.click());
    await settle();
    expect(fake.clickButton).toHaveBeenCalledWith("5", 0, 0);
  });

  it("shows a refused click", async () => {
    fake.clickButton.mockRejectedValueOnce(new Error("nope"));
    show(<InlineKeyboard messageId="5" rows={inlineKeyboard(HOSTILE)} authorName="Bot" />);
    act(() => root.querySelector<HTMLButtonElement>('[data-testid="inline-button"]')?.click());
    await settle();
    expect(root.querySelector('[data-testid="inline-button-error"]')?.textContent).toBe("Something went wrong.");
  });
});

describe("BotAnswers", () => {
  it("shows a toast, or an alert dialog, as text", async () => {
    show(<BotAnswers />);
    act(() => answerListener?.({ callbackId: "c1", text: "<b>Saved</b>", alert: false }));
    expect(document.querySelector('[data-testid="bot-toast"]')?.textContent).toContain("<b>Saved</b>");
    expect(document.querySelector("b")).toBeNull();
    act(() => answerListener?.({ callbackId: "c2", text: "Are you sure?", alert: true }));
    const dialog = document.querySelector('[data-testid="bot-alert"]');
    expect(dialog?.getAttribute("role")).toBe("dialog");
    expect(dialog?.querySelector('[data-testid="bot-alert-text"]')?.textContent).toBe("Are you sure?");
    act(() => document.querySelector<HTMLButtonElement>('[data-testid="bot-alert-ok"]')?.click());
    expect(document.querySelector('[data-testid="bot-alert"]')).toBeNull();
  });
});

function keyboardOf(raw: unknown): ActiveReplyKeyboard {
  const keyboard = replyKeyboard(raw);
  if (!keyboard) throw new Error("bad keyboard");
  return { messageId: "7", authorId: "9", keyboard };
}

function composer(props: { replyKeyboard?: ActiveReplyKeyboard | null } = {}) {
  show(<Composer roomId="10" name="composer" sendTestId="send" label="Message" commands replyKeyboard={props.replyKeyboard ?? null} replyKeyboardFrom="Helper" />);
  return root.querySelector<HTMLTextAreaElement>("textarea[name=composer]") as HTMLTextAreaElement;
}

function type(textarea: HTMLTextAreaElement, value: string) {
  act(() => {
    textarea.value = value;
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  });
}

function key(textarea: HTMLTextAreaElement, name: string) {
  act(() => {
    textarea.dispatchEvent(new KeyboardEvent("keydown", { key: name, bubbles: true, cancelable: true }));
  });
}

describe("Composer reply keyboard", () => {
  it("sends a tapped label as a message and uses the placeholder", async () => {
    const textarea = composer({
      replyKeyboard: keyboardOf({ keyboard: [["Yes", "No"]], one_time: true, placeholder: "Answer me", force_reply: false, remove: false }),
    });
    expect(textarea.placeholder).toBe("Answer me");
    const buttons = root.querySelectorAll<HTMLButtonElement>('[data-testid="reply-button"]');
    expect([...buttons].map((b) => b.textContent)).toEqual(["Yes", "No"]);
    act(() => buttons[1]?.click());
    await settle();
    expect(fake.send).toHaveBeenCalledWith("10", "No", {});
  });

  it("focuses the composer for a force-reply", () => {
    const textarea = composer({
      replyKeyboard: keyboardOf({ keyboard: [], one_time: false, placeholder: null, force_reply: true, remove: false }),
    });
    expect(document.activeElement).toBe(textarea);
    expect(root.querySelector('[data-testid="force-reply"]')?.textContent).toBe("Replying to Helper");
    expect(root.querySelector('[data-testid="reply-keyboard"]')).toBeNull();
  });
});

describe("Composer command completion", () => {
  beforeEach(() => {
    fake.botCommands.mockResolvedValue(
      commandOptions([
        { bot_id: "9", bot_username: "helper", command: "start", description: "Start over" },
        { bot_id: "9", bot_username: "helper", command: "stats", description: "<i>Numbers</i>" },
        { bot_id: "9", bot_username: "helper", command: "help", description: "Help" },
      ]),
    );
  });

  it("lists matching commands as an accessible listbox and inserts the chosen one", async () => {
    const textarea = composer();
    type(textarea, "/st");
    await settle();
    const list = root.querySelector('[role="listbox"]');
    expect(list?.id).toBe(textarea.getAttribute("aria-controls"));
    const options = [...root.querySelectorAll('[role="option"]')];
    expect(options.map((o) => o.getAttribute("data-command"))).toEqual(["start", "stats"]);
    expect(options[0]?.getAttribute("aria-selected")).toBe("true");
    expect(textarea.getAttribute("aria-activedescendant")).toBe(options[0]?.id);
    expect(root.querySelector("i")).toBeNull();

    key(textarea, "ArrowDown");
    expect(root.querySelectorAll('[role="option"]')[1]?.getAttribute("aria-selected")).toBe("true");
    expect(textarea.getAttribute("aria-activedescendant")).toBe(root.querySelectorAll('[role="option"]')[1]?.id);
    key(textarea, "Enter");
    expect(textarea.value).toBe("/stats ");
    expect(root.querySelector('[role="listbox"]')).toBeNull();
    expect(fake.send).not.toHaveBeenCalled();
  });

  it("closes on Escape and stays out of text that isn't a command", async () => {
    const textarea = composer();
    type(textarea, "/");
    await settle();
    expect(root.querySelectorAll('[role="option"]')).toHaveLength(3);
    key(textarea, "Escape");
    expect(root.querySelector('[role="listbox"]')).toBeNull();
    type(textarea, "hello /st");
    await settle();
    expect(root.querySelector('[role="listbox"]')).toBeNull();
  });
});
