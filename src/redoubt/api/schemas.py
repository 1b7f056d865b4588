"""Request bodies: strict (no coercion), closed (``extra="forbid"``), bounded.

Enum-like fields are ``Literal`` strings: strict validation takes JSON strings for them
as they are, and rejects everything else. No string may hold a NUL character: nothing
legitimate needs one, and PostgreSQL refuses them (a 500 instead of a 400).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from typing_extensions import override

__all__ = [
    "AddMemberBody",
    "CreateRoomBody",
    "CreateUserBody",
    "EditMessageBody",
    "IdStr",
    "LoginBody",
    "MarkReadBody",
    "OpenDmBody",
    "PostMessageBody",
    "SetMemberRoleBody",
    "UpdateMeBody",
    "UpdateRoomBody",
    "UpdateUserBody",
]

IdStr = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,16}$")]
Username = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# repr=False keeps passwords out of str() as well as repr() (pydantic's __str__ lists fields).
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024), Field(repr=False)]
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


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

    @override
    def __repr__(self) -> str:
        return f"LoginBody(username={self.username!r})"


class CreateUserBody(_Body):
    username: Username
    password: Password
    display_name: DisplayName | None = None
    role: Literal["admin", "user", "guest"] = "user"

    @override
    def __repr__(self) -> str:
        return f"CreateUserBody(username={self.username!r}, role={self.role!r})"


class UpdateUserBody(_Body):
    role: Literal["admin", "user", "guest"]


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


class PostMessageBody(_Body):
    text: Annotated[str, StringConstraints(max_length=20_000)]
    thread_id: IdStr | None = None
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    file_ids: Annotated[list[IdStr], Field(max_length=10)] = []


class EditMessageBody(_Body):
    text: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class MarkReadBody(_Body):
    position: Annotated[int, Field(ge=0, le=2**62)]
