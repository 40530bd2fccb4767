"""The JSON Schemas are valid draft 2020-12 schemas, accept what the sender emits and refuse
what it must never emit (every integration test also holds its traffic to them)."""

from __future__ import annotations

import orjson
import pytest
from jsonschema import Draft202012Validator

from ingestd import contract
from ingestd.core import protocol
from ingestd.core.journal import Range
from tests.contract.schemas import problems, request_problems

ID = "a" * 64
SOURCE = protocol.Source("products", "p.xlsx", "excel", "Sheet1")


@pytest.mark.parametrize("name", contract.SCHEMAS)
def test_each_schema_is_a_valid_draft_2020_12_schema(name):
    schema = contract.load(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def chunk() -> dict:
    sent = Range(30, 1, "b" * 64)
    return orjson.loads(protocol.chunk_body(ID, 3, sent, b'[{"sku":"A"}]', False, SOURCE))


def test_what_the_sender_emits_is_valid():
    assert request_problems(orjson.dumps(chunk())) == []
    completion = protocol.completion_body(ID, 4, 31, "c" * 64, SOURCE)
    assert request_problems(completion) == []
    empty = protocol.completion_body(ID, 0, 0, "c" * 64, protocol.Source("p", "e.json", "json"))
    assert request_problems(empty) == []


@pytest.mark.parametrize(
    "change",
    [
        {"checksum": "B" * 64},
        {"chunk_number": -1},
        {"chunk_id": f"{ID}:03"},
        {"records": []},
        {"records": [1]},
        {"is_last": "false"},
        {"record_offset": 1.5},
        {"source": {"inbox": "p", "file_name": "x", "file_type": "pdf"}},
        {"extra": True},
    ],
)
def test_a_chunk_the_sender_must_never_emit_is_invalid(change):
    assert problems("chunk", {**chunk(), **change})


def test_a_chunk_without_a_field_is_invalid():
    for field in chunk():
        broken = chunk()
        del broken[field]
        assert problems("chunk", broken), field


@pytest.mark.parametrize(
    ("answer", "valid"),
    [
        ({"ack": True}, True),
        ({"ack": True, "ingestion_id": ID, "chunk_number": 3, "duplicate": True}, True),
        ({"ack": True, "max_records": 100, "max_bytes": None}, True),
        ({"ack": False, "error": "Out-of-order chunk", "expected_chunk": 2}, True),
        ({"ack": False, "error": "Out-of-order chunk", "expected_chunk": None}, True),
        ({"ack": False}, False),
        ({"ack": "true"}, False),
        ({"ok": True}, False),
        ({"ack": True, "max_records": 0}, False),
    ],
)
def test_answers(answer, valid):
    assert (problems("answer", answer) == []) is valid
