"""File names as people and protocols can safely see them."""

from __future__ import annotations

import os
import unicodedata


def printable_name(name: str) -> str:
    """Escape bytes that are not UTF-8 and every control character, so a name stays on one line."""
    raw = os.fsencode(name)
    text = raw.decode("utf-8", errors="backslashreplace")
    if text.isprintable():  # no character in Unicode's C or Z categories but the space
        return text
    return "".join(_escape_char(c) for c in text)


def _escape_char(c: str) -> str:
    if c == "\\" or not unicodedata.category(c).startswith(("C", "Z")) or c == " ":
        return c
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
