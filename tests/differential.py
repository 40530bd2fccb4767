"""What a reader makes of a file, in a form two readers can be compared by: the records in
canonical form (so that -0.0 and 0 stay apart), or that it declined, or that it refused."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from ingestd.core.chunking import canonical
from ingestd.core.numbers import NumberOutOfRange
from ingestd.errors import InvalidInput
from ingestd.readers import CanonicalBatch, Declined, ReadDetails, Reader, SourceStream

DECLINED = "declined"
REJECTED = "rejected"


def outcome(reader: Reader, path: Path, details: ReadDetails | None = None) -> object:
    fd = os.open(path, os.O_RDONLY)
    try:
        found: list[bytes] = []
        for item in reader.records(SourceStream(fd), details or ReadDetails()):
            if isinstance(item, CanonicalBatch):
                found += item
            else:
                found.append(canonical(item))
        return found
    except Declined:
        return DECLINED
    except (InvalidInput, orjson.JSONEncodeError, NumberOutOfRange):
        return REJECTED
    finally:
        os.close(fd)
