"""Request bodies: strict (no coercion), closed (``extra="forbid"``), bounded.

Enum-like fields are ``Literal`` strings: strict validation takes JSON strings for them
as they are, and rejects everything else. No string may hold a NUL character: nothing
legitimate needs one, and PostgreSQL refuses them (a 500 instead of a 400).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

__all__ = [
    "AddMemberBody",
    "ChangePasswordBody",
    "CreateBotBody",
    "CreateIncomingHookBody",
    "CreateOutgoingHookBody",
    "CreateRoomBody",
    "CreateTokenBody",
    "CreateUserBody",
    "DisableTwoFactorBody",
    "EditMessageBody",
    "IdStr",
    "LoginBody",
    "LoginTwoFactorBody",
    "MarkReadBody",
    "OpenDmBody",
    "PasswordResetBody",
    "PasswordResetConfirmBody",
    "PostMessageBody",
    "RotateBotTokenBody",
    "RotateTokenBody",
    "SecuritySettingsBody",
    "SetBotRoomsBody",
    "SetBotScopesBody",
    "SetEmailBody",
    "SetMemberRoleBody",
    "TwoFactorCodeBody",
    "UpdateIncomingHookBody",
    "UpdateMeBody",
    "UpdateOutgoingHookBody",
    "UpdateRoomBody",
    "UpdateUserBody",
]

IdStr = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,16}$")]
Username = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# repr=False keeps passwords out of str() as well as repr() (pydantic's __str__ lists fields).
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024), Field(repr=False)]
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
# Shape only; the actions normalise and check it (domain/emails.py). [password reset]
Email = Annotated[str, StringConstraints(min_length=3, max_length=254)]


# Username (64) or email address (254), whichever is longer.
UsernameOrEmail = Annotated[str, StringConstraints(min_length=1, max_length=254)]
# Our reset tokens are 58 characters; a little room so a wrong one is a 400 with the
# fixed message rather than a schema error that says less. A secret: never in reprs.
ResetToken = Annotated[str, StringConstraints(min_length=1, max_length=128), Field(repr=False)]


Networks = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=64)]], Field(max_length=20)
]
"""Client address ranges a token may be used from (CIDR, or one address)."""


class _Body(BaseModel):
    # hide_input_in_errors: a ValidationError that ends up in a log or traceback never
    # quotes what the client sent (a password that was one character too long, say).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, hide_input_in_errors=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and "\x00" in v for v in values):
            raise ValueError("must not contain NUL characters")
        return value


class LoginBody(_Body):
    username: Username
    password: Password
    mode: Literal["token", "cookie"] = "token"
    """``token``: the session token comes back in the body (scripts, apps). ``cookie``:
    browsers; the token goes only into an HttpOnly cookie, never to JavaScript."""


# A TOTP code ("123456") or a recovery code ("abcde-fghij"; dashes, spaces and case
# don't matter). Secrets, so never in reprs.
SecondFactorCode = Annotated[str, StringConstraints(min_length=1, max_length=32), Field(repr=False)]


class LoginTwoFactorBody(_Body):
    challenge: Annotated[str, StringConstraints(min_length=1, max_length=256), Field(repr=False)]
    """From the ``two_factor_required`` answer of ``POST /auth/login``."""
    code: SecondFactorCode
    """A TOTP code or an unused recovery code."""
    mode: Literal["token", "cookie"] = "token"
    """As for ``POST /auth/login``."""


class TwoFactorCodeBody(_Body):
    code: SecondFactorCode


class DisableTwoFactorBody(_Body):
    password: Password
    code: SecondFactorCode
    """A TOTP code or an unused recovery code."""


class CreateUserBody(_Body):
    username: Username
    password: Password
    display_name: DisplayName | None = None
    role: Literal["admin", "user", "guest"] = "user"
    email: Email | None = None
    """Where password reset links go; the user can change it later."""


class ChangePasswordBody(_Body):
    current_password: Password
    """Required although the caller is signed in: a session alone can't change it."""
    new_password: Password
    """Checked against the password policy (length, common passwords, the username)."""


