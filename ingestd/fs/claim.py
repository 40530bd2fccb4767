"""What ingestd writes beside a claimed file, and how to tell its receipts from data.

A claim folder holds one data file, `<name>`, and beside it only files named `<name><suffix>`:
the journal and the failure report (the receipts, which move to done/ and failed/ with the
file), the staged copy, the chunk index and the retry state (which never leave work/), and
the temporary names of their atomic writes. An admin who moves a finished folder's contents
back into the inbox moves the receipts too: a receipt is recognised by its name **and** its
content, and is never ingested.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson

JOURNAL = ".journal"
REPORT = ".error.json"
RETRY_STATE = ".retry.json"
STAGED = ".staged"
INDEX = ".index"
CHUNKS = ".chunks"
TEMPORARY = ".tmp"
SUFFIXES = (JOURNAL, REPORT, RETRY_STATE, STAGED, INDEX, CHUNKS)
_ALL_SUFFIXES = SUFFIXES + tuple(s + TEMPORARY for s in SUFFIXES)
_READ_AT_MOST = 1 << 20
_REPORT_KEYS = frozenset({"file", "reason", "error", "what_to_do"})
_RETRY_KEYS = frozenset({"reason", "attempt", "since", "next_try_at"})
_JOURNAL_KEYS = frozenset({"type", "ingestion_id", "journal_version", "claim_token"})


def has_receipt_name(name: str) -> bool:
    """Whether `name` ends like a receipt (a journal, a failure report, a retry state)."""
    return name.endswith((JOURNAL, REPORT, RETRY_STATE))


def receipt_kind(path: Path) -> str | None:
    """'journal', 'failure report' or 'retry state' if `path` is one of ingestd's own, by its
    name and its content; None for anything else (data, or a file that only looks like one)."""
    name = path.name
    if not has_receipt_name(name):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            head = os.read(fd, _READ_AT_MOST)
        finally:
            os.close(fd)
    except OSError:
        return None
    if name.endswith(JOURNAL):
        return "journal" if _keys(head.split(b"\n", 1)[0]) >= _JOURNAL_KEYS else None
    if name.endswith(REPORT):
        return "failure report" if _keys(head) >= _REPORT_KEYS else None
    return "retry state" if _keys(head) >= _RETRY_KEYS else None


def _keys(text: bytes) -> frozenset[str]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return frozenset()
    return frozenset(value) if isinstance(value, dict) else frozenset()


def data_name(entries: Iterable[str], is_receipt: Callable[[str], bool]) -> tuple[str, bool] | None:
    """The data file's name among a claim folder's entries, and whether it is still there; None
    if the entries are not one claim's. Every entry must be the data name or the data name with
    a suffix of ours. When one lone entry could be either (`x.json.journal` is a data file's
    name or a journal's), `is_receipt(entry)` decides."""
    names = sorted(set(entries))
    if not names:
        return None
    candidates = {n for n in names} | {_stem(n) for n in names if _stem(n)}
    fitting = sorted(d for d in candidates if all(_belongs(n, d) for n in names))
    if not fitting:
        return None
    present = [d for d in fitting if d in names]
    absent = [d for d in fitting if d not in names]
    if present and not (absent and is_receipt(present[0])):
        return present[0], True
    return (absent[0], False) if absent else None


def _stem(name: str) -> str:
    for suffix in _ALL_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return ""


def _belongs(entry: str, data: str) -> bool:
    return entry == data or (entry.startswith(data) and entry[len(data) :] in _ALL_SUFFIXES)
