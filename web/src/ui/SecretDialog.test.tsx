import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import type { ShownSecret } from "../lib/secretOnce";
import { SecretDialog, useSecretOnce } from "./SecretDialog";

const SECRET = "rdt_pat_AAAAsecretBBBB_1234";
let root: HTMLDivElement;
let showIt: ((s: ShownSecret) => void) | null = null;

function Harness() {
  const [secret, show, close] = useSecretOnce();
  showIt = show;
  return <div>{secret && <SecretDialog secret={secret} onClose={close} />}</div>;
}

beforeEach(() => {
  root = document.createElement("div");
  document.body.append(root);
  act(() => render(<Harness />, root));
});

afterEach(() => {
  act(() => render(null, root));
  root.remove();
});

/** Everything the page shows: its text and every field's value. */
function onScreen(): string {
  const values = Array.from(document.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>("input, textarea"), (f) => f.value);
  return [document.body.textContent ?? "", ...values].join("\n");
}

const open = () =>
  act(() => showIt?.({ title: "Token created", items: [{ label: "Token", value: SECRET }], warning: "careful" }));

describe("SecretDialog", () => {
  it("shows the secret once in a read-only field, with the warning", () => {
    open();
    const field = document.querySelector<HTMLInputElement>('[data-testid="secret-value"]');
    expect(field?.value).toBe(SECRET);
    expect(field?.readOnly).toBe(true);
    expect(document.querySelector('[data-testid="secret-once-note"]')?.textContent).toMatch(/won.t see it again/);
    expect(document.querySelector('[data-testid="secret-warning"]')?.textContent).toBe("careful");
  });

  it.each([
    ["the done button", () => document.querySelector<HTMLButtonElement>('[data-testid="secret-done"]')?.click()],
    ["the close button", () => document.querySelector<HTMLButtonElement>(".dialog-close")?.click()],
    ["Escape", () => document.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }))],
  ])("forgets it when closed with %s", (_how, close) => {
    open();
    expect(onScreen()).toContain(SECRET);
    act(() => {
      close();
    });
    expect(document.querySelector('[data-testid="secret-dialog"]')).toBeNull();
    expect(onScreen()).not.toContain(SECRET);
    expect(localStorage.length + sessionStorage.length).toBe(0);
  });
});
