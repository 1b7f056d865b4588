import { useEffect, useState } from "preact/hooks";

import { api } from "../../lib/api";
import { moderatedRooms, ownBotsApi, type OwnBotPolicy } from "../../lib/bots";
import type { RoomView } from "../../lib/types";
import { useBotDialogs } from "../admin/Bots";
import { ErrorAlert, SuccessNote } from "../Feedback";
import { errorText, useManagedList } from "../hooks";
import { DataTable, Listing } from "../Table";

/**
 * Settings → My bots: the bots the user owns (an admin may have made some for them)
 * and, when the server allows it, new ones, with rooms the user owns or moderates only.
 * A token is shown once (created, rotated) in the secret dialog and nowhere else. The
 * dialogs are Admin → Bots' own, talking to the `/bots` routes.
 */
export function MyBotsSection() {
  const [policy, setPolicy] = useState<OwnBotPolicy | null>(null);
  const { items: bots, put, error, notice, act, reload } = useManagedList(ownBotsApi.list);
  const [rooms, setRooms] = useState<RoomView[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const manager = useBotDialogs({ client: ownBotsApi, owners: null, rooms, put, act, reload, testIdPrefix: "mybot" });

  useEffect(() => {
    ownBotsApi.policy().then(setPolicy, (err) => setLoadError(errorText(err)));
    api.myRooms().then((mine) => setRooms(moderatedRooms(mine)), (err) => setLoadError(errorText(err)));
  }, []);

  // Shown when the server allows users' own bots, or the user owns some already (they
  // keep working, and their owner manages them, after an admin turns it off).
  const hasBots = (bots?.length ?? 0) > 0;
  if (!policy || (!policy.users_may_create_bots && !hasBots)) return null;
  const atLimit = policy.may_create && policy.users_may_create_bots && (bots?.length ?? 0) >= policy.max_bots_per_user;
  const roomName = (id: string) => rooms?.find((r) => r.id === id)?.name ?? `room ${id}`;


  return (
    <section class="settings-section" aria-labelledby="mybots-title" data-testid="mybots-section">
      <h2 id="mybots-title">My bots</h2>
      {manager.dialogs}
      <p class="muted">
        Bots you own use the Telegram-compatible Bot API with their token. A bot may only be added to rooms you own or
        moderate{policy.users_may_create_bots ? `; you may own up to ${policy.max_bots_per_user}.` : "."}
        {!policy.users_may_create_bots && " This server no longer lets users create bots; the ones you have keep working."}
      </p>
      {policy.may_create && policy.users_may_create_bots && (
        <button type="button" class="primary" data-testid="mybot-new" disabled={!rooms || atLimit} onClick={manager.startCreate}>
          New bot
        </button>
      )}
      <ErrorAlert text={error ?? loadError} testId="mybots-error" />
      <SuccessNote text={notice} testId="mybots-notice" />
      <Listing items={bots} error={error} empty="You have no bots." emptyTestId="mybots-empty">
        {(list) => (
          <DataTable caption="My bots" columns={["Bot", "Allowed rooms", "Token", "Actions"]}>
            {list.map((b) => (
              <tr key={b.id} data-testid="mybot-row" data-bot-id={b.id} data-username={b.username}>
                <td>
                  <strong data-testid="mybot-username">{b.username}</strong>
                  {b.quarantined_at && (
                    <span class="tag" data-testid="mybot-quarantined">
                      quarantined
                    </span>
                  )}
                  {b.description && <p class="muted small">{b.description}</p>}
                </td>
                <td data-testid="mybot-room-list">{b.room_ids.length === 0 ? "None" : b.room_ids.map(roomName).join(", ")}</td>
                <td>
                  <code data-testid="mybot-token-hint">{b.token_hint ?? "none"}</code>
                </td>
                <td>
                  {manager.actions(b)}
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </Listing>
    </section>
  );
}