class UpdateUserBody(_Body):
    role: Literal["admin", "user", "guest"]


class SecuritySettingsBody(_Body):
    require_2fa_roles: Annotated[
        list[Literal["admin", "user", "guest"]],
        Field(max_length=3, json_schema_extra={"uniqueItems": True}),
    ]
    """The roles that must use a second factor; empty: none."""

    @field_validator("require_2fa_roles", mode="after")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("must not list a role twice")
        return value


class UpdateMeBody(_Body):
    display_name: DisplayName


class CreateRoomBody(_Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    kind: Literal["channel", "private"]
    topic: Annotated[str, StringConstraints(max_length=512)] = ""


class UpdateRoomBody(_Body):
    topic: Annotated[str, StringConstraints(max_length=512)] | None = None
    archived: bool | None = None


class AddMemberBody(_Body):
    user_id: IdStr


class SetMemberRoleBody(_Body):
    role: Literal["owner", "moderator", "member"]


class OpenDmBody(_Body):
    user_ids: Annotated[list[IdStr], Field(min_length=1, max_length=8)]


class ButtonBody(_Body):
    """An inline button under a bot's message: exactly one of ``callback_data`` (1-64
    bytes, never shown to people; a click sends it to the bot) or ``url`` (http/https)."""

    text: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    callback_data: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None


Buttons = Annotated[list[Annotated[list[ButtonBody], Field(max_length=12)]], Field(max_length=100)]
"""Rows of inline buttons (at most 100 in all)."""


class PostMessageBody(_Body):
    text: Annotated[str, StringConstraints(max_length=20_000)]
    thread_id: IdStr | None = None
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    file_ids: Annotated[list[IdStr], Field(max_length=10)] = []
    buttons: Buttons | None = None
    """Bots only: an inline keyboard under the message."""


class SetButtonsBody(_Body):
    buttons: Buttons
    """The new keyboard of the bot's message; ``[]`` removes it."""


class AnswerCallbackBody(_Body):
    text: Annotated[str, StringConstraints(max_length=200)] | None = None
    """A short notice shown to the person who clicked."""
    show_alert: bool = False


class EditMessageBody(_Body):
    text: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class MarkReadBody(_Body):
    position: Annotated[int, Field(ge=0, le=2**62)]


class PasswordResetBody(_Body):
    username_or_email: UsernameOrEmail


class PasswordResetConfirmBody(_Body):
    token: ResetToken
    """From the link's fragment (``/reset#token=…``)."""
    new_password: Password
    """Checked against the password policy; a refused one leaves the link usable."""


class SetEmailBody(_Body):
    email: Email | None
    """The new address, or null to remove it (then no reset by mail)."""
    current_password: Password
    """Required: the address decides where reset links go."""


# --- API tokens ------------------------------------------------------- [integrations]

TokenName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ScopeName = Literal["messages:read", "messages:write", "rooms:manage", "users:read", "admin"]


BotScopeName = Literal["messages:read", "messages:write", "rooms:manage", "users:read"]
BotScopes = Annotated[list[BotScopeName], Field(min_length=1, max_length=4)]
"""A bot's scopes: any but ``admin`` (a bot never holds admin rights)."""


class CreateTokenBody(_Body):
    name: TokenName
    scopes: Annotated[list[ScopeName], Field(min_length=1, max_length=5)]
    room_ids: Annotated[list[IdStr], Field(max_length=100)] | None = None
    """Only these rooms (each one you can read); None: every room you can use."""
    networks: Networks | None = None
    """Allowed client address ranges (CIDR, or one address); None: any address."""
    expires_in_days: Annotated[int, Field(ge=0, le=100_000)] | None = None
    """None: the server's default; 0: never (only where the admin allows it)."""


class RotateTokenBody(_Body):
    grace_hours: Annotated[int, Field(ge=0, le=100_000)]
    """How long the old token keeps working beside the new one (0: it stops now)."""


# --- outgoing webhooks ------------------------------------------------ [integrations]

HookName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
HookUrl = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
"""http(s); checked against the egress policy (ports, no internal addresses)."""
HookEventName = Literal["message.posted", "member.joined", "member.left"]
HookRoomIds = Annotated[list[IdStr], Field(min_length=1, max_length=50)]
HookEvents = Annotated[list[HookEventName], Field(min_length=1, max_length=3)]
TriggerWords = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=32)]], Field(max_length=20)
]


