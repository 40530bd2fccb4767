"""The checksum's test vectors hold for the sender's own code, and the copy in docs/ is the one
shipped in the package."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import orjson
import pytest

from ingestd import contract
from ingestd.core.chunking import ChunkLimits, checksum, records_array
from ingestd.fs.claim import ClaimFolder
from ingestd.readers.json import JsonReader
from ingestd.receiver.app import ReceiverApp
from tests.harness import stage_bytes

DOCUMENT = contract.load(contract.VECTORS)
VECTORS = {v["name"]: v for v in DOCUMENT["vectors"]}
DOCS = Path(__file__).parents[2] / "docs" / contract.VECTORS


def test_there_are_enough_vectors_and_the_docs_copy_is_the_shipped_one():
    assert len(VECTORS) == len(DOCUMENT["vectors"]) >= 60
    assert orjson.loads(DOCS.read_bytes()) == DOCUMENT
    names = " ".join(VECTORS)
    for needed in [
        "float 0.1",
        "float 1e-07",
        "float 1e+16",
        "float 1e+22",
        "float 123456789.123",
        "float -0.0",
        "float 5e-324",
        "float 1.7976931348623157e+308",
        "float 2.5",
        "float 100.0",
        f"integer {2**53}",
        f"integer {-(2**53)}",
        f"integer {2**63 - 1}",
        f"integer {-(2**63)}",
        "control characters",
        "DEL",
        "slash",
        "U+2028",
        "non-BMP",
        "combining mark",
        "keys: upper",
        "keys: non-ASCII",
        "keys: a prefix",
        "keys: numeric-looking",
        "nested",
        "empty object",
        "null, true, false",
    ]:
        assert needed in names, needed


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_a_vector_is_what_the_sender_stages_and_sends(tmp_path, name):
    """The records go through the JSON reader and staging as a file would; the chunk's bytes and
    checksum are the vector's."""
    vector = VECTORS[name]
    canonical = vector["canonical"].encode("utf-8")
    assert base64.b64decode(vector["canonical_base64"]) == canonical
    assert hashlib.sha256(canonical).hexdigest() == vector["sha256"]
    staged = stage_bytes(
        tmp_path, "f.json", vector["records"].encode(), JsonReader(), ChunkLimits(1000, 1 << 24)
    )
    claim = ClaimFolder(tmp_path, "f.json")
    claim.seal_index()
    with claim.chunks() as chunks:
        if staged.chunk_count == 0:
            assert canonical == b"[]" and records_array(b"") == canonical
            return
        span = chunks.span(0)
        sent = records_array(chunks.lines(span))
    assert staged.chunk_count == 1
    assert sent == canonical and span.checksum == checksum(sent) == vector["sha256"]


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_the_reference_receiver_agrees_with_every_vector(tmp_path, name):
    """The receiver recomputes the checksum from the records it decoded, as any receiver must."""
    vector = VECTORS[name]
    app = ReceiverApp(tmp_path)
    try:
        body = orjson.dumps(
            {
                "type": "chunk",
                "ingestion_id": "v" * 64,
                "chunk_number": 0,
                "chunk_id": "v:0",
                "checksum": vector["sha256"],
                "records": orjson.Fragment(vector["records"].encode()),
                "is_last": True,
                "record_offset": 0,
                "source": {"inbox": "ingestd-check", "file_name": "v.json", "file_type": "json"},
            }
        )
        digest = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
        status, answer = app.handle("POST", "/callback", {"content-digest": digest}, body)
        assert status == 200 and orjson.loads(answer)["ack"] is True, answer
    finally:
        app.close()
