"""Readers: one folder per input format behind one small interface (base.py)."""

from ingestd.readers.base import (
    CanonicalRecord,
    Declined,
    ReadDetails,
    Reader,
    Record,
    Reread,
    SourceStream,
    chooser,
)

__all__ = [
    "CanonicalRecord",
    "Declined",
    "ReadDetails",
    "Reader",
    "Record",
    "Reread",
    "SourceStream",
    "chooser",
]
