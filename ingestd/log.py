"""structlog setup: under systemd, entries in the journal with fields of their own; otherwise JSON
lines on stdout, or a console rendering on a terminal.

When stdout is journald's stream (JOURNAL_STREAM names its device and inode), each entry goes
to journald by its native protocol instead: MESSAGE is the event with its fields as `key=value`,
PRIORITY follows the level (error 3, warning 4, info 6, debug 7), and every field is a journal
field of its own, upper-cased (INBOX, FILE, INGESTION_ID, CHUNK_NUMBER, REASON, ...), so that
`journalctl -u ingestd INGESTION_ID=...` finds one ingestion's lines. An entry journald does not
take (too large for a datagram) goes to stdout as a JSON line.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import struct
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import orjson
import structlog

JOURNAL_SOCKET = "/run/systemd/journal/socket"
PRIORITIES = {"critical": 2, "error": 3, "exception": 3, "warning": 4, "info": 6, "debug": 7}
_NOT_A_FIELD_CHARACTER = re.compile(r"[^A-Z0-9_]")


def setup(
    level: str = "info",
    fmt: str = "auto",
    stream: TextIO | None = None,
    environ: Mapping[str, str] = os.environ,
    journal_socket: str = JOURNAL_SOCKET,
) -> None:
    """Log to `stream` (stdout), or to the journal when that is where stdout goes. Each line is
    written with its newline in one call (print() made two), so a line up to the pipe's atomic
    size never interleaves with another process's."""
    stream = stream or sys.stdout
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if console
        else structlog.processors.JSONRenderer(serializer=_dumps)
    )
    if fmt == "auto" and goes_to_journal(stream, environ):
        renderer = JournalRenderer(Journal(journal_socket), renderer)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=_LinesFactory(stream),
        cache_logger_on_first_use=False,
    )


def goes_to_journal(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Whether `stream` is the journal stream systemd connected (JOURNAL_STREAM=dev:inode)."""
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not device.isdigit() or not inode.isdigit():
        return False
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (info.st_dev, info.st_ino) == (int(device), int(inode))


class Journal:
    """journald's native protocol: one datagram an entry, each field `KEY=value` or, for a value
    with a newline, `KEY`, a newline, its length as 64-bit little-endian, the value."""

    def __init__(self, path: str = JOURNAL_SOCKET) -> None:
        self._path = path
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def send(self, fields: Mapping[str, str]) -> bool:
        try:
            self._socket.sendto(encode(fields), self._path)
        except OSError:
            return False
        return True

    def close(self) -> None:
        self._socket.close()

    def __del__(self) -> None:  # it lives as long as the logging setup it belongs to
        self._socket.close()


def encode(fields: Mapping[str, str]) -> bytes:
    parts = []
    for key, value in fields.items():
        data = value.encode("utf-8", "backslashreplace")
        if b"\n" in data:
            parts.append(key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n")
        else:
            parts.append(key.encode() + b"=" + data + b"\n")
    return b"".join(parts)


class JournalRenderer:
    """The last processor under systemd: sends the entry to journald, and hands the logger
    nothing to write; if journald does not take it, the fallback rendering goes to stdout."""

    def __init__(self, journal: Journal, fallback: Any) -> None:
        self._journal = journal
        self._fallback = fallback

    def __call__(self, logger: Any, name: str, event: dict[str, Any]) -> str:
        if self._journal.send(journal_fields(event)):
            return ""
        rendered: str = self._fallback(logger, name, event)
        return rendered


def journal_fields(event: Mapping[str, Any]) -> dict[str, str]:
    level = str(event.get("level", "info"))
    message = str(event.get("event", ""))
    extra = {k: v for k, v in event.items() if k not in ("event", "level", "timestamp")}
    shown = " ".join(f"{key}={_text(value)}" for key, value in extra.items() if value is not None)
    fields = {
        "MESSAGE": f"{message} {shown}".rstrip(),
        "PRIORITY": str(PRIORITIES.get(level, 6)),
        "SYSLOG_IDENTIFIER": "ingestd",
        "INGESTD_EVENT": message,
    }
    for key, value in extra.items():
        if value is not None:
            fields.setdefault(_field_name(key), _text(value))
    return fields


def _field_name(key: str) -> str:
    """A journal field name: upper case, digits and underscores, not starting with one."""
    name = _NOT_A_FIELD_CHARACTER.sub("_", key.upper()).lstrip("_")
    return name if name and not name[0].isdigit() else f"F_{name}"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _dumps(value)


class _Lines:
    """structlog's logger: writes a rendered line with its newline in one call; nothing for an
    entry that went to the journal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def msg(self, message: str) -> None:
        if message:
            self._stream.write(message + "\n")
            self._stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


class _LinesFactory:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, *args: Any) -> _Lines:
        return _Lines(self._stream)


def _dumps(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode("utf-8")
