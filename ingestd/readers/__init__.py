"""Readers: one folder per input format behind one small interface (base.py)."""

from ingestd.readers.base import (
    CanonicalBatch,
    Declined,
    ReadDetails,
    Reader,
    Record,
    Reread,
    SourceStream,
    chooser,
)

__all__ = [
    "CanonicalBatch",
    "Declined",
    "ReadDetails",
    "Reader",
    "Record",
    "Reread",
    "SourceStream",
    "chooser",
]
