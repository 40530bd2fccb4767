"""NDJSON (JSON Lines) files: one JSON object per line, UTF-8.

Each line is parsed by orjson, which holds every rule the `.json` reader holds: no NaN or
Infinity, no lone surrogate escapes, valid UTF-8 only, the last of duplicate keys kept. orjson
reads integers up to 2^64 - 1 exactly but larger ones as doubles, so a line with a run of 19
digits is read again by the standard library's exact parser, for staging to refuse an integer
beyond signed 64 bits, as it does for `.json` files; a number orjson refuses as too large for a
double is read the same way, for staging to name it. Blank lines are skipped; `\\r\\n` and a
last line without a line end are fine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson

from ingestd.core import numbers
from ingestd.errors import InvalidInput
from ingestd.readers.base import ReadDetails, Reader, Record, SourceStream
from ingestd.readers.json.text import BOM, WHITESPACE

_BLOCK = 1 << 16


class NdjsonReader:
    file_type = "ndjson"
    fast: Reader | None = None

    def records(self, stream: SourceStream, details: ReadDetails) -> Iterator[Record]:
        count = 0
        for line, offset, text, long_digits in _records(stream):
            try:
                record = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                record = _exactly(text)
                if record is None:
                    raise _malformed(exc, line, offset, text, count) from None
            else:
                if long_digits and numbers.may_hold_long_integer(text):
                    record = json.loads(
                        text.decode()
                    )  # integers exactly; orjson vouched for the rest
            yield record
            count += 1
        if count == 0 and stream.consumed > 0:
            raise InvalidInput(
                "the file holds only blank lines: an empty export is not an empty catalog"
            )

    def where(self, fd: int, index: int) -> dict[str, Any]:
        for found, (line, offset, _, _) in enumerate(_records(SourceStream(fd))):
            if found == index:
                return {"record_index": index, "line": line, "byte_offset": offset}
        return {"record_index": index}


def _records(stream: SourceStream) -> Iterator[tuple[int, int, bytes, bool]]:
    """Each non-blank line: its number, the byte offset of its text, the text, and whether the
    block it was read in has a run of 19 digits."""
    for number, start, line, long_digits in _lines(stream):
        skip = len(BOM) if number == 1 and line.startswith(BOM) else 0
        text = line[skip:].strip(WHITESPACE)
        if text:
            lead = (
                skip
                if line[skip : skip + 1] == text[:1]
                else len(line) - len(line.lstrip(WHITESPACE))
            )
            yield number, start + lead, text, long_digits


def _lines(stream: SourceStream) -> Iterator[tuple[int, int, bytes, bool]]:
    """The file's lines (without "\n"), each with its number and byte offset, and whether the
    block of lines it came in has a run of 19 digits (checked once per block, not per line)."""
    number, offset = 1, 0
    pieces: list[bytes] = []
    while block := stream.read(_BLOCK):
        pieces.append(block)
        if b"\n" not in block:
            continue  # a long line grows as a list, not by copying
        text = b"".join(pieces)
        lines = text.split(b"\n")
        pieces = [lines.pop()]
        long_digits = numbers.may_hold_long_integer(text)
        for line in lines:
            yield number, offset, line, long_digits
            number += 1
            offset += len(line) + 1
    if any(pieces):
        yield number, offset, b"".join(pieces), True


def _exactly(text: bytes) -> Any:
    """The record as the standard library's exact parser reads it, or None if it refuses it
    too, or finds a lone surrogate escape (which it would take): then orjson's refusal stands.
    orjson refuses numbers too large for a double (1e999) even where a later duplicate key
    replaces them; read exactly, staging names such a number with its field, as for `.json`."""
    try:
        return json.loads(
            text.decode("utf-8"),  # as bytes, json.loads would take UTF-16 and UTF-32 too
            parse_float=Decimal,
            parse_constant=_refuse,
            object_pairs_hook=_no_surrogates,
        )
    except (ValueError, RecursionError):
        return None


def _refuse(constant: str) -> None:
    raise ValueError(constant)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    for key, value in pairs:
        if _has_surrogate(key) or _has_surrogate(value):
            raise ValueError("a lone surrogate")
    return dict(pairs)


def _has_surrogate(value: Any) -> bool:
    if type(value) is str:
        return _SURROGATE.search(value) is not None
    if type(value) is list:
        return any(_has_surrogate(item) for item in value)
    return False


def _malformed(
    exc: orjson.JSONDecodeError, line: int, offset: int, text: bytes, index: int
) -> InvalidInput:
    """orjson counts characters; the report counts bytes, from the start of the file."""
    try:
        at = len(text.decode("utf-8")[: exc.pos].encode("utf-8"))
        reason = exc.msg.replace("no low surrogate", "a lone UTF-16 surrogate escape")
    except UnicodeDecodeError as bad:
        at, reason = bad.start, f"the bytes are not UTF-8 ({bad.reason})"
    return InvalidInput(
        f"line {line}: malformed JSON: {reason}",
        record_index=index,
        line=line,
        byte_offset=offset + at,
    )
