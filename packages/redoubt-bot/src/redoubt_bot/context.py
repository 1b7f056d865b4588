"""What a handler gets besides the update: the API, per-user/per-chat/bot data, the
command's arguments, the resolved button payload, and reply helpers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from redoubt_bot.types import Button, Message, Update, UpdateKind

if TYPE_CHECKING:
    from redoubt_bot.application import Application
    from redoubt_bot.client import BotApi
    from redoubt_bot.jobs import Job, JobQueue

__all__ = ["Buttons", "Context"]

#: Rows of buttons, or a single row.
Buttons = Sequence[Sequence[Button]] | Sequence[Button]

_DEFAULT_TTL = timedelta(hours=1)


def _rows(buttons: Buttons | None) -> Sequence[Sequence[Button]] | None:
    if buttons is None:
        return None
    if buttons and isinstance(buttons[0], Button):
        return [list(buttons)]  # type: ignore[arg-type]
    return buttons  # type: ignore[return-value]


class Context:
    """Per-update (or per-job) context. Cheap to make: data dicts are looked up on first
    use, and only then marked for persisting."""

    __slots__ = (
        "_args",
        "answered",
        "app",
        "error",
        "incident_id",
        "job",
        "match",
        "payload",
        "room_id",
        "update",
        "user_id",
    )

    def __init__(  # noqa: PLR0917 - built on the hot path
        self,
        app: Application,
        update: Update | None,
        room_id: str | None,
        user_id: str | None,
        match: object = None,
        payload: Any = None,
    ) -> None:
        self.app = app
        self.update = update
        self.room_id = room_id
        self.user_id = user_id
        #: A filter's match (a :class:`re.Match` from ``filters.regex``), else ``None``.
        self.match: Any = match if match is not True else None
        #: The resolved payload of a clicked button (callback updates).
        self.payload: Any = payload
        #: The exception, in error handlers.
        self.error: BaseException | None = None
        #: The incident id, in error handlers.
        self.incident_id: str | None = None
        #: The job, in job callbacks.
        self.job: Job | None = None
        self.answered = False
        self._args: list[str] | None = None

    @property
    def api(self) -> BotApi:
        return self.app.api

    @property
    def bot_user_id(self) -> str:
        return self.app.bot_user_id

    @property
    def job_queue(self) -> JobQueue:
        return self.app.job_queue

    @property
    def args(self) -> list[str]:
        """The words after the command (``/order 3 blue`` -> ``["3", "blue"]``)."""
        if self._args is None:
            update = self.update
            msg = update.message if update is not None else None
            if msg is not None and update is not None and update.kind is UpdateKind.MESSAGE:
                self._args = msg.text.split()[1:] if msg.text.startswith("/") else []
            else:
                self._args = []
        return self._args

    @property
    def user_data(self) -> dict[str, Any]:
        """Data about the current user, persisted (JSON values only)."""
        if self.user_id is None:
            raise RuntimeError("no user in this context")
        return self.app.user_data_for(self.user_id)

    @property
    def chat_data(self) -> dict[str, Any]:
        """Data about the current room, persisted (JSON values only)."""
        if self.room_id is None:
            raise RuntimeError("no room in this context")
        return self.app.chat_data_for(self.room_id)

    @property
    def bot_data(self) -> dict[str, Any]:
        """Data shared by the whole bot, persisted (JSON values only)."""
        return self.app.bot_data_for()

    @property
    def thread_id(self) -> str | None:
        update = self.update
        if update is not None and update.message is not None:
            return update.message.thread_id
        return None

    async def reply(self, text: str, buttons: Buttons | None = None) -> Message:
        """Send ``text`` to the current room (in the current thread, if any)."""
        if self.room_id is None:
            raise RuntimeError("no room to reply to in this context")
        return await self.app.api.send_message(
            self.room_id, text, buttons=_rows(buttons), thread_id=self.thread_id
        )

    async def answer(self, text: str | None = None, *, show_alert: bool = False) -> None:
        """Answer the clicked button (once). The application answers for you, with no
        text, if the handler doesn't."""
        update = self.update
        if update is None or update.callback is None:
            raise RuntimeError("not a callback update")
        if self.answered:
            return
        self.answered = True
        await self.app.api.answer_callback(update.callback.id, text=text, show_alert=show_alert)

    def button(
        self,
        text: str,
        payload: Any,
        *,
        for_user: str | None = None,
        for_room: str | None = None,
        ttl: timedelta | float = _DEFAULT_TTL,
        single_use: bool = True,
    ) -> Button:
        """A callback button carrying an opaque token for ``payload`` (JSON-serialisable),
        clickable only by ``for_user`` (default: the current update's user), in
        ``for_room`` (default: the current room; send the button there), until ``ttl``
        passes, once unless ``single_use=False``."""
        user = for_user if for_user is not None else self.user_id
        if user is None:
            raise ValueError("button() needs for_user= outside an update with a user")
        token = self.app.callbacks.create(
            payload,
            user_id=str(user),
            room_id=for_room if for_room is not None else self.room_id,
            ttl=ttl,
            single_use=single_use,
        )
        return Button(text, data=token)
