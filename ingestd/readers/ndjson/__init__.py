"""NDJSON (JSON Lines) files, one object per line, read with orjson."""

from ingestd.readers.ndjson.reader import NdjsonReader

__all__ = ["NdjsonReader"]
