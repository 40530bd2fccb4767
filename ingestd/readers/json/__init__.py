"""JSON files: a reference reader (ijson) and a faster one for top-level arrays (orjson)."""

from ingestd.readers.json.reference import JsonReader

__all__ = ["JsonReader"]