class CreateOutgoingHookBody(_Body):
    name: HookName
    url: HookUrl
    room_ids: HookRoomIds
    """Channels or private groups you can see (not DMs)."""
    events: HookEvents
    trigger_words: TriggerWords = []
    """With any, ``message.posted`` fires only for messages whose first word is one of
    them (case ignored); empty: every message."""


class UpdateOutgoingHookBody(_Body):
    name: HookName | None = None
    url: HookUrl | None = None
    room_ids: HookRoomIds | None = None
    events: HookEvents | None = None
    trigger_words: TriggerWords | None = None
    enabled: bool | None = None
    """Enabling a hook that was disabled after failures sends its waiting deliveries."""


# --- incoming webhooks ------------------------------------------------ [integrations]

# https only, or "" for none (checked by the action: no javascript:, no http).
AvatarUrl = Annotated[str, StringConstraints(max_length=512)]
# A flag, not a secret; out of reprs only because its name says "token" (the secret
# hygiene test goes by field names).
LegacyFlag = Annotated[bool, Field(repr=False)]


class CreateIncomingHookBody(_Body):
    name: HookName
    """Shown as the author of the hook's messages (its bot account's display name)."""
    room_id: IdStr
    """The one room it posts into: a channel, or a private group you moderate."""
    avatar_url: AvatarUrl = ""
    legacy_url_token: LegacyFlag = False
    """Also accept unsigned requests with a token in the URL (for senders that can't
    sign). Weaker: the URL ends up in logs; flagged in the admin view and the doctor."""


class UpdateIncomingHookBody(_Body):
    name: HookName | None = None
    avatar_url: AvatarUrl | None = None
    enabled: bool | None = None
    legacy_url_token: Annotated[bool | None, Field(repr=False)] = None
    """``false`` ends legacy URL mode (its token stops working); ``true`` is refused
    (a URL token is shown only at creation and rotation)."""


# --- bot accounts ------------------------------------------------------------- [bots]

BotRoomIds = Annotated[list[IdStr], Field(max_length=100)]


class CreateOwnBotBody(_Body):
    """A user's own bot (``POST /bots``); the caller is its owner."""

    username: Username
    display_name: DisplayName | None = None
    description: Annotated[str, StringConstraints(max_length=512)] = ""
    room_ids: BotRoomIds = []
    """The rooms it may be added to (for a user's own bot: rooms they own or
    moderate); no others."""
    networks: Networks | None = None
    """Allowed client address ranges for its token (CIDR, or one address); None: any."""
    scopes: BotScopes = ["messages:read", "messages:write"]
    """What its token may do on the native REST API (never ``admin``)."""


class CreateBotBody(CreateOwnBotBody):
    """An admin's: the same, for an owner the admin names."""

    owner_id: IdStr
    """The user responsible for the bot (an active user or admin)."""


class BotSettingsBody(_Body):
    users_may_create_bots: bool
    """Whether users may create bots they own (existing ones keep working when off)."""
    max_bots_per_user: Annotated[int, Field(ge=0, le=1000)]
    """How many active bots one user may own through self-service."""


class RotateBotTokenBody(_Body):
    grace_hours: Annotated[int, Field(ge=0, le=100_000)] = 0
    """How long the current token keeps working beside the new one (0: it stops now)."""


class SetBotRoomsBody(_Body):
    room_ids: BotRoomIds


class SetBotScopesBody(_Body):
    scopes: BotScopes


class ClickButtonBody(_Body):
    """A click on a bot message's inline keyboard button, named by its position."""

    row: Annotated[int, Field(ge=0, le=99)]
    column: Annotated[int, Field(ge=0, le=99)]
