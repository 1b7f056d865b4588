import { useState } from "preact/hooks";

import { absoluteTime } from "../../lib/time";
import { isLive, tokensApi, type AdminTokenView } from "../../lib/tokens";
import { useConfirm } from "../Confirm";
import { ErrorAlert, SuccessNote } from "../Feedback";
import { useManagedList } from "../hooks";
import { TokenTable } from "../settings/Tokens";
import { Listing } from "../Table";

/**
 * Admin → API tokens: every token of every account, with its owner, and revoke (a
 * leaked token, a departed colleague's script). Admins never see a token's secret: the
 * server keeps only its hash.
 */
const ownerName = (t: AdminTokenView) => t.owner?.username ?? "an unknown account";

export function AdminTokens() {
  const { items: tokens, error, notice, act } = useManagedList(tokensApi.adminList);
  const [showAll, setShowAll] = useState(false);
  const [confirmDialog, ask] = useConfirm();

  const revoke = (token: AdminTokenView) =>
    act(async () => {
      await tokensApi.adminRevoke(token.id);
      return `${ownerName(token)}'s token "${token.name}" was revoked.`;
    });

  const shown = tokens && (showAll ? tokens : tokens.filter(isLive));

  return (
    <section aria-labelledby="admin-tokens-title" data-testid="admin-tokens">
      {confirmDialog}
      <h2 id="admin-tokens-title">API tokens</h2>
      <p class="muted">
        Every account&rsquo;s tokens. Revoking one stops it at once; its owner can create another within what their
        role allows.
      </p>
      <label class="checkbox">
        <input type="checkbox" name="admin-tokens-all" checked={showAll} onChange={(e) => setShowAll(e.currentTarget.checked)} />{" "}
        Show expired and revoked tokens
      </label>
      <ErrorAlert text={error} testId="admin-tokens-error" />
      <SuccessNote text={notice} testId="admin-tokens-notice" />
      <Listing items={shown} error={error} empty="No tokens.">
        {(list) => (
          <TokenTable
            tokens={list}
            caption="Every API token"
            rowTestId="admin-token-row"
            owner={(t) => ownerName(t)}
            actions={(t) =>
              isLive(t) ? (
                <button
                  type="button"
                  class="danger"
                  data-testid="admin-token-revoke"
                  aria-label={`Revoke ${ownerName(t)}'s token ${t.name}`}
                  onClick={() =>
                    ask({
                      title: "Revoke token",
                      text: `Revoke ${ownerName(t)}'s token "${t.name}" (${t.hint}…, last used ${absoluteTime(t.last_used_at, "never")})? Anything using it stops working at once.`,
                      confirmLabel: "Revoke",
                      onConfirm: () => void revoke(t),
                    })
                  }
                >
                  Revoke
                </button>
              ) : null
            }
          />
        )}
      </Listing>
    </section>
  );
}
