import { createContext } from "preact";
import { useContext, useEffect, useLayoutEffect, useReducer, useRef, useState } from "preact/hooks";

import type { ChatClient } from "../lib/client";
import type { AppState } from "../lib/store";
import type { ConnectionState } from "../lib/stream";

export const ClientContext = createContext<ChatClient | null>(null);

export function useClient(): ChatClient {
  const client = useContext(ClientContext);
  if (!client) throw new Error("useClient outside <ClientContext.Provider>");
  return client;
}

/**
 * Subscribe to the part of the state a component shows. The selector must return
 * something from the state (or a primitive), not a fresh object: a change is detected by
 * identity.
 */
export function useAppState<T>(select: (state: AppState) => T): T {
  const client = useClient();
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const selected = select(client.store.state);
  const latest = useRef({ select, selected });
  latest.current = { select, selected };
  useEffect(
    () =>
      client.store.subscribe(() => {
        const { select: sel, selected: prev } = latest.current;
        if (!Object.is(sel(client.store.state), prev)) rerender(0);
      }),
    [client],
  );
  return selected;
}

export function useConnectionState(): ConnectionState {
  const client = useClient();
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  useEffect(() => client.onConnectionChange(() => rerender(0)), [client]);
  return client.stream.connectionState;
}

// Escape closes the innermost open dialog or panel only: handlers form a stack and the
// one registered last answers.
const escapeStack: { current: () => void }[] = [];

function onEscapeKey(e: KeyboardEvent): void {
  if (e.key !== "Escape" || e.defaultPrevented) return;
  const top = escapeStack[escapeStack.length - 1];
  if (!top) return;
  e.preventDefault();
  top.current();
}

/** Run `handler` on Escape while `active` (and nothing opened later is listening). */
export function useEscape(active: boolean, handler: () => void): void {
  const ref = useRef(handler);
  ref.current = handler;
  // Layout effect: listening from the same commit that shows the dialog, so an Escape
  // pressed right after it appears isn't lost (useEffect runs only after paint).
  useLayoutEffect(() => {
    if (!active) return;
    const entry = { get current() { return ref.current; } };
    if (escapeStack.length === 0) document.addEventListener("keydown", onEscapeKey);
    escapeStack.push(entry);
    return () => {
      const i = escapeStack.indexOf(entry);
      if (i >= 0) escapeStack.splice(i, 1);
      if (escapeStack.length === 0) document.removeEventListener("keydown", onEscapeKey);
    };
  }, [active]);
}

/** Show an error from a rejected promise to the user. */
export function errorText(err: unknown): string {
  if (err && typeof err === "object" && "describe" in err && typeof err.describe === "function") {
    return String(err.describe());
  }
  return "Something went wrong.";
}

/** What {@link useAction} gives a form or button that calls the server. */
export interface Action {
  /** A call is under way (disable the controls). */
  busy: boolean;
  /** The last call's failure, as text for the user; null when it worked or is running. */
  error: string | null;
  /** Show a problem found before calling (an empty field, say), or clear it. */
  setError: (text: string | null) => void;
  /**
   * Run `call`: busy while it runs, its failure as `error` (through `describe`, for
   * calls whose errors need their own words). True when it worked.
   */
  run: (call: () => Promise<unknown>, describe?: (err: unknown) => string) => Promise<boolean>;
}

/** The busy/error state every form that calls the server keeps, in one place. */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function run(call: () => Promise<unknown>, describe: (err: unknown) => string = errorText) {
    setBusy(true);
    setError(null);
    try {
      await call();
      return true;
    } catch (err) {
      setError(describe(err));
      return false;
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, setError, run };
}

/** What {@link useManagedList} gives a page that shows a list from the server and acts on it. */
export interface ManagedList<T> {
  /** The list as last loaded (or changed since); null until the first load answers. */
  items: T[] | null;
  /** Change the list in place (a row the server sent back), without loading it again. */
  setItems: (update: (items: T[] | null) => T[] | null) => void;
  /** Put `item` where the one with its id stands, or add it (at the end, or `first`). */
  put: (item: T, where?: "first" | "last") => void;
  /** A failed load or action, as text for the user. */
  error: string | null;
  setError: (text: string | null) => void;
  /** What the last action did, as text for the user. */
  notice: string | null;
  setNotice: (text: string | null) => void;
  /** Load the list again; a load that works clears the error. */
  reload: () => Promise<void>;
  /**
   * Run an action on the list: clear the error and notice, run `call`, show what it
   * returns as the notice (or its failure as the error), then load the list again (unless
   * `reload: false`, for calls that put the changed row themselves). The reload keeps the
   * action's error on screen.
   */
  act: (call: () => Promise<string | null | void>, options?: { reload?: boolean }) => Promise<void>;
}

/**
 * A list loaded with `load` (again whenever `deps` change), with the error/notice state
 * and the act-then-reload step every admin and settings list shares.
 */
export function useManagedList<T extends { id: unknown }>(load: () => Promise<T[]>, deps: ReadonlyArray<unknown> = []): ManagedList<T> {
  const [items, setItems] = useState<T[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const fetchList = (clearError: boolean) =>
    load().then(
      (list) => {
        setItems(list);
        if (clearError) setError(null);
      },
      (err) => setError(errorText(err)),
    );
  const reload = () => fetchList(true);
  useEffect(() => void reload(), deps);

  async function act(call: () => Promise<string | null | void>, options: { reload?: boolean } = {}) {
    setError(null);
    setNotice(null);
    try {
      setNotice((await call()) ?? null);
    } catch (err) {
      setError(errorText(err));
    }
    if (options.reload !== false) await fetchList(false);
  }

  function put(item: T, where: "first" | "last" = "last") {
    setItems((list) => {
      const current = list ?? [];
      if (current.some((x) => x.id === item.id)) return current.map((x) => (x.id === item.id ? item : x));
      return where === "first" ? [item, ...current] : [...current, item];
    });
  }

  return { items, setItems, put, error, setError, notice, setNotice, reload, act };
}
