"""The bot token type and log redaction (T1: the token never reaches a log line)."""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from redoubt_bot.secrets import (
    BotToken,
    TokenError,
    TokenRedactor,
    install_redaction,
    redact,
    remove_redaction,
)

TOKEN = "4242:" + "A" * 20 + "b_-" + "9" * 20
OTHER = "77:" + "z" * 43  # shaped like a token, but not ours


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger with a handler formatting to a string, and the redactor on it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(TokenRedactor(BotToken(TOKEN, _source="test")))
    log = logging.getLogger("test_secrets.redaction")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield log, stream
    finally:
        log.removeHandler(handler)


def test_repr_and_str_are_masked() -> None:
    token = BotToken(TOKEN, _source="test")
    assert repr(token) == "BotToken('4242:****')"
    assert str(token) == "4242:****"
    assert f"{token}" == "4242:****"
    assert TOKEN not in f"{token!r} {token!s} {[token]} { ({'t': token}) }"
    assert token.reveal() == TOKEN
    assert token.bot_id == "4242"
    assert repr(BotToken("no-colon-secret", _source="test")) == "BotToken('****')"


def test_equality_and_hash_without_leaking() -> None:
    a = BotToken(TOKEN, _source="test")
    b = BotToken(TOKEN, _source="test")
    c = BotToken(OTHER, _source="test")
    assert a == b
    assert a != c
    assert hash(a) == hash(b)
    assert a != TOKEN  # never equal to the bare string: no accidental comparisons
    with pytest.raises(AttributeError):
        a._value = "x"


def test_literal_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="redoubt_bot.secrets"):
        token = BotToken(TOKEN)
    assert token.reveal() == TOKEN
    assert any("literal" in r.getMessage() for r in caplog.records)
    assert TOKEN not in caplog.text


def test_from_env(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("REDOUBT_BOT_TOKEN", f"  {TOKEN}\n")
    with caplog.at_level(logging.WARNING):
        token = BotToken.from_env()
    assert token.reveal() == TOKEN
    assert not caplog.records  # not a literal: no warning
    monkeypatch.setenv("OTHER_VAR", OTHER)
    assert BotToken.from_env("OTHER_VAR").reveal() == OTHER
    monkeypatch.delenv("REDOUBT_BOT_TOKEN")
    with pytest.raises(TokenError, match="REDOUBT_BOT_TOKEN"):
        BotToken.from_env()
    monkeypatch.setenv("REDOUBT_BOT_TOKEN", "two tokens")
    with pytest.raises(TokenError) as info:
        BotToken.from_env()
    assert "two" not in str(info.value)


def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    assert BotToken.from_file(path).reveal() == TOKEN
    path.write_text(TOKEN)
    assert BotToken.from_file(str(path)).reveal() == TOKEN
    path.write_text(TOKEN + "\n\n")  # only one newline is stripped: the rest is an error
    with pytest.raises(TokenError):
        BotToken.from_file(path)
    with pytest.raises(TokenError, match="Cannot read"):
        BotToken.from_file(tmp_path / "missing")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o620])
def test_from_file_refuses_open_permissions(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(mode)
    with pytest.raises(TokenError, match="chmod 600") as info:
        BotToken.from_file(path)
    assert TOKEN not in str(info.value)
    path.chmod(0o400)
    assert BotToken.from_file(path).reveal() == TOKEN


def test_redact_text() -> None:
    assert redact(f"token={TOKEN}.") == "token=4242:****."
    assert redact(f"a {OTHER} b") == "a 77:**** b"
    assert redact("custom-secret here", ("custom-secret",)) == "**** here"
    assert redact("12:30:45 nothing to hide") == "12:30:45 nothing to hide"
    # Cut short for display, as websockets logs frames.
    assert redact("'4242:AbCdEfGhIjKlMn...-abcde'") == "'4242:****'"


def test_redacts_message_and_args(logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = logger
    log.info(f"inline {TOKEN}")
    log.info("args %s and %r", TOKEN, OTHER)
    log.info("mapping %(t)s", {"t": TOKEN})
    log.info(BotToken(TOKEN, _source="test"))
    log.warning(ValueError(f"bad token {TOKEN}"))
    log.info("list arg %s", [TOKEN])
    log.info("extra", extra={"token_field": TOKEN})
    text = out.getvalue()
    assert TOKEN not in text
    assert OTHER not in text
    assert text.count("4242:****") == 6
    assert "77:****" in text


def test_redacts_exception_text_and_traceback(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, out = logger

    def fail(secret: str) -> None:
        raise RuntimeError(f"the server refused {secret}")

    try:
        fail(TOKEN)
    except RuntimeError:
        log.exception("request failed with %s", TOKEN)
    try:
        try:
            fail(OTHER)
        except RuntimeError as inner:
            raise KeyError(TOKEN) from inner
    except KeyError:
        log.exception("chained")
    log.info("with stack", stack_info=True)
    text = out.getvalue()
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: the server refused 4242:****" in text
    assert "KeyError: '4242:****'" in text
    assert TOKEN not in text
    assert OTHER not in text


def test_exc_info_is_cleared_so_handlers_dont_reformat() -> None:
    redactor = TokenRedactor(TOKEN)
    try:
        raise ValueError(TOKEN)
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "boom", (), exc_info=sys.exc_info()
        )
    assert redactor.filter(record)
    assert record.exc_info is None
    assert record.exc_text is not None
    assert "ValueError: 4242:****" in record.exc_text
    # Any formatter now uses the redacted text.
    assert TOKEN not in logging.Formatter().format(record)


def test_install_redaction_is_idempotent_and_covers_root_handlers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        first = install_redaction(BotToken(TOKEN, _source="test"))
        again = install_redaction(TOKEN)
        assert first is again
        assert root.filters.count(first) == 1
        assert handler.filters.count(first) == 1
        with caplog.at_level(logging.INFO):
            # A child logger's record reaches root's handlers (not root's own filters).
            logging.getLogger("some.library").warning("sent %s", TOKEN)
            logging.getLogger().warning("root %s", TOKEN)
        assert TOKEN not in stream.getvalue()
        assert "sent 4242:****" in stream.getvalue()
        assert TOKEN not in caplog.text
    finally:
        remove_redaction()
        root.removeHandler(handler)
    assert not any(isinstance(f, TokenRedactor) for f in root.filters)


def test_bad_tokens_refused() -> None:
    for bad in ["", "a b", "x\ny", "x" * 300]:
        with pytest.raises(TokenError):
            BotToken(bad, _source="test")
