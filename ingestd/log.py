"""structlog setup: JSON lines on stdout for journald, a console renderer on a terminal."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import orjson
import structlog


def setup(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Log to `stream` (stdout): JSON lines, or the console renderer on a terminal. Each line is
    written with its newline in one call (print() made two), so a line up to the pipe's atomic
    size never interleaves with another process's on journald's pipe."""
    stream = stream or sys.stdout
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if console
        else structlog.processors.JSONRenderer(serializer=_dumps)
    )
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
        logger_factory=structlog.WriteLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )


def _dumps(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode("utf-8")
