/**
 * A secret the server shows once (an API token, a webhook signing secret, a legacy
 * webhook URL): held in memory while the dialog showing it is open, and dropped when it
 * closes. Never written to storage, the URL, the console or a list's state: the list
 * gets the token's or hook's view, which has no secret in it.
 */

export interface SecretItem {
  /** What it is ("Token", "Signing secret", "URL with its token"). */
  label: string;
  value: string;
}

export interface ShownSecret {
  /** The dialog's title ("Token created"). */
  title: string;
  /** One or more values (a hook's secret and its legacy URL). */
  items: SecretItem[];
  /** Something to say under the values (the legacy URL warning). */
  warning?: string;
}

export type SecretAction = { type: "show"; secret: ShownSecret } | { type: "close" };

/** The state of "the secret on screen": a new one replaces the old; closing forgets it. */
export function secretOnce(state: ShownSecret | null, action: SecretAction): ShownSecret | null {
  switch (action.type) {
    case "show":
      return action.secret.items.some((i) => i.value) ? action.secret : state;
    case "close":
      return null;
  }
}

/** The server's secret answer as items, skipping what it didn't send (no legacy URL). */
export function secretItems(parts: [label: string, value: string | null | undefined][]): SecretItem[] {
  return parts.filter((p): p is [string, string] => typeof p[1] === "string" && p[1] !== "").map(([label, value]) => ({ label, value }));
}
