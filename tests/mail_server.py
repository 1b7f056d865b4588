"""A real SMTP relay on loopback (aiosmtpd) for the tests that read the mail the
server sends: the ``inbox`` fixture (import it into the test module) and the settings
that point a server at it."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.harness import free_port

__all__ = ["Inbox", "inbox_fixture", "mail_settings", "smtp_server"]


@dataclass
class Inbox:
    """What the loopback SMTP server received (appended from aiosmtpd's own thread)."""

    delay: float = 0.0
    """Seconds the server takes to accept each message (a slow relay)."""
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        del server, session
        if self.delay:
            await asyncio.sleep(self.delay)
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(([str(r) for r in envelope.rcpt_tos], message))
        return "250 OK"

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"{len(self.messages)} of {count} mails arrived"
            await asyncio.sleep(0.02)


@contextlib.contextmanager
def smtp_server(inbox: Inbox, **kwargs: Any) -> Iterator[int]:
    """Run the relay for ``inbox`` on a free loopback port (``kwargs`` go to aiosmtpd's
    Controller, say for TLS); stop it on exit."""
    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, **kwargs)
    controller.start()
    try:
        yield inbox.port
    finally:
        controller.stop()


@pytest.fixture(name="inbox")
def inbox_fixture() -> Iterator[Inbox]:
    box = Inbox()
    with smtp_server(box):
        yield box


def mail_settings(inbox: Inbox, public_url: str) -> dict[str, Any]:
    """Server settings that send through the relay, with links to ``public_url``."""
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": inbox.port,
        "smtp_security": "none",
        "smtp_from": "Redoubt <chat@example.org>",
        "public_url": public_url,
    }
