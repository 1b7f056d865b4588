import { useEffect, useState } from "preact/hooks";

import { navigate, roomPath, searchPath, SETTINGS_PATH, type Route } from "../lib/router";
import { sortedRooms } from "../lib/store";
import { Admin } from "./Admin";
import { BotAnswers } from "./BotKeyboards";
import { useAppState, useClient, useConnectionState, useEscape } from "./hooks";
import { RoomList } from "./RoomList";
import { RoomView } from "./RoomView";
import { Search } from "./Search";
import { Settings } from "./Settings";

const LAST_ROOM_KEY = "redoubt:last-room";

const CONNECTION_TEXT = { connecting: "Connecting…", live: "Connected", offline: "Offline, reconnecting…" };

export function Shell({ route }: { route: Route }) {
  const client = useClient();
  const me = useAppState((s) => s.me);
  const rooms = useAppState((s) => s.rooms);
  const connection = useConnectionState();
  const [drawerOpen, setDrawerOpen] = useState(false);
  const [query, setQuery] = useState(route.name === "search" ? route.q : "");

  const roomId = route.name === "room" ? route.roomId : null;

  // Remember the room to reopen at "/"; go there once the room list is known.
  useEffect(() => {
    if (roomId) localStorage.setItem(LAST_ROOM_KEY, roomId);
  }, [roomId]);
  useEffect(() => {
    if (route.name !== "home" || !rooms) return;
    const last = localStorage.getItem(LAST_ROOM_KEY);
    if (last && rooms.has(last)) navigate(roomPath(last), { replace: true });
  }, [route, rooms]);

  useEffect(() => setDrawerOpen(false), [route]);
  useEscape(drawerOpen, () => setDrawerOpen(false));

  // Alt+Up / Alt+Down: previous / next room in the sidebar's order.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!e.altKey || (e.key !== "ArrowUp" && e.key !== "ArrowDown")) return;
      const list = sortedRooms(client.store.state);
      if (list.length === 0) return;
      e.preventDefault();
      const at = list.findIndex((r) => r.room.id === roomId);
      const step = e.key === "ArrowUp" ? -1 : 1;
      const next = list[(at + step + list.length) % list.length] ?? list[0];
      if (next) navigate(roomPath(next.room.id));
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [client, roomId]);

  function search(e: Event) {
    e.preventDefault();
    if (query.trim()) navigate(searchPath(query.trim()));
  }

  if (!me) return null;

  return (
    <div class={`shell ${drawerOpen ? "drawer-open" : ""}`}>
      <header class="topbar">
        <button
          type="button"
          class="icon-button menu-button"
          aria-label="Rooms"
          aria-expanded={drawerOpen}
          aria-controls="sidebar"
          onClick={() => setDrawerOpen((o) => !o)}
        >
          ☰
        </button>
        <a class="brand" href="/">
          Redoubt
        </a>
        <form class="search-form" role="search" onSubmit={search}>
          <label for="search-input" class="visually-hidden">
            Search messages
          </label>
          <input
            id="search-input"
            name="search"
            type="search"
            placeholder="Search messages"
            value={query}
            onInput={(e) => setQuery(e.currentTarget.value)}
          />
        </form>
        <span class="connection" data-testid="connection" data-state={connection} role="status" aria-live="polite">
          <span class="dot" aria-hidden="true" />
          <span class="connection-text">{CONNECTION_TEXT[connection]}</span>
        </span>
        {me.role === "admin" && (
          <a href="/admin" class="admin-link" data-testid="admin-link">
            Admin
          </a>
        )}
        <span class="me" data-testid="me" title={`@${me.username}`}>
          {me.display_name}
        </span>
        <a
          href={SETTINGS_PATH}
          class="settings-link"
          data-testid="settings-link"
          aria-current={route.name === "settings" ? "page" : undefined}
        >
          Settings
        </a>
        <button type="button" data-testid="logout" onClick={() => void client.logout()}>
          Log out
        </button>
      </header>
      <nav id="sidebar" class="sidebar" aria-label="Rooms">
        <RoomList currentRoomId={roomId} />
      </nav>
      {drawerOpen && <div class="scrim" onClick={() => setDrawerOpen(false)} aria-hidden="true" />}
      <main class="content" id="main">
        <Content route={route} />
      </main>
      <BotAnswers />
    </div>
  );
}

function Content({ route }: { route: Route }) {
  switch (route.name) {
    case "room":
      return <RoomView key={route.roomId} roomId={route.roomId} messageId={route.messageId} />;
    case "search":
      return <Search q={route.q} />;
    case "admin":
      return <Admin section={route.section} />;
    case "settings":
      return <Settings />;
    case "not-found":
      return (
        <div class="empty-state">
          <h1>Not found</h1>
          <p>There is nothing at this address.</p>
        </div>
      );
    default:
      return (
        <div class="empty-state">
          <h1>Welcome</h1>
          <p>Pick a room on the left, create one, or browse the channels.</p>
        </div>
      );
  }
}
