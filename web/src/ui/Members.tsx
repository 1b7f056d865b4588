import { useEffect, useState } from "preact/hooks";

import { api } from "../lib/api";
import { userLabel } from "../lib/store";
import type { MemberRole, RoomView } from "../lib/types";
import { useConfirm } from "./Confirm";
import { ErrorAlert } from "./Feedback";
import { errorText, useAppState, useClient, useEscape } from "./hooks";
import { SidePanel } from "./SidePanel";

export function MembersPanel(props: { room: RoomView; role: MemberRole; onClose: () => void }) {
  const { room } = props;
  const client = useClient();
  const members = useAppState((s) => s.members.get(room.id));
  const users = useAppState((s) => s.users);
  const presence = useAppState((s) => s.presence);
  const me = useAppState((s) => s.me);
  const [invitee, setInvitee] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [confirmDialog, ask] = useConfirm();
  useEscape(true, props.onClose);

  const canModerate = props.role === "owner" || props.role === "moderator";
  // Anyone may invite into a channel; moderators into a private group; DMs are fixed.
  const canInvite = room.kind === "channel" || (room.kind === "private" && canModerate);

  useEffect(() => {
    api.members(room.id).then(
      (list) => {
        client.dispatch({ type: "members-loaded", roomId: room.id, members: list });
        client.ensureUsers(list.map((m) => m.user_id));
      },
      (err) => setError(errorText(err)),
    );
  }, [client, room.id, room.member_count]);

  async function invite(e: Event) {
    e.preventDefault();
    const name = invitee.trim().replace(/^@/, "");
    if (!name) return;
    setError(null);
    try {
      const [userId] = await client.findUserIds([name]);
      if (userId) await api.addMember(room.id, userId);
      setInvitee("");
    } catch (err) {
      setError(errorText(err));
    }
  }

  async function remove(userId: string) {
    setError(null);
    try {
      await api.removeMember(room.id, userId);
    } catch (err) {
      setError(errorText(err));
    }
  }

  return (
    <SidePanel title="Members" class="members-panel" testId="members-panel" onClose={props.onClose}>
      {confirmDialog}
      <ErrorAlert text={error} class="small" />
      {canInvite && !room.archived && (
        <form class="invite-form" onSubmit={invite}>
          <label for="invite-username">Invite by username</label>
          <div class="row">
            <input id="invite-username" name="invite-username" value={invitee} onInput={(e) => setInvitee(e.currentTarget.value)} />
            <button type="submit" data-testid="invite-submit">
              Invite
            </button>
          </div>
        </form>
      )}
      {members === undefined ? (
        <p class="muted">Loading…</p>
      ) : (
        <ul class="members">
          {members.map((m) => {
            const status = presence.get(m.user_id) ?? "offline";
            const name = userLabel(m.user_id, { users });
            return (
              <li key={m.user_id} class="member" data-testid="member" data-user-id={m.user_id}>
                <span class="presence" data-testid="presence" data-status={status} aria-label={status} title={status} />
                <span class="member-name">{name}</span>
                {m.role !== "member" && <span class="tag">{m.role}</span>}
                {canModerate && room.kind !== "dm" && m.user_id !== me?.id && (
                  <button
                    type="button"
                    class="small"
                    data-testid="member-remove"
                    aria-label={`Remove ${name}`}
                    onClick={() =>
                      ask({
                        title: "Remove member",
                        text: `Remove ${name} from this room?`,
                        confirmLabel: "Remove",
                        onConfirm: () => void remove(m.user_id),
                      })
                    }
                  >
                    Remove
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </SidePanel>
  );
}
