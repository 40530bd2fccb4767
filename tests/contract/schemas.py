"""The shipped JSON Schemas as validators, for tests that hold payloads and answers to them."""

from __future__ import annotations

from typing import Any

import orjson
from jsonschema import Draft202012Validator

from ingestd import contract

VALIDATORS = {
    name.removesuffix(".schema.json"): Draft202012Validator(contract.load(name))
    for name in contract.SCHEMAS
}


def problems(kind: str, document: Any) -> list[str]:
    """Why `document` is not a valid `kind` ("chunk", "completion", "answer"), if it is not."""
    return [
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in VALIDATORS[kind].iter_errors(document)
    ]


def request_problems(body: bytes) -> list[str]:
    """A request body is a chunk or a completion, by its type."""
    document = orjson.loads(body)
    kind = document.get("type") if isinstance(document, dict) else None
    if kind not in ("chunk", "completion"):
        return [f"type is {kind!r}"]
    return problems(kind, document)
