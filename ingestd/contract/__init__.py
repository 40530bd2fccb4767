"""The protocol's machine-readable contract, shipped with the package: the checksum's test
vectors and the JSON Schemas of the chunk, the completion and the receiver's answer."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

VECTORS = "protocol-vectors.json"
SCHEMAS = ("chunk.schema.json", "completion.schema.json", "answer.schema.json")


def load(name: str) -> Any:
    """One of the contract's JSON files, parsed."""
    return json.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))
