"""Outgoing email over SMTP, with TLS verified by default; off when not configured.

The standard library's :mod:`smtplib` run in a worker thread, rather than aiosmtplib:
mail is rare here (password resets, security notices), a thread per message costs
nothing next to the network round trips, and it is one dependency less to keep
patched. The relay is reached with STARTTLS (refused when the server doesn't offer it,
so an active attacker can't strip it) or implicit TLS, always with the certificate and
host name verified; plain text only to a relay on the loopback interface (checked by
the settings).

Nothing here logs a message's body or subject: a password reset mail *is* a secret (its
link opens the account). Logs name the recipient's domain only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from typing_extensions import override

from redoubt.core.logging import get_logger
from redoubt.core.settings import Settings

__all__ = ["MailError", "Mailer", "SmtpConfig", "mailer_from_settings"]

log = get_logger(__name__)


class MailError(Exception):
    """A message could not be handed to the relay (the reason, without the message)."""


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    security: str
    """``starttls``, ``tls`` or ``none``."""
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    timeout: float = 15.0


class Mailer:
    """Sends plain-text mail; a disabled mailer (no SMTP configured) sends nothing.

    ``send`` waits for the relay's answer, so callers on a request path should run it
    in the background (see :class:`redoubt.core.background.BackgroundJobs`).
    """

    def __init__(self, config: SmtpConfig | None) -> None:
        self._config = config
        self._tls: ssl.SSLContext | None = None
        if config is not None and config.security != "none":
            # create_default_context: CERT_REQUIRED and check_hostname, TLS 1.2+.
            self._tls = ssl.create_default_context(
                cafile=str(config.ca_file) if config.ca_file is not None else None
            )
            self._tls.minimum_version = ssl.TLSVersion.TLSv1_2

    @override
    def __repr__(self) -> str:
        if self._config is None:
            return "Mailer(disabled)"
        return f"Mailer({self._config.host}:{self._config.port}, {self._config.security})"

    @property
    def enabled(self) -> bool:
        return self._config is not None

    async def send(self, to: str, subject: str, text: str) -> bool:
        """Send one message; False when mail is off (nothing sent).

        Raises:
            MailError: the relay refused or could not be reached.
        """
        config = self._config
        if config is None:
            return False
        message = EmailMessage()
        message["From"] = config.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        message["Message-ID"] = make_msgid(domain=_domain(config.sender) or None)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(text)
        domain = _domain(to)
        try:
            await asyncio.to_thread(self._send_sync, config, message)
        except (smtplib.SMTPException, OSError) as exc:
            # The exception's text may quote the relay's reply; its class is enough.
            log.warning("mail.failed", to_domain=domain, error=type(exc).__name__)
            raise MailError(type(exc).__name__) from None
        log.info("mail.sent", to_domain=domain)
        return True

    def _send_sync(self, config: SmtpConfig, message: EmailMessage) -> None:
        smtp: smtplib.SMTP
        if config.security == "tls":
            smtp = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=self._tls
            )
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        with smtp:
            smtp.ehlo()
            if config.security == "starttls":
                # Raises SMTPNotSupportedError when STARTTLS isn't offered: no fallback
                # to plain text.
                smtp.starttls(context=self._tls)
                smtp.ehlo()
            if config.username is not None and config.password is not None:
                smtp.login(config.username, config.password)
            smtp.send_message(message)


def _domain(address: str) -> str:
    _name, addr = parseaddr(address)
    return addr.rpartition("@")[2].lower()


def mailer_from_settings(settings: Settings) -> Mailer:
    """The mailer for these settings (disabled when ``smtp_host`` is unset)."""
    if settings.smtp_host is None or settings.smtp_from is None:
        return Mailer(None)
    return Mailer(
        SmtpConfig(
            host=settings.smtp_host,
            port=settings.effective_smtp_port,
            security=settings.smtp_security,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=(
                settings.smtp_password.get_secret_value()
                if settings.smtp_password is not None
                else None
            ),
            ca_file=settings.smtp_ca_file,
            timeout=float(settings.smtp_timeout_seconds),
        )
    )
