import { useEffect, useState } from "preact/hooks";

import { api } from "../lib/api";
import { messagePath } from "../lib/router";
import { roomLabel, userLabel } from "../lib/store";
import type { MessageView } from "../lib/types";
import { ErrorAlert } from "./Feedback";
import { errorText, useAppState, useClient } from "./hooks";

const SNIPPET_CHARS = 300;
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function Search({ q }: { q: string }) {
  const client = useClient();
  const rooms = useAppState((s) => s.rooms);
  const users = useAppState((s) => s.users);
  const me = useAppState((s) => s.me);
  const [results, setResults] = useState<MessageView[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setResults(null);
    setError(null);
    if (!q.trim()) {
      setResults([]);
      return;
    }
    let cancelled = false;
    api.search(q).then(
      (found) => {
        if (cancelled) return;
        setResults(found);
        client.ensureUsers(found.map((m) => m.author_id));
      },
      (err) => !cancelled && setError(errorText(err)),
    );
    return () => {
      cancelled = true;
    };
  }, [client, q]);

  return (
    <section class="search-page pad" aria-labelledby="search-title">
      <h1 id="search-title">Search: {q}</h1>
      <ErrorAlert text={error} />
      {results === null ? (
        <p class="muted" role="status">
          Searching…
        </p>
      ) : results.length === 0 ? (
        <p class="muted" role="status">
          No messages found.
        </p>
      ) : (
        <ol class="search-results">
          {results.map((m) => {
            const room = rooms?.get(m.room_id)?.room;
            // A snippet as plain text: the full rendering is one click away.
            const snippet = m.text.length > SNIPPET_CHARS ? `${m.text.slice(0, SNIPPET_CHARS)}…` : m.text;
            return (
              <li key={m.id}>
                <a class="search-result" data-testid="search-result" href={messagePath(m.room_id, m.id)}>
                  <span class="search-meta">
                    <strong>{room ? roomLabel(room, { me, users }) : "room"}</strong> · {userLabel(m.author_id, { users })} ·{" "}
                    {dateFormat.format(new Date(m.created_at))}
                  </span>
                  <span class="search-snippet">{snippet}</span>
                </a>
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}
